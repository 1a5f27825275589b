//! The differential conformance suite: each scenario under
//! `tests/conformance/` is a workflow written for the reference
//! (llama-index-workflows 2.26.1, `from workflows import ...`) with the
//! cases to run it on. The reference runs it as it is
//! (`tests/conformance/reference.py`, in the virtualenv scripts/setup.sh
//! installs); wflow runs the same file with its imports changed to
//! `from wflow import ...` and nothing else. Both write a transcript per
//! case (the events streamed, the result or the error) and the two must
//! agree after the normalisation tests/conformance/README.md describes.
//! Where wflow differs on purpose, the case says what each side gives.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use wflow_core::{Event, EventKind, Workflow, WorkflowError, names};
use wflow_tests::runtime;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// The reference's Python: the virtualenv scripts/setup.sh installs
/// llama-index-workflows in (with its client).
fn reference_python() -> PathBuf {
    let tools = wflow_build::tools_dir().expect("a tools folder: set WFLOW_TOOLS_DIR or HOME");
    let python = tools.join("client/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh to install llama-index-workflows",
        python.display()
    );
    python
}

/// The scenario's source with its imports changed to wflow's: the whole
/// port.
fn port(source: &str) -> String {
    let mut ported = String::new();
    for line in source.lines() {
        match line
            .strip_prefix("from workflows")
            .and_then(|rest| rest.split_once(" import "))
        {
            Some((module, names)) if module.is_empty() || module.starts_with('.') => {
                ported.push_str(&format!("from wflow import {names}"));
            }
            _ => ported.push_str(line),
        }
        ported.push('\n');
    }
    ported
}

/// The scenario ported to a wflow guest folder named after the scenario,
/// not after its class: the messages that name the workflow must still
/// call it by its class, as the reference does.
fn ported_guest(scenario: &str) -> PathBuf {
    let source = std::fs::read_to_string(scenarios().join(scenario).join("app.py")).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("conformance")
        .join(scenario);
    let name = dir
        .file_name()
        .and_then(|name| name.to_str())
        .expect("a scenario folder name");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.py"), port(&source)).unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[project]\nname = \"{name}\"\nversion = \"0.1.0\"\n\n[tool.wflow]\nmodule = \"app\"\n"
        ),
    )
    .unwrap();
    dir
}

/// The transcripts of every case of `scenario` on the reference.
fn reference_transcripts(scenario: &str) -> Vec<Value> {
    let output = Command::new(reference_python())
        .arg(scenarios().join("reference.py"))
        .arg(scenarios().join(scenario))
        .output()
        .expect("the reference's Python runs");
    assert!(
        output.status.success(),
        "the reference failed on {scenario}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON list of transcripts")
}

/// An error as the transcript records it: a step's failure is the step's
/// own error, as the reference raises it; any other its kind and text.
fn error_of(err: &WorkflowError) -> Value {
    match err {
        WorkflowError::StepFailed(failure) => {
            json!({"kind": failure.kind, "message": failure.message})
        }
        other => json!({"kind": other.kind(), "message": other.to_string()}),
    }
}

/// Runs `case` on `workflow` (or records the error loading it gave).
async fn wflow_transcript(workflow: &Result<Workflow, WorkflowError>, case: &Value) -> Value {
    let mut transcript = json!({"case": case["name"], "events": [], "result": null, "error": null});
    let workflow = match workflow {
        Ok(workflow) => workflow.clone(),
        Err(err) => {
            transcript["error"] = error_of(err);
            return transcript;
        }
    };
    let timeout = case["timeout"].as_f64().unwrap_or(45.0);
    let workflow = workflow.with_timeout(Some(Duration::from_secs_f64(timeout)));
    let input = case.get("input").cloned().unwrap_or_else(|| json!({}));
    let handler = match workflow.run(input) {
        Ok(handler) => handler,
        Err(err) => {
            transcript["error"] = error_of(&err);
            return transcript;
        }
    };
    let mut sends: Vec<Value> = case["sends"].as_array().cloned().unwrap_or_default();
    let mut events = Vec::new();
    let mut stream = handler.stream_events().expect("the stream");
    while let Some(event) = stream.next().await {
        let kind = workflow
            .events()
            .get(&event.name)
            .map_or(EventKind::Plain, |info| info.kind);
        if names::is_internal(&event.name)
            || names::is_run_ending(&event.name)
            || kind == EventKind::Stop
        {
            continue;
        }
        let data: Value = serde_json::from_str(&event.data).expect("a JSON payload");
        events.push(json!({"type": event.name, "data": data}));
        while sends
            .first()
            .is_some_and(|send| send["after"] == event.name.as_str())
        {
            let send = sends.remove(0);
            let answer = Event::new(
                send["type"].as_str().expect("a type"),
                &send.get("data").cloned().unwrap_or_else(|| json!({})),
            )
            .expect("an event");
            handler.send_event(answer).expect("the answer is taken");
        }
    }
    transcript["events"] = Value::Array(events);
    match handler.result().await {
        Ok(output) => transcript["result"] = output.result,
        Err(err) => transcript["error"] = error_of(&err),
    }
    transcript
}

