//! What every command shares: loading a workflow, printing events, results
//! and errors.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};
use wflow_core::{Event, Runtime, Workflow, WorkflowError};

/// Loads the workflow at `path` (building a guest folder if need be).
pub(crate) async fn load(path: &Path) -> Result<Workflow, WorkflowError> {
    let runtime = Runtime::new()?;
    wflow_build::load_workflow(&runtime, path).await
}

/// Prints a workflow error as one line naming its kind; returns the exit
/// code. A step's failure is the step's own error, as the reference raises
/// it to its caller (`ValueError: bad value: 42`), with the step and the
/// attempts after it.
pub(crate) fn report(err: &WorkflowError) -> ExitCode {
    match err {
        WorkflowError::StepFailed(failure) => {
            let attempts = if failure.attempts > 1 {
                format!(", after {} attempts", failure.attempts)
            } else {
                String::new()
            };
            eprintln!(
                "error: {}: {} (step `{}`{attempts})",
                failure.kind,
                one_line(&failure.message),
                failure.step
            );
        }
        other => eprintln!("error: {}: {}", other.kind(), one_line(&other.to_string())),
    }
    ExitCode::FAILURE
}

/// `text` on one line, its runs of whitespace as single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Prints results as text or JSON lines.
pub(crate) struct Printer {
    pub(crate) json: bool,
}

impl Printer {
    pub(crate) fn event(&self, event: &Event) {
        let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        if self.json {
            println!("{}", json!({"event": event.name, "data": data}));
        } else {
            println!("[{}] {}", event.name, data);
        }
    }

    pub(crate) fn result(&self, result: &Value) {
        if self.json {
            println!("{}", json!({ "result": result }));
        } else {
            match result {
                Value::String(text) => println!("{text}"),
                other => println!("{other}"),
            }
        }
    }

    pub(crate) fn error(&self, err: &WorkflowError) -> ExitCode {
        if self.json {
            println!("{}", json!({ "error": error_json(err) }));
        }
        report(err)
    }
}

/// An error as `--json` prints it. A step's failure is the step's own
/// error, as the reference raises it to the caller: its kind is the guest's
/// error type (`ValueError`), with the step and the attempts made; any
/// other error is `{kind, message}` with the seed's kind.
fn error_json(err: &WorkflowError) -> Value {
    match err {
        WorkflowError::StepFailed(failure) => json!({
            "kind": failure.kind,
            "message": failure.message,
            "step": failure.step,
            "attempts": failure.attempts,
        }),
        other => json!({ "kind": other.kind(), "message": other.to_string() }),
    }
}
