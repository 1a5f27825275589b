//! `wflow resume`: go on with a run saved by `wflow run --checkpoint`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use serde_json::Value;
use wflow_core::{
    CheckpointStore, Event, FileCheckpoint, RunOptions, SnapshotOutcome, WorkflowError,
};

use crate::output::Printer;
use crate::output::load;
use crate::run::{Detach, drive};

/// Arguments of `wflow resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The checkpoint file `wflow run --checkpoint` kept; it is kept up to
    /// date as the run goes on.
    checkpoint: PathBuf,
    /// Send an event into the run first, e.g. `--send HumanResponseEvent
    /// '{"response": "Ada"}'`.
    #[arg(long, num_args = 2, value_names = ["TYPE", "JSON"])]
    send: Option<Vec<String>>,
    /// The workflow, when not where the run was started from.
    #[arg(long, value_name = "PATH")]
    workflow: Option<PathBuf>,
    /// Print one JSON object per line; the last one is the result.
    #[arg(long)]
    json: bool,
    /// When the run waits for a human again, save it and exit.
    #[arg(long)]
    detach: bool,
    /// Log what the host does, and what the steps printed, to stderr.
    #[arg(long, short)]
    pub(super) verbose: bool,
}

/// Runs `wflow resume`.
pub async fn resume(args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let printer = Printer { json: args.json };
    let store = FileCheckpoint::new(&args.checkpoint);
    let snapshot = match store.load() {
        Ok(snapshot) => snapshot,
        Err(err) => return Ok(printer.error(&err)),
    };
    match &snapshot.outcome {
        Some(SnapshotOutcome::Completed { stop_event }) => {
            let payload: Value = serde_json::from_str(&stop_event.data).unwrap_or(Value::Null);
            let result = if stop_event.name == wflow_core::names::STOP {
                payload.get("result").cloned().unwrap_or(Value::Null)
            } else {
                payload
            };
            printer.result(&result);
            return Ok(ExitCode::SUCCESS);
        }
        Some(SnapshotOutcome::Failed { kind, message }) => {
            let err =
                WorkflowError::Runtime(format!("the run had already ended: {kind}: {message}"));
            return Ok(printer.error(&err));
        }
        None => {}
    }
    let Some(path) = args
        .workflow
        .clone()
        .or_else(|| snapshot.origin.as_ref().map(PathBuf::from))
    else {
        let err = WorkflowError::ContextSerde(
            "the checkpoint does not say where its workflow is: pass --workflow PATH".into(),
        );
        return Ok(printer.error(&err));
    };
    let workflow = match load(&path).await {
        Ok(workflow) => workflow,
        Err(err) => return Ok(printer.error(&err)),
    };
    // The answer is sent before the run goes on (`send_first`): checked
    // first, so a mistyped one leaves the checkpoint as it was, still
    // waiting for a good one; and there before the run can look idle.
    let send_first = match args.send.as_deref() {
        Some([name, data]) => {
            let event = serde_json::from_str::<Value>(data)
                .map_err(|err| {
                    WorkflowError::InvalidEvent(format!(
                        "--send {name}: the JSON is not valid: {err}"
                    ))
                })
                .and_then(|payload| Event::new(name.clone(), &payload));
            match event {
                Ok(event) => vec![event],
                Err(err) => return Ok(printer.error(&err)),
            }
        }
        _ => Vec::new(),
    };
    let options = RunOptions {
        checkpoint: Some(Arc::new(store) as Arc<dyn CheckpointStore>),
        origin: Some(super::run::origin_of(&path)),
        // A run waiting again is noticed by its idling (saved with
        // --detach, else said to be idle).
        idle_events: true,
        send_first,
        ..RunOptions::default()
    };
    let handler = match workflow.resume_with(snapshot, options) {
        Ok(handler) => handler,
        Err(err) => return Ok(printer.error(&err)),
    };
    let detach = Detach {
        always: args.detach,
        checkpoint: Some(args.checkpoint.clone()),
    };
    drive(&workflow, &handler, &printer, &detach, args.verbose).await
}
