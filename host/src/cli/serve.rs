//! `wflow serve`: the workflows at PATHS as a REST API, wire-compatible with
//! llama-agents-server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use wflow_host::Runtime;
use wflow_host::server::{self, App, SqliteStore};

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
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new()?;
    let workflows = server::discover(&runtime, &args.paths).await?;
    let mut app = App::new(workflows)?;
    if !args.in_memory {
        let store = SqliteStore::open(&args.db)?;
        app = app.with_store(Arc::new(store))?;
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
