//! `wflow serve`: the workflows at PATHS as a REST API, wire-compatible with
//! llama-agents-server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use wflow_core::{Runtime, RuntimeConfig};
use wflow_server::tenants::TenantsConfig;
use wflow_server::{
    self as server, AllowedHosts, AllowedOrigins, App, ConnectionLimits, HostConfig, PostgresStore,
    SqliteStore, Store,
};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// What to serve: components, workflow.toml files, guest folders, or
    /// folders of them (each child that is a workflow is served under its
    /// name); every tenant gets them. Optional with --tenants, whose
    /// tenants may deploy their own (`wflow deploy`).
    #[arg(required_unless_present = "tenants")]
    paths: Vec<PathBuf>,
    /// The address to listen on (loopback unless you say otherwise).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Where handlers persist: a SQLite file (restart the server on the
    /// same file and finished runs are still there, unfinished ones go on),
    /// or a PostgreSQL database (`postgres://user@host/db`, or key=value
    /// pairs) several `wflow serve` hosts share: each runs its own runs and
    /// answers for all, and a dead host's runs go on in another.
    #[arg(
        long,
        env = "WFLOW_DATABASE_URL",
        default_value = "wflow.db",
        conflicts_with = "in_memory"
    )]
    db: String,
    /// With a PostgreSQL --db: this host's id among those sharing it. A
    /// host started again under its id takes back its runs at once; by
    /// default each start is a new host, whose runs the others take once
    /// their leases expire.
    #[arg(long, value_name = "ID", env = "WFLOW_HOST_ID")]
    host_id: Option<String>,
    /// With a PostgreSQL --db: how long a host's hold on its runs lasts
    /// without renewal (renewed every third of it): how long a dead host's
    /// runs wait before another host resumes them.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_lease)]
    lease: std::time::Duration,
    /// With a PostgreSQL --db: the most runs this host holds; it claims no
    /// more of those other hosts left.
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_CAPACITY)]
    capacity: usize,
    /// Keep handlers in memory only (lost when the server stops).
    #[arg(long)]
    in_memory: bool,
    /// A web origin (`https://ui.example`) whose pages may call the API
    /// from a browser; repeat for more, `*` for any (the reference's
    /// default). None by default.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// A host name (`wflow.example.com`) requests may address the server
    /// by, besides loopback names; repeat for more, `*` for any. By default
    /// loopback names only on a loopback address, any name on others.
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_hosts: Vec<String>,
    /// Connections open at once; past it a connection is answered 503.
    #[arg(
        long,
        value_name = "N",
        default_value_t = ConnectionLimits::default().max_connections,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    max_connections: usize,
    /// How long a client may take to send a request's headers, or leave a
    /// kept-alive connection idle (`10s`, `500ms`).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_header_timeout)]
    header_timeout: std::time::Duration,
    /// How many finished handlers to keep in memory; older ones are read
    /// back from the database when asked for (forgotten with --in-memory).
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_KEEP_FINISHED)]
    keep_finished: usize,
    /// How much of a running handler's stored stream to keep in memory
    /// (`8MiB`); older events are read back from the database (finished
    /// handlers keep none). Ignored with --in-memory, where every event
    /// stays, bounded by each run's limits.max_stream_bytes.
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = parse_size)]
    log_memory: bytesize::ByteSize,
    /// How much streamed events all handlers together may hold in memory
    /// (`1GiB`): past it stored events leave memory, finished handlers are
    /// forgotten (read back from the database when asked for), and new runs
    /// are refused (503) until the logs shrink.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    log_memory_total: bytesize::ByteSize,
    /// The memory steps' linear memory and the events in flight inside runs
    /// may hold together (`4GiB`); past it a growth or an event is refused
    /// with HostMemoryExhausted. By default half of the memory the process
    /// may use (the machine's, or its cgroup's limit).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_budget: Option<bytesize::ByteSize>,
    /// The tenants file (tenants.toml): every request then needs one of its
    /// tokens (`Authorization: Bearer TOKEN`) and reaches only its tenant's
    /// handlers, within its quotas. See docs/SECURITY.md.
    #[arg(long, value_name = "FILE")]
    tenants: Option<PathBuf>,
    /// Serve an address other machines can reach without tokens: anyone
    /// who reaches it may run, answer and cancel every handler.
    #[arg(long)]
    insecure_no_auth: bool,
    /// How logs (the audit log included) are written to stderr: `text`, or
    /// `json` (one object per line, with the tenant and request id as
    /// fields).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// How `wflow serve` writes its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::with_config(RuntimeConfig {
        memory_budget: args
            .memory_budget
            .unwrap_or_else(wflow_core::default_memory_budget),
        // Guests on threads of their own: the requests' threads stay free.
        run_threads: std::thread::available_parallelism().ok(),
        ..RuntimeConfig::default()
    })?;
    let tenants = args
        .tenants
        .as_deref()
        .map(TenantsConfig::load)
        .transpose()?;
    if !args.bind.ip().is_loopback() && !args.insecure_no_auth {
        match &tenants {
            None => anyhow::bail!(
                "{} is reachable from other machines and no tenants file gives tokens: \
                 serve with --tenants FILE (see `wflow token`), or bind 127.0.0.1, or say \
                 --insecure-no-auth to let anyone who reaches it run, answer and cancel \
                 every handler",
                args.bind
            ),
            Some(config) if !config.has_tokens() => anyhow::bail!(
                "{} is reachable from other machines and the tenants file {} gives no token: \
                 add tokens (see `wflow token`), or say --insecure-no-auth",
                args.bind,
                args.tenants.as_deref().unwrap_or(Path::new("")).display()
            ),
            Some(_) => {}
        }
    }
    let workflows = server::discover(&runtime, &args.paths).await?;
    let mut app = App::new(workflows)?
        .with_allowed_origins(AllowedOrigins::from_args(&args.allow_origins))?
        .with_keep_finished(args.keep_finished)
        .with_log_memory(usize::try_from(args.log_memory.as_u64()).unwrap_or(usize::MAX))
        .with_log_memory_total(
            usize::try_from(args.log_memory_total.as_u64()).unwrap_or(usize::MAX),
        )
        .with_connection_limits(ConnectionLimits {
            max_connections: args.max_connections,
            header_read_timeout: args.header_timeout,
        });
    if let Some(hosts) = AllowedHosts::from_args(&args.allow_hosts) {
        app = app.with_allowed_hosts(hosts);
    }
    if let Some(file) = &args.tenants {
        // Tenants may deploy workflows of their own; an open server serves
        // only the operator's.
        app = app
            .with_tenants_file(file)?
            .with_deployments(runtime.clone())?;
    }
    if !args.in_memory {
        let store: Arc<dyn Store> = if is_database_url(&args.db) {
            let host = HostConfig {
                id: args
                    .host_id
                    .clone()
                    .unwrap_or_else(|| HostConfig::random().id),
                lease: args.lease,
            };
            eprintln!("wflow: host {} on a shared database", host.id);
            Arc::new(PostgresStore::connect_as(&args.db, host).await?)
        } else {
            Arc::new(SqliteStore::open(Path::new(&args.db))?)
        };
        app = app.with_capacity(args.capacity).with_store(store).await?;
    }
    let listener = server::bind(args.bind).await?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && !app.needs_tokens() {
        eprintln!(
            "wflow: warning: {addr} is reachable from other machines and wflow serve has no \
             authentication: anyone who reaches it can run, answer and cancel every handler"
        );
    }
    let served = match app.workflow_names() {
        [] => "tenants' deployments".to_string(),
        names => names.join(", "),
    };
    eprintln!("wflow: serving {served} on http://{addr}");
    server::serve(listener, app).await?;
    Ok(ExitCode::SUCCESS)
}

