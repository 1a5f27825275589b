//! `wflow serve`: workflows as a REST API, wire-compatible with the
//! reference server (`llama-agents-server`), so that its Python client works
//! against it unchanged. docs/SERVER-WIRE.md records the wire format.
//!
//! Every run belongs to a *handler* (`handler_id`). A task per handler
//! follows the run's event stream into the handler's event log, from which
//! any number of readers stream at once, each from its own cursor; when the
//! run ends the task records its status, error and result.
//!
//! - `api`: the routes; `service`: starting runs, finding and listing
//!   handlers behind them; `runs`: handlers in memory and their event logs.
//! - `follow`: a run followed into its handler and the store; `replay`:
//!   what a resumed run streams again, logged once; `progress`: checkpoints
//!   saved once the events they count are stored; `restore`: handlers
//!   brought back from the store on start.
//! - `envelope`, `stream`, `graph`, `discover`, `cors`, `guard`, `error`:
//!   events on the wire, SSE/NDJSON bodies, schemas, PATHS, CORS, the
//!   `Origin` and `Host` checks, API errors; `listen`: connections, within
//!   their limits (how many, how long a client may take to send headers);
//!   `allocator`: large blocks given back to the operating system.
//! - `tenants`: who calls (tokens), what each tenant may reach (its own
//!   workflows and handlers), its quotas and the audit log; `admin`: the
//!   admin API (tenants and tokens defined, the tenants file reloaded);
//!   `deploy`: tenants' deployments.

mod admin;
mod allocator;
mod api;
mod cluster;
mod cors;
mod deliveries;
mod deploy;
mod discover;
mod envelope;
mod error;
mod follow;
mod graph;
mod guard;
mod listen;
mod metrics;
mod progress;
mod replay;
mod restore;
mod runs;
mod service;
mod stream;
pub mod tenants;
#[cfg(test)]
mod tests;
mod trace;
mod ui;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tower_http::cors::CorsLayer;

use wflow_core::{Workflow, WorkflowError};

pub use allocator::give_back_large_allocations;
pub use cluster::DEFAULT_CAPACITY;
pub use cors::AllowedOrigins;
pub use discover::discover;
pub use guard::AllowedHosts;
pub use listen::ConnectionLimits;
pub use runs::{DEFAULT_KEEP_FINISHED, DEFAULT_LOG_MEMORY, DEFAULT_LOG_MEMORY_TOTAL};
pub use wflow_api::{Envelope, HandlerRecord, HandlerResult, Status};
pub use wflow_store::{HostConfig, PostgresStore, SqliteStore, Store, StoreError};

use self::runs::Handlers;
use self::tenants::{Access, TenantsConfig, TenantsError};

/// How long an SSE stream may stay quiet before a heartbeat comment, as the
/// reference's default.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(25);

/// The served workflows and their handlers.
///
/// The builder calls (`with_store`, `with_keep_finished`, ...) may come in
/// any order.
pub struct App {
    workflows: BTreeMap<String, Workflow>,
    /// Names in the order they were given.
    order: Vec<String>,
    /// Who may call, and the tenants' own workflows.
    access: Arc<Access>,
    /// What compiles deployments; `None`: the server takes none.
    runtime: Option<wflow_core::Runtime>,
    /// The tenants file's tenants and the admin API's: changed one at a
    /// time.
    registry: tokio::sync::Mutex<tenants::registry::Registry>,
    handlers: Arc<Handlers>,
    heartbeat: Duration,
    /// Where handlers persist, if anywhere.
    store: Option<Arc<dyn Store>>,
    /// The CORS layer for the web origins whose pages may call the API
    /// from a browser, if any may.
    cors: Option<CorsLayer>,
    /// The origins whose pages may change state (see `guard`).
    origins: AllowedOrigins,
    /// The names the `Host` header may give; `None` until chosen, then
    /// by the address served on (see [`serve`]).
    hosts: Option<AllowedHosts>,
    /// Open connections and header-read timeout.
    connections: ConnectionLimits,
    /// The bytes of stored events a running handler keeps in memory when
    /// there is a store.
    log_memory: usize,
    /// With a store several hosts share: the most runs this host holds.
    capacity: usize,
    /// The readers of runs other hosts hold.
    watchers: Arc<cluster::Watchers>,
    /// Held while claimed runs are brought back, and while the inbox is
    /// taken (see `cluster`).
    claiming: tokio::sync::Mutex<()>,
    /// What the cluster's background tasks have to do.
    due: cluster::Due,
    /// What `GET /metrics` shows.
    metrics: Arc<metrics::Metrics>,
}

