//! `wflow serve`: the workflows at PATHS as a REST API, wire-compatible with
//! llama-agents-server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use wflow_core::Runtime;
use wflow_server::{self as server, AllowedOrigins, App, SqliteStore};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// What to serve: components, workflow.toml files, guest folders, or
    /// folders of them (each child that is a workflow is served under its
    /// name).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The address to listen on (loopback unless you say otherwise).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// The SQLite file handlers persist in: restart the server on the same
    /// file and finished runs are still there, unfinished ones go on.
    #[arg(long, default_value = "wflow.db", conflicts_with = "in_memory")]
    db: PathBuf,
    /// Keep handlers in memory only (lost when the server stops).
    #[arg(long)]
    in_memory: bool,
    /// A web origin (`https://ui.example`) whose pages may call the API
    /// from a browser; repeat for more, `*` for any (the reference's
    /// default). None by default.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// How many finished handlers to keep in memory; older ones are read
    /// back from the database when asked for (forgotten with --in-memory).
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_KEEP_FINISHED)]
    keep_finished: usize,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new()?;
    let workflows = server::discover(&runtime, &args.paths).await?;
    let mut app = App::new(workflows)?
        .with_allowed_origins(AllowedOrigins::from_args(&args.allow_origins))?
        .with_keep_finished(args.keep_finished);
    if !args.in_memory {
        let store = SqliteStore::open(&args.db)?;
        app = app.with_store(Arc::new(store)).await?;
    }
    let listener = server::bind(args.bind).await?;
    let addr = listener.local_addr()?;
    eprintln!(
        "wflow: serving {} on http://{addr}",
        app.workflow_names().join(", ")
    );
    server::serve(listener, app).await?;
    Ok(ExitCode::SUCCESS)
}