/// Whether `--db` names a PostgreSQL database rather than a SQLite file: a
/// `postgres://` or `postgresql://` URL, or key=value pairs (`host=...`).
fn is_database_url(db: &str) -> bool {
    db.starts_with("postgres://")
        || db.starts_with("postgresql://")
        || db
            .split_whitespace()
            .next()
            .and_then(|first| first.split_once('='))
            .is_some_and(|(key, _)| matches!(key, "host" | "hostaddr" | "port" | "user" | "dbname"))
}

/// Parses `--lease`: a duration (`10s`, `500ms`) of at least 100 ms.
fn parse_lease(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|err| format!("`{text}`: {err}"))?;
    if duration < std::time::Duration::from_millis(100) {
        return Err("the lease must be at least 100ms".into());
    }
    Ok(duration)
}

/// Parses a size (`8MiB`, `512KiB`, `1000000`).
fn parse_size(text: &str) -> Result<bytesize::ByteSize, String> {
    text.parse::<bytesize::ByteSize>()
        .map_err(|err| format!("`{text}`: {err} (write e.g. 8MiB)"))
}

/// Parses `--header-timeout`: a duration (`10s`, `500ms`) above zero.
fn parse_header_timeout(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|err| format!("`{text}`: {err}"))?;
    if duration.is_zero() {
        return Err("the header timeout must be above zero".into());
    }
    Ok(duration)
}