impl App {
    /// An app serving `workflows` under their names. Two workflows with one
    /// name are an error naming it.
    pub fn new(workflows: Vec<Workflow>) -> Result<Self, WorkflowError> {
        let mut map = BTreeMap::new();
        let mut order = Vec::new();
        let access = Arc::new(Access::open(&workflows));
        for workflow in workflows {
            let name = workflow.name().to_string();
            if map.insert(name.clone(), workflow).is_some() {
                return Err(WorkflowError::Configuration(format!(
                    "two workflows are named `{name}`: give one another name in its workflow.toml"
                )));
            }
            order.push(name);
        }
        Ok(Self {
            workflows: map,
            order,
            access,
            runtime: None,
            registry: tokio::sync::Mutex::default(),
            handlers: Arc::default(),
            heartbeat: DEFAULT_HEARTBEAT,
            store: None,
            cors: None,
            origins: AllowedOrigins::None,
            hosts: None,
            connections: ConnectionLimits::default(),
            log_memory: DEFAULT_LOG_MEMORY,
            capacity: DEFAULT_CAPACITY,
            watchers: Arc::default(),
            claiming: tokio::sync::Mutex::default(),
            due: cluster::Due::default(),
            metrics: Arc::default(),
        })
    }

    /// The same app serving the tenants of `config`: every request but
    /// `/health` and `/openapi.json` needs one of their tokens, and reaches
    /// only its tenant's handlers and its tenant's own copies of the
    /// workflows (within the tenant's limits; instances never shared with
    /// another tenant). Before `with_store`, so that restored handlers find
    /// their tenants: after it, an error.
    pub fn with_tenants(mut self, config: &TenantsConfig) -> Result<Self, WorkflowError> {
        if self.store.is_some() {
            return Err(WorkflowError::Configuration(
                "App::with_tenants must come before App::with_store".into(),
            ));
        }
        let workflows = self.served_workflows();
        self.access = Arc::new(Access::tokens(config, &workflows));
        *self.registry.get_mut() = tenants::registry::Registry::new(None, config.clone());
        Ok(self)
    }

    /// The same app taking deployments (`POST /deployments`), compiled in
    /// `runtime`. Before `with_store`, so that stored deployments are
    /// served again: after it, an error.
    pub fn with_deployments(mut self, runtime: wflow_core::Runtime) -> Result<Self, WorkflowError> {
        if self.store.is_some() {
            return Err(WorkflowError::Configuration(
                "App::with_deployments must come before App::with_store".into(),
            ));
        }
        self.runtime = Some(runtime);
        Ok(self)
    }

    /// The same app serving the tenants of the file at `path` (as
    /// [`App::with_tenants`]), which [`App::reload_tenants`] (`POST
    /// /admin/reload` with an admin token, or SIGHUP to `wflow serve`)
    /// reads again.
    pub fn with_tenants_file(mut self, path: &std::path::Path) -> Result<Self, TenantsError> {
        let config = TenantsConfig::load(path)?;
        self = self.with_tenants(&config)?;
        self.registry.get_mut().file = Some(path.to_path_buf());
        Ok(self)
    }

    /// The operator's workflows, in the order given: what each tenant gets
    /// its own copies of.
    fn served_workflows(&self) -> Vec<Workflow> {
        self.order
            .iter()
            .filter_map(|name| self.workflows.get(name).cloned())
            .collect()
    }

    /// Whether requests need a token (the app serves tenants).
    pub fn needs_tokens(&self) -> bool {
        self.access.needs_tokens()
    }