/// A reference error message as wflow words it: a Python class the
/// reference prints (`<class 'app.Ping'>`) is named by its type (`Ping`),
/// and a set of classes (`{<class 'app.B'>, <class 'app.A'>}`, in an order
/// that changes from run to run) is sorted (`{A, B}`).
fn normalised(message: &str) -> String {
    sorted_sets(&class_names(message))
}

/// `text` with every `{A, B, ...}` of plain names sorted.
fn sorted_sets(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let mut items: Vec<&str> = after[..close].split(", ").collect();
        let plain_names = items
            .iter()
            .all(|item| !item.is_empty() && item.chars().all(|c| c.is_alphanumeric() || c == '_'));
        if plain_names {
            items.sort_unstable();
        }
        out.push('{');
        out.push_str(&items.join(", "));
        out.push('}');
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `message` with every `<class 'module.Name'>` as `Name`.
fn class_names(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find("<class '") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "<class '".len()..];
        match after.find("'>") {
            Some(end) => {
                let path = &after[..end];
                out.push_str(path.rsplit('.').next().unwrap_or(path));
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether `wflow`'s transcript agrees with `reference`'s: the same events
/// and result; the same error kind, wflow's message starting with the
/// reference's (normalised; wflow may say more after it).
fn agree(reference: &Value, wflow: &Value) -> Result<(), String> {
    for key in ["events", "result"] {
        if reference[key] != wflow[key] {
            return Err(format!(
                "{key}: the reference gives {}, wflow {}",
                reference[key], wflow[key]
            ));
        }
    }
    match (&reference["error"], &wflow["error"]) {
        (Value::Null, Value::Null) => Ok(()),
        (expected, got) => {
            let message = |v: &Value| v["message"].as_str().unwrap_or_default().to_string();
            let expected_message = normalised(&message(expected));
            // An empty message would begin every message: it must be empty.
            let messages_agree = if expected_message.is_empty() {
                message(got).is_empty()
            } else {
                message(got).starts_with(&expected_message)
            };
            if expected["kind"] == got["kind"] && messages_agree {
                Ok(())
            } else {
                Err(format!(
                    "error: the reference gives {expected}, wflow {got}"
                ))
            }
        }
    }
}

/// Runs every case of `scenario` on both sides and checks them; a case
/// with a `differs` note asserts each side's own transcript instead.
async fn check(scenario: &str) {
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(scenarios().join(scenario).join("cases.json")).unwrap(),
    )
    .unwrap();
    let references = reference_transcripts(scenario);
    let workflow = wflow_build::load_workflow(runtime(), &ported_guest(scenario)).await;
    let mut failures = Vec::new();
    for (case, reference) in cases.iter().zip(&references) {
        let name = case["name"].as_str().unwrap_or_default();
        let wflow = wflow_transcript(&workflow, case).await;
        let outcome = match case.get("differs") {
            None => agree(reference, &wflow),
            Some(_) => agree(&with_case(&case["reference"], name), reference)
                .map_err(|err| format!("the reference changed: {err}"))
                .and_then(|()| agree(&with_case(&case["wflow"], name), &wflow)),
        };
        if let Err(err) = outcome {
            failures.push(format!("{scenario} / {name}: {err}"));
        }
    }
    assert_eq!(cases.len(), references.len(), "one transcript per case");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An expected transcript from a case file, its missing parts empty.
fn with_case(expected: &Value, name: &str) -> Value {
    json!({
        "case": name,
        "events": expected.get("events").cloned().unwrap_or_else(|| json!([])),
        "result": expected.get("result").cloned().unwrap_or(Value::Null),
        "error": expected.get("error").cloned().unwrap_or(Value::Null),
    })
}

#[test]
fn python_classes_in_reference_messages_are_named_by_their_type() {
    assert_eq!(
        normalised("Step begin does not accept event of type <class 'app.Ping'>"),
        "Step begin does not accept event of type Ping"
    );
    assert_eq!(normalised("no class here"), "no class here");
    assert_eq!(
        normalised("found 2: {<class 'app.Zed'>, <class 'app.Done'>} in workflow 'X'."),
        "found 2: {Done, Zed} in workflow 'X'."
    );
    assert_eq!(
        normalised("a dict {'b': 1, 'a': 2}"),
        "a dict {'b': 1, 'a': 2}"
    );
    assert_eq!(normalised("a {b"), "a {b");
}

#[test]
fn porting_changes_only_the_imports() {
    let source = "from workflows import Context, Workflow, step\nfrom workflows.events import Event, StartEvent\nimport asyncio\n";
    assert_eq!(
        port(source),
        "from wflow import Context, Workflow, step\nfrom wflow import Event, StartEvent\nimport asyncio\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basics() {
    check("basics").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors() {
    check("errors").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hitl() {
    check("hitl").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed() {
    check("typed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_no_stop() {
    check("validation/no-stop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_no_start() {
    check("validation/no-start").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_two_stops() {
    check("validation/two-stops").await;
}
