//! The command line: argument parsing and dispatch.

use crate::output::{load, report};
use crate::{deploy, describe, draw, resume, run, serve};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Run LlamaIndex-style workflows whose steps are sandboxed WebAssembly
/// components.
#[derive(Debug, Parser)]
#[command(name = "wflow", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workflow: print its streamed events and its result.
    Run(run::RunArgs),
    /// Go on with a run saved by `wflow run --checkpoint`.
    Resume(resume::ResumeArgs),
    /// Check a workflow's steps and event graph; exit 0 when valid.
    Validate {
        /// A .wasm component, a workflow.toml, or a folder holding one, or a
        /// guest folder in Rust, Python or JavaScript (built on demand).
        path: PathBuf,
    },
    /// Show a workflow's steps, events and schemas.
    Describe(describe::DescribeArgs),
    /// Draw a workflow's steps and events: Mermaid, DOT, or an HTML page
    /// that opens offline.
    Draw(draw::DrawArgs),
    /// Serve workflows over HTTP, wire-compatible with llama-agents-server.
    Serve(serve::ServeArgs),
    /// Upload a workflow to a server as a deployment of your tenant.
    Deploy(deploy::DeployArgs),
    /// Build a guest folder (Rust crate, Python project or JavaScript
    /// package) into a component and print its path.
    Build {
        /// The guest folder: it holds Cargo.toml, pyproject.toml or
        /// package.json.
        path: PathBuf,
        /// Also copy the component to this file.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Make a new API token for a tenants file: prints the token (give it
    /// to the tenant) and the line the file holds instead (its SHA-256).
    Token {
        /// What the audit log calls the token (`ci`, `dashboard`).
        #[arg(long, default_value = "token")]
        name: String,
        /// The token may only read (no runs, events or cancels).
        #[arg(long)]
        read_only: bool,
    },
    /// Show or clear the compiled-component cache
    /// ($WFLOW_CACHE_DIR, else $XDG_CACHE_HOME/wflow, else ~/.cache/wflow).
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
}

#[derive(Debug, Subcommand)]
enum CacheAction {
    /// Print where compiled components are cached.
    Dir,
    /// Remove every cached compiled component.
    Clear,
}

impl Cli {
    /// Whether logs are asked for as JSON lines (`--log-format json` on
    /// `serve` or `run`).
    pub fn json_logs(&self) -> bool {
        match &self.command {
            Command::Serve(args) => args.log_format == serve::LogFormat::Json,
            Command::Run(args) => args.log_format == serve::LogFormat::Json,
            _ => false,
        }
    }

    /// Whether the command is `wflow serve`.
    pub fn is_server(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }

    /// Whether debug logging was asked for.
    pub fn verbose(&self) -> bool {
        match &self.command {
            Command::Run(args) => args.verbose,
            Command::Resume(args) => args.verbose,
            _ => false,
        }
    }
}

/// `wflow build`: builds the guest, copies it to `out` if asked, prints
/// where the component is.
async fn build(path: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cache_dir = wflow_build::default_build_dir();
    let started = std::time::Instant::now();
    let component = match wflow_build::build_guest(path, &cache_dir).await {
        Ok(component) => component,
        Err(err) => return Ok(report(&err)),
    };
    let component = match out {
        Some(out) => {
            std::fs::copy(&component, out)
                .with_context(|| format!("cannot copy the component to {}", out.display()))?;
            out.to_path_buf()
        }
        None => component,
    };
    let size = std::fs::metadata(&component).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "built {} ({:.1} MB) in {:.1} s",
        path.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    println!("{}", component.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs the parsed command.
pub async fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Resume(args) => resume::resume(args).await,
        Command::Validate { path } => match load(&path).await {
            Ok(workflow) => {
                println!(
                    "{}: valid ({} steps, start event {})",
                    workflow.name(),
                    workflow.steps().len(),
                    workflow.start_event()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => Ok(report(&err)),
        },
        Command::Describe(args) => describe::describe(args).await,
        Command::Draw(args) => draw::draw(args).await,
        Command::Token { name, read_only } => {
            let token = wflow_server::tenants::new_token();
            let hash = wflow_server::tenants::TokenHash::of(&token);
            println!("{token}");
            eprintln!(
                "give the token above to its tenant; put this in its tokens in the tenants file:\n  \
                 {{ name = {name:?}, sha256 = \"{hash}\"{} }}",
                if read_only { ", read_only = true" } else { "" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve::serve(args).await,
        Command::Deploy(args) => deploy::deploy(args).await,
        Command::Build { path, out } => build(&path, out.as_deref()).await,
        Command::Cache { action } => {
            let Some(dir) = wflow_core::default_cache_dir() else {
                anyhow::bail!("no cache directory: set WFLOW_CACHE_DIR or HOME");
            };
            match action {
                CacheAction::Dir => println!("{}", dir.display()),
                CacheAction::Clear => {
                    let removed = wflow_core::clear_cache_dir(&dir)?;
                    println!(
                        "removed {removed} compiled component(s) from {}",
                        dir.display()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
