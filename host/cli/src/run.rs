//! `wflow run`: run a workflow, print what it streams, answer its requests
//! for input from stdin, print its result.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, BufReader};

use wflow_core::{
    CheckpointStore, Context, Event, EventKind, FileCheckpoint, RunOptions, Workflow,
    WorkflowError, WorkflowHandler, names,
};

use crate::output::{Printer, load};

/// Arguments of `wflow run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A .wasm component, a workflow.toml, or a folder holding one, or a
    /// guest folder in Rust, Python or JavaScript (built on demand); with
    /// --server, the workflow's name on the server.
    path: PathBuf,
    /// Run on this server (`wflow serve`, or llama-agents-server) instead,
    /// e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", conflicts_with_all = ["timeout", "checkpoint", "detach", "context"])]
    server: Option<String>,
    /// With --server, the API token to send (a tenant's, from the operator).
    #[arg(long, env = "WFLOW_TOKEN", hide_env_values = true, requires = "server")]
    token: Option<String>,
    /// The start event's fields, a JSON object.
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// Print one JSON object per line; the last one is the result.
    #[arg(long)]
    json: bool,
    /// The run timeout in seconds (0 for none), instead of the workflow's.
    #[arg(long, value_name = "SECS", value_parser = parse_run_timeout)]
    timeout: Option<RunTimeout>,
    /// Keep a checkpoint of the run in FILE, updated after every step, for
    /// `wflow resume`.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// When the run waits for a human, save it to the checkpoint and exit
    /// instead of reading stdin (also done when stdin is closed).
    #[arg(long)]
    detach: bool,
    /// Start from the Context saved in FILE (a fresh one if there is no
    /// FILE) and save it back when the run ends, so that its state carries
    /// over from run to run (the reference's `Context.to_dict` /
    /// `from_dict`).
    #[arg(long, value_name = "FILE")]
    context: Option<PathBuf>,
    /// Log what the host does, and what the steps printed, to stderr.
    #[arg(long, short)]
    pub(super) verbose: bool,
    /// How logs are written to stderr: `text`, or `json` (one object per
    /// line, with the run's id).
    #[arg(long, value_enum, default_value = "text")]
    pub(super) log_format: crate::serve::LogFormat,
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

/// The type a line typed at a prompt is sent back as: the built-in
/// `HumanResponseEvent` when the workflow knows it (or knows several custom
/// human-response types), else its one custom human-response type.
fn human_response_type(workflow: &Workflow) -> String {
    let events = workflow.events();
    let mut custom = events
        .values()
        .filter(|info| info.kind == EventKind::HumanResponse && info.name != names::HUMAN_RESPONSE);
    match (custom.next(), custom.next()) {
        (Some(only), None) if !events.contains_key(names::HUMAN_RESPONSE) => only.name.clone(),
        _ => names::HUMAN_RESPONSE.to_string(),
    }
}

/// What `drive` does at a request for input it cannot answer from stdin.
pub(super) struct Detach {
    /// Detach even when stdin could answer.
    pub(super) always: bool,
    /// The checkpoint file the run is saved to (detaching needs one).
    pub(super) checkpoint: Option<PathBuf>,
}

/// A run timeout given on the command line: `None` for no timeout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunTimeout(Option<Duration>);

/// The longest run timeout accepted: a year.
const MAX_RUN_TIMEOUT_SECS: f64 = 365.0 * 24.0 * 3600.0;

/// Parses `--timeout SECS`: a number of seconds from 0 (no timeout) to a
/// year.
pub(crate) fn parse_run_timeout(text: &str) -> Result<RunTimeout, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!(
            "`{text}` is not a number of seconds from 0 (no timeout) to {MAX_RUN_TIMEOUT_SECS}"
        ));
    }
    if secs > MAX_RUN_TIMEOUT_SECS {
        return Err(format!(
            "{secs} s is longer than a year ({MAX_RUN_TIMEOUT_SECS} s): use 0 for no timeout"
        ));
    }
    Ok(RunTimeout(
        (secs > 0.0).then(|| Duration::from_secs_f64(secs)),
    ))
}