    /// The same app keeping its handlers in `store`, with the handlers
    /// stored there restored: finished ones as they ended, unfinished ones
    /// resumed from their last checkpoint (or started over from their start
    /// event when they had none), waiting ones waiting again. Must be
    /// called within a tokio runtime.
    pub async fn with_store(mut self, store: Arc<dyn Store>) -> Result<Self, StoreError> {
        self.handlers.spill_past(self.log_memory);
        self.restore_from(store).await?;
        Ok(self)
    }

    /// The same app keeping, with a store, at most `bytes` of each running
    /// handler's stored events in memory (default 8 MiB; finished handlers
    /// keep none): readers page through older events from the store.
    /// Without a store every event stays in memory, bounded by each run's
    /// `limits.max_stream_bytes`.
    pub fn with_log_memory(mut self, bytes: usize) -> Self {
        self.log_memory = bytes;
        if self.store.is_some() {
            self.handlers.spill_past(bytes);
        }
        self
    }

    /// The same app holding at most about `bytes` of streamed events in
    /// memory over all its handlers (default 1 GiB): past it, stored events
    /// leave memory, finished handlers are forgotten (oldest first; with a
    /// store they are read back when asked for), and new runs are refused
    /// with 503 until the logs shrink.
    pub fn with_log_memory_total(self, bytes: usize) -> Self {
        self.handlers.hold_at_most(bytes);
        self
    }

    /// The same app answering browsers from `origins` (CORS); an origin
    /// that is no valid header value is an error naming it.
    pub fn with_allowed_origins(mut self, origins: AllowedOrigins) -> Result<Self, WorkflowError> {
        self.cors = origins.layer()?;
        self.origins = origins;
        Ok(self)
    }

    /// The same app answering only requests whose `Host` header `hosts`
    /// allows (against DNS rebinding). By default [`serve`] allows loopback
    /// names on a loopback address and any name on others.
    pub fn with_allowed_hosts(mut self, hosts: AllowedHosts) -> Self {
        self.hosts = Some(hosts);
        self
    }

    /// The same app serving within `limits` (open connections, the time a
    /// client may take to send its headers or sit idle).
    pub fn with_connection_limits(mut self, limits: ConnectionLimits) -> Self {
        self.connections = limits;
        self
    }

    /// The same app keeping at most `keep` finished handlers in memory
    /// (running ones are always kept): older ones are read back from the
    /// store when asked for, or forgotten without one, as the reference's
    /// `max_completed` (default 1,000). Before or after `with_store`: the
    /// handlers already there stay.
    pub fn with_keep_finished(self, keep: usize) -> Self {
        self.handlers.keep_finished(keep);
        self
    }

    /// The same app holding at most `runs` runs at once when its store is
    /// shared with other hosts (default 1,000): it claims no more of the
    /// runs other hosts left. Before `with_store`, which claims the first.
    pub fn with_capacity(mut self, runs: usize) -> Self {
        self.capacity = runs;
        self
    }

    /// The same app with another heartbeat interval for SSE streams.
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// The runtime the served workflows (and deployments) run on.
    pub(crate) fn runtime(&self) -> Option<&wflow_core::Runtime> {
        self.runtime
            .as_ref()
            .or_else(|| self.workflows.values().next().map(Workflow::runtime))
    }

    /// The served workflows' names, in the order given.
    pub fn workflow_names(&self) -> &[String] {
        &self.order
    }
}

