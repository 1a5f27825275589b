//! What a careless or hostile client cannot do: choose a handler id that
//! breaks things, take over another workflow's handler, or get an answer
//! that is not `{"detail": ...}`.

use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::{get, post, start_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_ids_are_checked_and_belong_to_one_workflow_for_good() {
    let base = start_server().await;
    let client = Client::new();
    let long = "a".repeat(1024 * 1024);
    for (id, problem) in [
        (long.as_str(), "at most 128"),
        ("nul\u{0}byte", "letters, digits"),
        ("../../etc/passwd", "letters, digits"),
        (".hidden", "dot"),
    ] {
        let (status, answer) = post(
            &client,
            format!("{base}/workflows/joke/run"),
            json!({"handler_id": id, "start_event": {"topic": "ids"}}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let detail = answer["detail"].as_str().unwrap();
        assert!(detail.contains(problem), "{detail}");
    }
    let (_, list) = get(&client, format!("{base}/handlers")).await;
    assert_eq!(list, json!({"handlers": []}), "nothing started");

    let (status, joke) = post(
        &client,
        format!("{base}/workflows/joke/run"),
        json!({"handler_id": "alice-joke", "start_event": {"topic": "ids"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{joke}");
    let (status, answer) = post(
        &client,
        format!("{base}/workflows/bench_ask/run-nowait"),
        json!({"handler_id": "alice-joke", "start_event": {"user": 1}}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(
        answer["detail"],
        "Handler 'alice-joke' belongs to workflow 'joke'"
    );
    let (_, kept) = get(&client, format!("{base}/handlers/alice-joke")).await;
    assert_eq!(kept["workflow_name"], "joke");
    assert_eq!(kept["result"], joke["result"], "the joke's result is kept");

    // Fresh ids are long and random.
    let (_, fresh) = post(
        &client,
        format!("{base}/workflows/joke/run"),
        json!({"start_event": {"topic": "ids"}}),
    )
    .await;
    let id = fresh["handler_id"].as_str().unwrap();
    assert_eq!(id.len(), 22, "{id}");
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_below_the_routes_are_json_too() {
    let base = start_server().await;
    let client = Client::new();
    let too_large = client
        .post(format!("{base}/workflows/joke/run"))
        .header("Content-Type", "application/json")
        .body(vec![b' '; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = too_large.json().await.unwrap();
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );

    // A fresh connection: the server closes the one whose 3 MB body it refused.
    let not_utf8 = Client::new()
        .get(format!("{base}/handlers/%FF%FE"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_utf8.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = not_utf8.json().await.unwrap();
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_refused_and_silent_ones_are_closed() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use wflow_server::{App, ConnectionLimits};

    let app = App::new(vec![wflow_tests::workflow("joke").await])
        .unwrap()
        .with_connection_limits(ConnectionLimits {
            max_connections: 3,
            header_read_timeout: Duration::from_millis(300),
        });
    let base = crate::serve_app(app).await;
    let addr = base.trim_start_matches("http://").to_string();
    // Two silent connections and one that stops half-way through its
    // headers fill the server.
    let mut held = Vec::new();
    for partial in ["", "", "GET /health HTTP/1.1\r\nHo"] {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(partial.as_bytes()).await.unwrap();
        held.push(stream);
    }
    // Connections are accepted in order: the fourth is over the limit.
    let mut fourth = TcpStream::connect(&addr).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), fourth.read_to_string(&mut answer))
        .await
        .expect("the refusal comes at once")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains(r#"{"detail":"the server has 3 connections open"#),
        "{answer}"
    );
    // The server closes each of them once its headers are overdue.
    for mut stream in held {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
            .await
            .expect("the server closes a silent connection");
        assert!(closed.is_ok());
    }
    // And answers again.
    let client = Client::new();
    let (status, _) = get(&client, format!("{base}/health")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_left_idle_after_a_request_is_closed() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use wflow_server::{App, ConnectionLimits};

    let app = App::new(vec![wflow_tests::workflow("joke").await])
        .unwrap()
        .with_connection_limits(ConnectionLimits {
            max_connections: 16,
            header_read_timeout: Duration::from_millis(300),
        });
    let base = crate::serve_app(app).await;
    let addr = base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // The answer comes, the connection stays open (HTTP/1.1 keep-alive),
    // and the client says nothing more: the server closes it.
    let idle_from = Instant::now();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .expect("the server closes an idle kept-alive connection")
        .unwrap();
    let answer = String::from_utf8_lossy(&received);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#"{"status":"healthy"}"#), "{answer}");
    assert!(
        idle_from.elapsed() >= Duration::from_millis(250),
        "closed only once idle for the timeout, not at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_servers_log_memory_new_runs_wait_for_the_logs_to_shrink() {
    use futures_util::StreamExt;
    use std::time::Duration;
    use wflow_server::App;

    // One byte for all logs: the first run's events pass it at once.
    let app = App::new(vec![wflow_tests::workflow("bench-ask").await])
        .unwrap()
        .with_log_memory_total(1);
    let base = crate::serve_app(app).await;
    let client = Client::new();
    let run = || {
        post(
            &client,
            format!("{base}/workflows/bench_ask/run-nowait"),
            json!({"start_event": {"user": 1}}),
        )
    };
    let (status, first) = run().await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let id = first["handler_id"].as_str().unwrap().to_string();
    let response = client
        .get(format!("{base}/events/{id}?sse=false&after_sequence=-1"))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("InputRequiredEvent") {
        seen.extend_from_slice(&stream.next().await.expect("the prompt comes").unwrap());
    }
    // The running handler holds its events: a new run is refused, naming
    // why, and nothing starts.
    let (status, refused) = run().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("the handlers' event logs hold ")
            && detail.contains("past the server's 1 B (--log-memory-total)"),
        "{detail}"
    );
    let (_, listed) = get(&client, format!("{base}/handlers")).await;
    assert_eq!(listed["handlers"].as_array().unwrap().len(), 1, "{listed}");
    // Once it has ended, the finished handler leaves memory (there is no
    // store) and runs start again.
    let (status, _) = post(
        &client,
        format!("{base}/events/{id}"),
        json!({"event": {"type": "HumanResponseEvent", "value": {"response": "Ada"}}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    while stream.next().await.is_some() {}
    let mut admitted = None;
    for _ in 0..100 {
        let (status, body) = run().await;
        if status == StatusCode::OK {
            admitted = Some(body);
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        admitted.is_some(),
        "no run was admitted once the logs shrank"
    );
    let (status, _) = get(&client, format!("{base}/handlers/{id}")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the finished handler was forgotten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_event_that_backtracks_a_guests_pattern_is_refused_not_run_for_seconds() {
    use wflow_server::App;

    // The backtrack guest's start event publishes the pattern of issue 14,
    // which backtracks catastrophically on `aaa…ac`.
    let app = App::new(vec![wflow_tests::workflow("backtrack").await]).unwrap();
    let base = crate::serve_app(app).await;
    let client = Client::new();
    let catastrophic = format!("{}c", "a".repeat(23_000));
    let (status, refused) = post(
        &client,
        format!("{base}/workflows/backtrack/run"),
        json!({"start_event": {"text": catastrophic}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("Max limit for backtracking count exceeded"),
        "{detail}"
    );
    let (_, listed) = get(&client, format!("{base}/handlers")).await;
    assert_eq!(listed["handlers"], json!([]), "nothing started");
    // A word the pattern takes at once runs.
    let (status, ran) = post(
        &client,
        format!("{base}/workflows/backtrack/run"),
        json!({"start_event": {"text": "aaac"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ran}");
    assert_eq!(ran["result"]["value"]["result"], json!(4));
}
