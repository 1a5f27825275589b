//! `wflow serve` killed with SIGKILL again and again while its runs
//! stream: every handler's stream comes back whole, numbered without gaps,
//! in order, ending with its stop event, as an uninterrupted run's.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::scratch;
use crate::server::Server;

/// Runs streaming at once; every other one has two parallel branches.
const RUNS: u64 = 12;
/// SIGKILLs while they stream.
const KILLS: usize = 20;
/// Laps per branch (two `Progress` events each) and the pause after each.
const LAPS: u64 = 300;
const PAUSE_MS: u64 = 10;

fn start_event(width: u64) -> Value {
    json!({ "laps": LAPS, "width": width, "pause_ms": PAUSE_MS })
}

/// The status of handler `id`.
fn status(server: &Server, id: &str) -> String {
    let (_, body) = server.request("GET", &format!("/handlers/{id}"), "");
    let record: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    record["status"].as_str().unwrap_or("unknown").to_string()
}

/// The `(branch, lap, part)` of each `Progress` event of a stream, in order.
fn progress(events: &[(u64, Value)]) -> Vec<(u64, u64, u64)> {
    events
        .iter()
        .filter(|(_, event)| event["type"] == "Progress")
        .map(|(_, event)| {
            let field = |name: &str| event["value"][name].as_u64().expect("a number");
            (field("branch"), field("lap"), field("part"))
        })
        .collect()
}

/// Checks one finished handler's stream; its progress events.
fn check_stream(id: &str, events: &[(u64, Value)], width: u64) -> Vec<(u64, u64, u64)> {
    let ids: Vec<u64> = events.iter().map(|(id, _)| *id).collect();
    let contiguous: Vec<u64> = (0..events.len() as u64).collect();
    assert_eq!(
        ids, contiguous,
        "{id}: sequence numbers run from 0 without a gap"
    );
    let stops = events
        .iter()
        .filter(|(_, event)| event["type"] == "StopEvent")
        .count();
    assert_eq!(stops, 1, "{id}: one stop event");
    let last = &events.last().expect("events").1;
    assert_eq!(
        last["type"], "StopEvent",
        "{id}: the stream ends with its stop event"
    );
    assert_eq!(last["value"]["result"], json!({ "branches": width }));
    let seen = progress(events);
    for branch in 0..width {
        let expected: Vec<(u64, u64, u64)> = (0..LAPS)
            .flat_map(|lap| (0..2).map(move |part| (branch, lap, part)))
            .collect();
        let streamed: Vec<(u64, u64, u64)> = seen
            .iter()
            .copied()
            .filter(|(b, _, _)| *b == branch)
            .collect();
        if let Some(at) =
            (0..streamed.len().max(expected.len())).find(|&at| streamed.get(at) != expected.get(at))
        {
            panic!(
                "{id}: branch {branch} streamed {} events where {} were due; the first difference is at {at}: {:?} where {:?} was due",
                streamed.len(),
                expected.len(),
                &streamed[at..streamed.len().min(at + 6)],
                expected.get(at),
            );
        }
    }
    assert_eq!(seen.len() as u64, width * LAPS * 2, "{id}: nothing else");
    seen
}

#[test]
fn streams_come_back_whole_after_twenty_kill_9s() {
    let dir = scratch("crash", "");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("handlers.db");
    let args = ["testing/ticker", "--db", db.to_str().unwrap()];

    let mut server = Server::start(&args);
    for run in 0..RUNS {
        let body = json!({
            "handler_id": format!("t{run}"),
            "start_event": start_event(1 + run % 2),
        });
        server.expect_status(
            200,
            "POST",
            "/workflows/ticker/run-nowait",
            &body.to_string(),
        );
    }
    let mut rng = fastrand::Rng::with_seed(14);
    let mut while_streaming = 0;
    for _ in 0..KILLS {
        std::thread::sleep(Duration::from_millis(rng.u64(100..400)));
        let (_, list) = server.request("GET", "/handlers", "");
        if list.contains(r#""status":"running""#) {
            while_streaming += 1;
        }
        // Dropping the child kills it with SIGKILL.
        drop(server);
        server = Server::start(&args);
    }
    assert!(
        while_streaming >= KILLS * 3 / 4,
        "only {while_streaming} of {KILLS} kills hit streaming runs"
    );

    let deadline = Instant::now() + Duration::from_secs(180);
    for run in 0..RUNS {
        let id = format!("t{run}");
        loop {
            match status(&server, &id).as_str() {
                "completed" => break,
                "running" if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                other => panic!("{id} ended {other}: {}", server.events(&id).1),
            }
        }
    }
    // An uninterrupted run of each shape, for comparison.
    let mut uninterrupted = Vec::new();
    for width in [1, 2] {
        let id = format!("whole{width}");
        let body = json!({ "handler_id": id, "start_event": start_event(width) });
        server.expect_status(200, "POST", "/workflows/ticker/run", &body.to_string());
        let events = server.sse_events(&id);
        let mut seen = check_stream(&id, &events, width);
        seen.sort_unstable();
        uninterrupted.push(seen);
    }
    for run in 0..RUNS {
        let id = format!("t{run}");
        let width = 1 + run % 2;
        let mut seen = check_stream(&id, &server.sse_events(&id), width);
        if width == 1 {
            assert_eq!(seen, uninterrupted[0], "{id}: as an uninterrupted run");
        }
        seen.sort_unstable();
        assert_eq!(
            seen,
            uninterrupted[width as usize - 1],
            "{id}: the events of an uninterrupted run"
        );
    }
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_run_left_unresumed_by_a_restart_can_still_be_cancelled() {
    // A run waits for an answer; the server is killed and started again
    // without its workflow: the handler is listed running with no run
    // behind it. Cancelling it must end it, not wait forever.
    let dir = scratch("crash-unserved", "");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("handlers.db");
    let db = db.to_str().unwrap();
    let server = Server::start(&["bench/ask", "--db", db]);
    let body = server.expect_status(
        200,
        "POST",
        "/workflows/ask/run-nowait",
        r#"{"start_event": {"user": 1}}"#,
    );
    let id = serde_json::from_str::<Value>(&body).unwrap()["handler_id"]
        .as_str()
        .unwrap()
        .to_string();
    server.wait_for_event(&id, "InputRequiredEvent");
    drop(server);
    let server = Server::start(&["joke", "--db", db]);
    assert_eq!(status(&server, &id), "running");
    let cancelled = server.expect_status(200, "POST", &format!("/handlers/{id}/cancel"), "");
    assert_eq!(cancelled, r#"{"status":"cancelled"}"#);
    assert_eq!(status(&server, &id), "cancelled");
    drop(server);
    // And so it stays.
    let server = Server::start(&["joke", "--db", db]);
    assert_eq!(status(&server, &id), "cancelled");
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}