/// Runs `wflow run`.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let printer = Printer { json: args.json };
    if let Some(server) = &args.server {
        let input = match parse_input(args.input.as_deref()) {
            Ok(input) => input,
            Err(err) => return Ok(printer.error(&err)),
        };
        let name = args.path.to_string_lossy();
        let client = crate::remote::client(args.token.as_deref())?;
        return crate::remote::run(&client, server, &name, input, &printer).await;
    }
    let mut workflow = match load(&args.path).await {
        Ok(workflow) => workflow,
        Err(err) => return Ok(printer.error(&err)),
    };
    if let Some(RunTimeout(timeout)) = args.timeout {
        workflow = workflow.with_timeout(timeout);
    }
    if args.detach && args.checkpoint.is_none() {
        let err = WorkflowError::Configuration(
            "--detach needs --checkpoint FILE to save the run to".into(),
        );
        return Ok(printer.error(&err));
    }
    let start = match parse_input(args.input.as_deref())
        .and_then(|input| Event::new(workflow.start_event(), &input))
    {
        Ok(start) => start,
        Err(err) => return Ok(printer.error(&err)),
    };
    let context = match &args.context {
        Some(path) => match load_context(&workflow, path) {
            Ok(context) => Some(context),
            Err(err) => return Ok(printer.error(&err)),
        },
        None => None,
    };
    let options = RunOptions {
        context: context.clone(),
        checkpoint: args
            .checkpoint
            .as_ref()
            .map(|path| Arc::new(FileCheckpoint::new(path)) as Arc<dyn CheckpointStore>),
        origin: Some(origin_of(&args.path)),
        // A run waiting for an event from outside is noticed by its idling
        // (saved with --detach, else said to be idle).
        idle_events: true,
        ..RunOptions::default()
    };
    let handler = match workflow.run_with(start, options) {
        Ok(handler) => handler,
        Err(err) => return Ok(printer.error(&err)),
    };
    let detach = Detach {
        always: args.detach,
        checkpoint: args.checkpoint.clone(),
    };
    let code = drive(&workflow, &handler, &printer, &detach, args.verbose).await?;
    if let (Some(path), Some(context)) = (&args.context, &context)
        && let Err(err) = save_context(context, path)
    {
        return Ok(printer.error(&err));
    }
    Ok(code)
}

/// The Context saved in `path`, or a fresh one when there is no file.
fn load_context(workflow: &Workflow, path: &std::path::Path) -> Result<Context, WorkflowError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Context::from_json(workflow, &text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Context::new(workflow)),
        Err(err) => Err(WorkflowError::io(
            format!("cannot read the context {}", path.display()),
            err,
        )),
    }
}

/// Saves `context` to `path`, whole or not at all (written beside it, then
/// renamed over it).
fn save_context(context: &Context, path: &std::path::Path) -> Result<(), WorkflowError> {
    let text = context.to_json()?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let cannot = |err| {
        WorkflowError::io(
            format!("cannot save the context to {}", path.display()),
            err,
        )
    };
    std::fs::write(&partial, text).map_err(cannot)?;
    std::fs::rename(&partial, path).map_err(cannot)
}

