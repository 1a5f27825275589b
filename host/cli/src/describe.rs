//! `wflow describe`: a workflow's steps, events and schemas.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};
use wflow_core::Workflow;

use crate::output::{load, report};

/// Arguments of `wflow describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// A .wasm component, a workflow.toml, or a folder holding one.
    path: PathBuf,
    /// Print the description as one JSON document.
    #[arg(long)]
    json: bool,
}

fn description(workflow: &Workflow) -> Value {
    let events: serde_json::Map<String, Value> = workflow
        .events()
        .values()
        .map(|info| {
            (
                info.name.clone(),
                json!({
                    "kind": info.kind,
                    "schema": info.schema.as_ref().map(|s| s.source().clone()),
                }),
            )
        })
        .collect();
    json!({
        "name": workflow.name(),
        "timeout_seconds": workflow.timeout().map(|t| t.as_secs_f64()),
        "start_event": workflow.start_event(),
        "steps": workflow.steps(),
        "events": events,
        "state_schema": workflow.state_schema(),
        "components": workflow.components().iter().map(|c| c.path.display().to_string()).collect::<Vec<_>>(),
    })
}

/// Runs `wflow describe`.
pub async fn describe(args: DescribeArgs) -> anyhow::Result<ExitCode> {
    let workflow = match load(&args.path).await {
        Ok(workflow) => workflow,
        Err(err) => return Ok(report(&err)),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&description(&workflow))?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("workflow {}", workflow.name());
    match workflow.timeout() {
        Some(t) => println!("  timeout: {}", humantime::format_duration(t)),
        None => println!("  timeout: none"),
    }
    println!("  start event: {}", workflow.start_event());
    println!("steps:");
    for step in workflow.steps() {
        println!("  {}", step.name);
        println!("    accepts: {}", step.accepts.join(", "));
        println!(
            "    emits:   {}",
            if step.emits.is_empty() {
                "-".to_string()
            } else {
                step.emits.join(", ")
            }
        );
        println!("    workers: {}", step.num_workers);
        if let Some(timeout) = step.timeout {
            println!("    timeout: {}", humantime::format_duration(timeout));
        }
        if let Some(retry) = &step.retry {
            println!("    retry:   {}", serde_json::to_string(retry)?);
        }
    }
    println!("events:");
    for info in workflow.events().values() {
        let schema = info
            .schema
            .as_ref()
            .map(|s| s.source().to_string())
            .unwrap_or_else(|| "(built-in)".into());
        println!("  {} ({:?}): {}", info.name, info.kind, schema);
    }
    if let Some(schema) = workflow.state_schema() {
        println!("state schema: {schema}");
    }
    Ok(ExitCode::SUCCESS)
}
