//! `wflow run`: run a workflow, print what it streams, answer its requests
//! for input from stdin, print its result.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use wflow_host::{Event, EventKind, Workflow, WorkflowError, names};

use super::{load, report};

/// Arguments of `wflow run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A .wasm component, a workflow.toml, or a folder holding one (or a
    /// Rust guest crate, built on demand).
    path: PathBuf,
    /// The start event's fields, a JSON object.
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// Print one JSON object per line; the last one is the result.
    #[arg(long)]
    json: bool,
    /// The run timeout in seconds (0 for none), instead of the workflow's.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Log what the host does, and what the steps printed, to stderr.
    #[arg(long, short)]
    pub(super) verbose: bool,
}

/// Prints results as text or JSON lines.
struct Printer {
    json: bool,
}

impl Printer {
    fn event(&self, event: &Event) {
        let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        if self.json {
            println!("{}", json!({"event": event.name, "data": data}));
        } else {
            println!("[{}] {}", event.name, data);
        }
    }

    fn result(&self, result: &Value) {
        if self.json {
            println!("{}", json!({ "result": result }));
        } else {
            match result {
                Value::String(text) => println!("{text}"),
                other => println!("{other}"),
            }
        }
    }

    fn error(&self, err: &WorkflowError) -> ExitCode {
        if self.json {
            println!(
                "{}",
                json!({"error": {"kind": err.kind(), "message": err.to_string()}})
            );
        }
        report(err)
    }
}

fn parse_input(input: Option<&str>) -> Result<Value, WorkflowError> {
    let Some(text) = input else {
        return Ok(json!({}));
    };
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(WorkflowError::InvalidEvent(
            "--input must be a JSON object, e.g. '{\"topic\": \"pirates\"}'".into(),
        )),
        Err(err) => Err(WorkflowError::InvalidEvent(format!(
            "--input is not valid JSON: {err}"
        ))),
    }
}

fn kind_of(workflow: &Workflow, name: &str) -> EventKind {
    workflow
        .events()
        .get(name)
        .map(|info| info.kind)
        .or_else(|| EventKind::of_builtin(name))
        .unwrap_or(EventKind::Plain)
}

fn human_response_type(workflow: &Workflow) -> String {
    workflow
        .events()
        .values()
        .find(|info| info.kind == EventKind::HumanResponse)
        .map(|info| info.name.clone())
        .unwrap_or_else(|| names::HUMAN_RESPONSE.to_string())
}

/// Runs `wflow run`.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let printer = Printer { json: args.json };
    let mut workflow = match load(&args.path).await {
        Ok(workflow) => workflow,
        Err(err) => return Ok(printer.error(&err)),
    };
    if let Some(secs) = args.timeout {
        let timeout = (secs > 0.0).then(|| Duration::from_secs_f64(secs));
        workflow = workflow.with_timeout(timeout);
    }
    let input = match parse_input(args.input.as_deref()) {
        Ok(input) => input,
        Err(err) => return Ok(printer.error(&err)),
    };
    let handler = match workflow.run(input) {
        Ok(handler) => handler,
        Err(err) => return Ok(printer.error(&err)),
    };
    let mut events = handler.stream_events()?;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let answer_type = human_response_type(&workflow);
    while let Some(event) = events.next().await {
        let kind = kind_of(&workflow, &event.name);
        // The result (or the error) is printed once the run has ended.
        if kind == EventKind::Stop || names::is_run_ending(&event.name) {
            continue;
        }
        printer.event(&event);
        if kind != EventKind::InputRequired {
            continue;
        }
        let payload: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        let prompt = payload
            .get("prefix")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{} asks for input: ", event.name));
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        match stdin.next_line().await {
            Ok(Some(line)) => {
                let answer =
                    Event::new(answer_type.clone(), &json!({ "response": line.trim_end() }))?;
                if let Err(err) = handler.send_event(answer) {
                    handler.cancel();
                    return Ok(printer.error(&err));
                }
            }
            Ok(None) | Err(_) => {
                handler.cancel();
                let err = WorkflowError::Runtime(format!(
                    "the workflow asked for input ({}) but stdin is closed",
                    event.name
                ));
                return Ok(printer.error(&err));
            }
        }
    }
    let outcome = handler.result().await;
    if args.verbose {
        let (entries, dropped) = handler.logs();
        for entry in entries {
            for line in entry.text.lines() {
                eprintln!("[{} {:?}] {line}", entry.step, entry.stream);
            }
        }
        if dropped > 0 {
            eprintln!("({dropped} bytes of guest output dropped past limits.max_log_bytes)");
        }
    }
    match outcome {
        Ok(output) => {
            printer.result(&output.result);
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => Ok(printer.error(&err)),
    }
}