/// The API's routes over `app`.
pub fn router(app: Arc<App>) -> Router {
    let cors = app.cors.clone();
    let guard = Arc::new(guard::Guard {
        hosts: app.hosts.clone().unwrap_or_default(),
        origins: app.origins.clone(),
    });
    let access = app.access.clone();
    // The largest upload any tenant may make, and room for the multipart
    // framing: each tenant's own quota is checked as the parts are read.
    let upload_limit = access
        .tenants()
        .iter()
        .map(|tenant| tenant.quotas().max_deployment_bytes)
        .max()
        .unwrap_or(0)
        .saturating_add(64 * 1024);
    let upload_limit = usize::try_from(upload_limit).unwrap_or(usize::MAX);
    let routes = Router::new()
        .route("/", get(ui::page))
        .route("/ui/app.js", get(ui::script))
        .route("/ui/app.css", get(ui::style))
        .route("/health", get(api::health))
        .route("/workflows", get(api::list_workflows))
        .route("/workflows/{name}/run", post(api::run))
        .route("/workflows/{name}/run-nowait", post(api::run_nowait))
        .route("/workflows/{name}/schema", get(api::workflow_schema))
        .route("/workflows/{name}/events", get(api::workflow_events))
        .route(
            "/workflows/{name}/representation",
            get(api::workflow_representation),
        )
        .route("/workflows/{name}/graph.svg", get(api::workflow_graph))
        .route("/results/{handler_id}", get(api::get_result))
        .route(
            "/events/{handler_id}",
            get(api::stream_events).post(api::send_event),
        )
        .route("/handlers", get(api::list_handlers))
        .route("/handlers/{handler_id}", get(api::get_handler))
        .route("/handlers/{handler_id}/state", get(api::get_state))
        .route("/handlers/{handler_id}/cancel", post(api::cancel_handler))
        .route("/openapi.json", get(api::openapi))
        .route("/usage", get(api::usage))
        .route("/metrics", get(api::metrics))
        .route("/admin/reload", post(admin::reload))
        .route("/admin/tenants", get(admin::list_tenants))
        .route(
            "/admin/tenants/{name}",
            get(admin::get_tenant)
                .put(admin::put_tenant)
                .delete(admin::delete_tenant),
        )
        .route("/admin/tenants/{name}/tokens", post(admin::create_token))
        .route(
            "/admin/tenants/{name}/tokens/{token}",
            axum::routing::delete(admin::revoke_token),
        )
        .route(
            "/deployments",
            get(deploy::list)
                .post(deploy::deploy)
                .layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/deployments/{name}/{version}",
            axum::routing::delete(deploy::delete),
        )
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .with_state(app)
        .layer(axum::middleware::from_fn_with_state(
            access,
            tenants::auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
        .layer(axum::middleware::from_fn(error::json_errors));
    let routes = match cors {
        Some(cors) => routes.layer(cors),
        None => routes,
    };
    // Outermost: every request is traced, refused ones too.
    routes.layer(axum::middleware::from_fn(trace::http_span))
}

/// Serves `app` on `listener` until the process is interrupted (Ctrl-C).
pub async fn serve(listener: tokio::net::TcpListener, app: App) -> std::io::Result<()> {
    serve_until(listener, app, async {
        // Without a signal handler, serve until the process is killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await
}

/// Serves `app` on `listener` until `stop` completes, then lets the
/// requests in flight finish: when this returns, the app (and its store)
/// is dropped unless runs still hold it.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    mut app: App,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if app.hosts.is_none() {
        let loopback = listener.local_addr()?.ip().is_loopback();
        app.hosts = Some(if loopback {
            AllowedHosts::Loopback
        } else {
            AllowedHosts::Any
        });
    }
    let limits = app.connections;
    let has_tenants_file = app.registry.get_mut().file.is_some();
    let app = Arc::new(app);
    if has_tenants_file {
        tokio::spawn(reload_on_hangup(Arc::downgrade(&app)));
    }
    cluster::start(&app);
    let store = app.store.clone();
    listen::serve_connections(listener, router(app), limits, stop).await?;
    if let Some(cluster) = store.as_deref().and_then(|store| store.cluster()) {
        // Stopping: the other hosts take this one's runs at once, rather
        // than once their leases expire.
        if let Err(err) = cluster.release_all().await {
            tracing::error!("{err}");
        }
    }
    Ok(())
}

/// Reloads the tenants file each time the process gets SIGHUP, while the
/// app lives.
async fn reload_on_hangup(app: std::sync::Weak<App>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: reload the tenants file with POST /admin/reload");
        return;
    };
    while hangups.recv().await.is_some() {
        let Some(app) = app.upgrade() else {
            return;
        };
        match app.reload_tenants().await {
            Ok(reloaded) => tenants::audit::admin_action(
                "SIGHUP",
                &format!("reloaded the tenants file: {reloaded:?}"),
            ),
            Err(err) => tracing::error!("the tenants file was not reloaded: {err}"),
        }
    }
}

/// Binds `addr`, naming it in the error.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, WorkflowError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|err| WorkflowError::io(format!("cannot listen on {addr}"), err))
}
