//! `wflow draw`: a workflow's steps and event types as a picture, in
//! Mermaid, Graphviz DOT, or one self-contained HTML page (an SVG drawn
//! here, no script, nothing fetched), or that SVG alone.
//! The pictures are drawn by the `wflow-draw` crate, which the server
//! shares for its `/workflows/{name}/graph.svg`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::output::{load, report};

use wflow_draw::{Graph, dot, html, mermaid};

/// Arguments of `wflow draw`.
#[derive(Debug, Args)]
pub struct DrawArgs {
    /// A .wasm component, a workflow.toml, or a folder holding one, or a
    /// guest folder (built on demand).
    path: PathBuf,
    /// What to write.
    #[arg(long, value_enum, default_value = "mermaid")]
    format: Format,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The formats `wflow draw` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A Mermaid flowchart (renders in GitHub's Markdown).
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// One HTML page with the picture drawn in, that opens offline.
    Html,
    /// The picture the HTML page holds, as an SVG file.
    Svg,
}

/// Runs `wflow draw`.
pub async fn draw(args: DrawArgs) -> anyhow::Result<ExitCode> {
    let workflow = match load(&args.path).await {
        Ok(workflow) => workflow,
        Err(err) => return Ok(report(&err)),
    };
    let graph = Graph::of(&workflow);
    let text = match args.format {
        Format::Mermaid => mermaid::render(&graph),
        Format::Dot => dot::render(&graph),
        Format::Html => html::render(&graph),
        Format::Svg => html::svg(&graph),
    };
    match &args.out {
        Some(out) => {
            std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
