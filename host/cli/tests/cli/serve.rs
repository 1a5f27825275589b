//! `wflow serve` as a child process over HTTP on loopback: its printed
//! address, a restart on its database, `run --server`, and the reference
//! Python client.

use std::time::Duration;

use crate::server::Server;
use crate::{assert_contains, scratch, stderr, stdout, wflow_fails, wflow_ok};

#[test]
fn serve_answers_http_on_the_address_it_prints() {
    let server = Server::start(&["joke", "--in-memory"]);
    let (status, body) = server.request("GET", "/health", "");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"healthy"}"#));
    let body = server.expect_status(
        200,
        "POST",
        "/workflows/joke/run",
        r#"{"start_event": {"topic": "pirates"}}"#,
    );
    assert!(
        body.contains(r#""status":"completed""#) && body.contains("pirates"),
        "{body}"
    );
}

#[test]
fn serve_answers_a_waiting_run_after_being_killed_and_restarted_on_its_database() {
    let dir = scratch("serve", "");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("handlers.db");
    let args = ["bench/ask", "joke", "hitl", "--db", db.to_str().unwrap()];

    let server = Server::start(&args);
    server.expect_status(
        200,
        "POST",
        "/workflows/joke/run",
        r#"{"handler_id": "done", "start_event": {"topic": "pirates"}}"#,
    );
    server.expect_status(
        200,
        "POST",
        "/workflows/ask/run-nowait",
        r#"{"handler_id": "waiting", "start_event": {"user": 5}}"#,
    );
    server.wait_for_event("waiting", "InputRequiredEvent");
    // The `hitl` example asks from inside its step (`ctx.wait_for_event`).
    server.expect_status(
        200,
        "POST",
        "/workflows/hitl/run-nowait",
        r#"{"handler_id": "asking"}"#,
    );
    server.wait_for_event("asking", "What's your name?");
    // Let the checkpoints of the waiting runs land, then kill -9.
    std::thread::sleep(Duration::from_millis(300));
    drop(server);

    let server = Server::start(&args);
    let body = server.expect_status(200, "GET", "/handlers/done", "");
    assert_contains(&body, "pirates");
    let body = server.expect_status(202, "GET", "/handlers/waiting", "");
    assert_contains(&body, r#""status":"running""#);
    server.expect_status(
        200,
        "POST",
        "/events/waiting",
        r#"{"event": {"type": "HumanResponseEvent", "value": {"_data": {"response": "Ada"}}}}"#,
    );
    server.wait_for_event("waiting", "Hello, Ada!");
    let body = server.expect_status(200, "GET", "/handlers/waiting", "");
    assert_contains(&body, r#""status":"completed""#);
    // The stream kept its sequence: the prompt before the restart, the
    // stop event after it.
    let (status, body) = server.events("waiting");
    assert_eq!(status, 200);
    let types: Vec<String> = body
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["type"].to_string())
        .collect();
    assert_eq!(
        types,
        [r#""InputRequiredEvent""#, r#""StopEvent""#],
        "{body}"
    );
    // The step blocked in wait_for_event asks again after the restart
    // without a second prompt, and takes the answer.
    server.expect_status(202, "GET", "/handlers/asking", "");
    server.expect_status(
        200,
        "POST",
        "/events/asking",
        r#"{"event": {"type": "HumanResponseEvent", "value": {"response": "Grace"}}}"#,
    );
    server.wait_for_event("asking", "Hello, Grace!");
    let (_, body) = server.events("asking");
    assert_eq!(
        body.matches(r#""type":"InputRequiredEvent""#).count(),
        1,
        "{body}"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_with_server_drives_a_run_on_the_server_and_answers_its_prompt_from_stdin() {
    let server = Server::start(&["bench/ask", "joke", "--in-memory"]);
    let url = format!("http://{}", server.addr);
    let output = wflow_ok(
        &["run", "--server", &url, "ask", "--input", r#"{"user": 2}"#],
        Some("Ada\n"),
    );
    let text = stdout(&output);
    assert_contains(&text, "[InputRequiredEvent]");
    assert!(text.trim_end().ends_with("Hello, Ada!"), "{text}");
    assert_contains(&stderr(&output), "name?");

    let output = wflow_fails(&["run", "--server", &url, "nope"], None);
    assert_contains(&stderr(&output), "404 Not Found: Workflow not found");
}

#[test]
fn the_reference_python_client_drives_wflow_serve_unchanged() {
    // The whole examples folder, as a user would serve it, and the
    // benchmark's `ask`.
    let server = Server::start(&[".", "bench/ask", "--in-memory"]);
    let text = crate::client_check(&server.addr, &[]);
    assert!(text.contains("all 7 checks passed"), "{text}");
}
