//! Traces over OTLP, received by an in-process collector: a `hitl` run
//! started and answered through the server is one trace, continuing the
//! caller's `traceparent`; the request's span parents the run's, the run's
//! parents the step call's, and the call's parents its wait for the answer
//! (the call goes on from its wait: one call). Killed and started again,
//! the server resumes the run in the same trace, under the same request.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};

use crate::server::Server;

/// The caller's trace and span, as its `traceparent` names them.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

/// Attribute `key` of `span`, as a string (the collector gives each value
/// as the protocol's `AnyValue`, debug-printed).
fn attribute(span: &ExportedSpan, key: &str) -> String {
    let raw = span
        .attributes
        .get(key)
        .unwrap_or_else(|| panic!("no {key} on {span:?}"));
    let inner = raw
        .split_once("Value(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map_or(raw.as_str(), |(value, _)| value);
    inner.trim_matches('"').to_string()
}

/// Starts `hitl` on `server` as a caller in trace `TRACE`, span `CALLER`;
/// the handler's id.
fn start_hitl_in_the_callers_trace(server: &Server) -> String {
    let traceparent = format!("00-{TRACE}-{CALLER}-01");
    let (status, body) = server.request_with(
        "POST",
        "/workflows/hitl/run-nowait",
        &[("traceparent", &traceparent)],
        "{}",
    );
    assert_eq!(status, 200, "{body}");
    let handler: serde_json::Value = serde_json::from_str(&body).expect("a handler");
    handler["handler_id"].as_str().expect("an id").to_string()
}

/// Receives spans until `done` holds for them, or 30 s have passed.
async fn receive(
    collector: &mut FakeCollectorServer,
    done: impl Fn(&[ExportedSpan]) -> bool,
) -> Vec<ExportedSpan> {
    let started = Instant::now();
    let mut spans = Vec::new();
    while !done(&spans) && started.elapsed() < Duration::from_secs(30) {
        spans.extend(
            collector
                .exported_spans(1, Duration::from_millis(500))
                .await,
        );
    }
    spans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hitl_run_through_the_server_is_one_trace_under_the_callers() {
    let mut collector = FakeCollectorServer::start().await.expect("a collector");
    let endpoint = collector.endpoint();
    let server = tokio::task::spawn_blocking(move || {
        let server = Server::start_with_env(
            &["hitl", "--in-memory"],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ],
        );
        let id = start_hitl_in_the_callers_trace(&server);
        server.wait_for_event(&id, "InputRequiredEvent");
        server.expect_status(
            200,
            "POST",
            &format!("/events/{id}"),
            r#"{"event": {"type": "HumanResponseEvent", "value": {"response": "Ada"}}}"#,
        );
        assert_eq!(server.wait_ended(&id)["status"], "completed");
        server
    })
    .await
    .expect("the run");

    let ended = |spans: &[ExportedSpan]| {
        ["run", "step ask_name", "wait for HumanResponseEvent"]
            .iter()
            .all(|name| spans.iter().any(|span| span.name == *name))
    };
    let spans = receive(&mut collector, ended).await;
    drop(server);
    let names: Vec<&str> = spans.iter().map(|span| span.name.as_str()).collect();
    let by_id: HashMap<&str, &ExportedSpan> = spans
        .iter()
        .map(|span| (span.span_id.as_str(), span))
        .collect();

    // The request that started the run continues the caller's trace.
    let start = spans
        .iter()
        .find(|span| span.name == "POST /workflows/hitl/run-nowait")
        .unwrap_or_else(|| panic!("no span of the starting request: {names:?}"));
    assert_eq!(start.trace_id, TRACE);
    assert_eq!(start.parent_span_id, CALLER);
    assert_eq!(start.kind, "SPAN_KIND_SERVER", "{start:?}");
    // The run is the request's child.
    let run = spans
        .iter()
        .find(|span| span.name == "run")
        .unwrap_or_else(|| panic!("no run span: {names:?}"));
    assert_eq!(run.trace_id, TRACE);
    assert_eq!(run.parent_span_id, start.span_id);
    assert_eq!(attribute(run, "workflow"), "hitl");
    // The step call is the run's child; its wait for the answer, the
    // call's.
    let calls: Vec<&ExportedSpan> = spans
        .iter()
        .filter(|span| span.name == "step ask_name")
        .collect();
    assert_eq!(calls.len(), 1, "{names:?}");
    let call = calls[0];
    assert_eq!(call.trace_id, TRACE);
    assert_eq!(call.parent_span_id, run.span_id, "{call:?}");
    assert_eq!(attribute(call, "step"), "ask_name");
    assert_eq!(attribute(call, "event"), "StartEvent");
    assert_eq!(attribute(call, "attempt"), "1");
    assert_eq!(attribute(call, "outcome"), "returned");
    assert_eq!(attribute(call, "emitted"), "StopEvent");
    assert!(attribute(call, "fuel").parse::<u64>().expect("fuel") > 0);
    assert!(["new", "reused"].contains(&attribute(call, "instance").as_str()));
    let wait = spans
        .iter()
        .find(|span| span.name == "wait for HumanResponseEvent")
        .expect("a wait span");
    assert_eq!(wait.trace_id, TRACE);
    assert_eq!(wait.parent_span_id, call.span_id);
    assert!(wait.end_time_unix_nano <= call.end_time_unix_nano);
    // Nothing of the run's left the trace.
    for span in &spans {
        if by_id.contains_key(span.parent_span_id.as_str()) {
            assert_eq!(span.trace_id, TRACE, "{span:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_resumed_after_a_restart_continues_the_trace_of_its_request() {
    let mut collector = FakeCollectorServer::start().await.expect("a collector");
    let endpoint = collector.endpoint();
    let db = crate::scratch("traces", ".db");
    let _ = std::fs::remove_file(&db);
    let args = [
        "hitl".to_string(),
        "--db".to_string(),
        db.display().to_string(),
    ];
    let start_server = move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Server::start_with_env(
            &args,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ],
        )
    };
    let again = start_server.clone();
    let (server, id) = tokio::task::spawn_blocking(move || {
        let server = start_server();
        let id = start_hitl_in_the_callers_trace(&server);
        // Shown once its checkpoint is saved.
        server.wait_for_event(&id, "InputRequiredEvent");
        (server, id)
    })
    .await
    .expect("the first server");
    let first = receive(&mut collector, |spans| {
        spans
            .iter()
            .any(|span| span.name == "POST /workflows/hitl/run-nowait")
    })
    .await;
    let start = first
        .iter()
        .find(|span| span.name == "POST /workflows/hitl/run-nowait")
        .expect("the starting request's span")
        .clone();
    // Killed with the run waiting; started again on the same file.
    drop(server);
    let server = tokio::task::spawn_blocking(move || {
        let server = again();
        server.expect_status(
            200,
            "POST",
            &format!("/events/{id}"),
            r#"{"event": {"type": "HumanResponseEvent", "value": {"response": "Ada"}}}"#,
        );
        assert_eq!(server.wait_ended(&id)["status"], "completed");
        server
    })
    .await
    .expect("the second server");
    let spans = receive(&mut collector, |spans| {
        ["step ask_name", "run", "checkpoint"]
            .iter()
            .all(|name| spans.iter().any(|span| span.name == *name))
    })
    .await;
    drop(server);
    let names: Vec<&str> = spans.iter().map(|span| span.name.as_str()).collect();
    // The first server was killed with the call waiting (its spans open,
    // never sent): the step span sent is the resumed run's, in the trace,
    // under a run under the request that started it.
    let call = spans
        .iter()
        .find(|span| span.name == "step ask_name")
        .unwrap_or_else(|| panic!("no step span: {names:?}"));
    assert_eq!(call.trace_id, TRACE);
    let run = spans
        .iter()
        .find(|span| span.span_id == call.parent_span_id)
        .unwrap_or_else(|| panic!("no run span above the step: {names:?}"));
    assert_eq!(run.name, "run");
    assert_eq!(run.trace_id, TRACE);
    assert_eq!(run.parent_span_id, start.span_id);
    // Its checkpoints (into the file) are its children too.
    let checkpoint = spans
        .iter()
        .find(|span| span.name == "checkpoint" && span.parent_span_id == run.span_id)
        .unwrap_or_else(|| panic!("no checkpoint span under the run: {names:?}"));
    assert_eq!(checkpoint.trace_id, TRACE);
    let _ = std::fs::remove_file(&db);
}