/// The path a workflow was loaded from, absolute, for `wflow resume`.
pub(super) fn origin_of(path: &std::path::Path) -> String {
    path.canonicalize()
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Streams a run's events, answers its requests for input from stdin (or
/// detaches), and prints its result.
pub(super) async fn drive(
    workflow: &Workflow,
    handler: &WorkflowHandler,
    printer: &Printer,
    detach: &Detach,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let mut events = handler.stream_events()?;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let answer_type = human_response_type(workflow);
    while let Some((position, event)) = events.next_at().await {
        if names::is_internal(&event.name) {
            // An idle event streamed while the run waited for an answer
            // typed since is old news: the answer woke the run (and a new
            // idle period, if it idles again, streams its own).
            if event.name == names::WORKFLOW_IDLE && handler.idle_position().await == Some(position)
            {
                // A run that comes to wait for an event from outside (an
                // answer that did not suit its waiter, say) without asking
                // anew is saved with --detach, and said to be idle else.
                if detach.always
                    && let Some(path) = &detach.checkpoint
                {
                    let waiting = "the run waits for an event sent in from outside";
                    return detach_run(handler, printer, path, waiting, &answer_type).await;
                }
                eprintln!("{}", idle_notice(handler, detach.checkpoint.is_some()));
            }
            continue;
        }
        let kind = kind_of(workflow, &event.name);
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
        let line = if detach.always {
            None
        } else {
            eprint!("{prompt}");
            let _ = std::io::stderr().flush();
            stdin.next_line().await.ok().flatten()
        };
        match line {
            Some(line) => {
                // Everything typed but the line ending (`lines` took the
                // `\n`; a `\r` may be left).
                let response = line.strip_suffix('\r').unwrap_or(&line);
                let answer = Event::new(answer_type.clone(), &json!({ "response": response }))?;
                if let Err(err) = handler.send_event(answer) {
                    handler.cancel();
                    return Ok(printer.error(&err));
                }
            }
            None => {
                if let Some(path) = &detach.checkpoint {
                    return detach_run(handler, printer, path, &prompt, &answer_type).await;
                }
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
    if verbose {
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

/// What `wflow run` says when the run comes to be idle: no step running,
/// nothing queued, no request for input it could answer. The run waits for
/// an event sent in from outside until its timeout, as the reference's
/// does; the notice says which events its waits would take and how to
/// send one.
fn idle_notice(handler: &WorkflowHandler, checkpointed: bool) -> String {
    /// The most waits named; the others are counted.
    const NAMED: usize = 5;
    let pending = handler.pending_waits();
    let mut waits: Vec<String> = pending
        .iter()
        .take(NAMED)
        .map(|wait| {
            let fields: Vec<String> = wait
                .requirements
                .iter()
                .map(|(field, value)| {
                    format!("\"{}\" = {}", shown(field), shown(&value.to_string()))
                })
                .collect();
            if fields.is_empty() {
                format!("\"{}\"", shown(&wait.event))
            } else {
                format!("\"{}\" with {}", shown(&wait.event), fields.join(", "))
            }
        })
        .collect();
    if pending.len() > NAMED {
        waits.push(format!("{} more", pending.len() - NAMED));
    }
    let what = if waits.is_empty() {
        "an event sent in from outside".to_string()
    } else {
        format!("an event sent in from outside: {}", waits.join(" or "))
    };
    let until = match handler.timeout() {
        Some(timeout) => format!("until the run's timeout ({} s)", timeout.as_secs_f64()),
        None => "with no timeout (Ctrl-C stops it)".to_string(),
    };
    let how = if checkpointed {
        "Run it with --detach to save it and send the event with `wflow resume FILE --send TYPE JSON`."
    } else {
        "`wflow run` cannot send it: run with --checkpoint FILE --detach and send it with `wflow resume FILE --send TYPE JSON`, or run the workflow on a server (`wflow serve`)."
    };
    format!(
        "The run is idle: no step is running and no event is queued. It waits for {what}, {until}. {how}"
    )
}

/// `text` (a name or value a guest chose) as a terminal may show it:
/// control and invisible characters escaped (no escape sequence or
/// direction override reaches the terminal), cut to 80 characters.
fn shown(text: &str) -> String {
    /// The most characters shown of one name or value.
    const SHOWN: usize = 80;
    let mut shown = String::new();
    for (index, c) in text.chars().enumerate() {
        if index == SHOWN {
            shown.push('…');
            break;
        }
        if c == ' ' || c.is_ascii_graphic() || c.is_alphanumeric() {
            shown.push(c);
        } else {
            shown.extend(c.escape_unicode());
        }
    }
    shown
}

/// Saves the waiting run and exits, saying how to answer.
async fn detach_run(
    handler: &WorkflowHandler,
    printer: &Printer,
    path: &std::path::Path,
    prompt: &str,
    answer_type: &str,
) -> anyhow::Result<ExitCode> {
    let saved = match handler.snapshot().await {
        Ok(snapshot) => FileCheckpoint::new(path).save(&snapshot).await,
        Err(err) => Err(err),
    };
    // The run is left waiting, not cancelled: cancelling would record it as
    // ended in the checkpoint. It stops with this process.
    if let Err(err) = saved {
        return Ok(printer.error(&err));
    }
    let command = format!(
        "wflow resume {} --send {answer_type} '{{\"response\": \"...\"}}'",
        path.display()
    );
    if printer.json {
        println!(
            "{}",
            json!({"waiting": {"prompt": prompt, "checkpoint": path, "resume": command}})
        );
    }
    eprintln!("The workflow waits for input: {}", prompt.trim());
    eprintln!(
        "It is saved in {}. Answer with:\n  {command}",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_timeouts_are_whole_finite_and_bounded() {
        assert_eq!(parse_run_timeout("0").unwrap().0, None);
        assert_eq!(
            parse_run_timeout("2.5").unwrap().0,
            Some(Duration::from_millis(2500))
        );
        for bad in ["1e30", "inf", "-inf", "NaN", "-1", "soon", ""] {
            let err = parse_run_timeout(bad).unwrap_err();
            assert!(
                err.contains("seconds") || err.contains("year"),
                "{bad}: {err}"
            );
        }
        assert!(
            parse_run_timeout("1e30")
                .unwrap_err()
                .contains("longer than a year")
        );
    }

    #[test]
    fn what_a_guest_named_is_shown_escaped_and_cut() {
        assert_eq!(shown("Approval"), "Approval");
        assert_eq!(shown("Überweisung 日本"), "Überweisung 日本");
        assert_eq!(shown("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(shown("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(shown("zero\u{200b}width"), "zero\\u{200b}width");
        let long = "x".repeat(200);
        assert_eq!(shown(&long), format!("{}…", "x".repeat(80)));
    }
}
