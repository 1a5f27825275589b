//! `wflow serve` over real HTTP on loopback: the reference server's routes,
//! payloads, status codes and streams (docs/SERVER-WIRE.md).

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wflow_server::{self as server, App};
use wflow_tests::workflow;

/// A server for the `joke`, `bench_ask` and `retry` workflows (named after their files)
/// on a free loopback port; its base URL.
async fn start_server() -> String {
    let workflows = vec![
        workflow("joke").await,
        workflow("bench-ask").await,
        workflow("retry").await,
    ];
    let app = App::new(workflows)
        .unwrap()
        .with_heartbeat(Duration::from_millis(300));
    serve_app(app).await
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.json().await.unwrap();
    (status, body)
}

/// `GET url`: the status and the JSON body.
async fn get(client: &Client, url: String) -> (StatusCode, Value) {
    json_of(client.get(url).send().await.unwrap()).await
}

/// `POST url` with a JSON body: the status and the JSON body.
async fn post(client: &Client, url: String, body: Value) -> (StatusCode, Value) {
    json_of(client.post(url).json(&body).send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_workflow_list() {
    let base = start_server().await;
    let client = Client::new();
    let (status, body) = get(&client, format!("{base}/health")).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "healthy"}))
    );
    let (_, body) = get(&client, format!("{base}/workflows")).await;
    assert_eq!(body, json!({"workflows": ["joke", "bench_ask", "retry"]}));
    let (status, body) = get(&client, format!("{base}/nope")).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_run_answers_the_completed_handler_with_its_stop_event() {
    let base = start_server().await;
    let client = Client::new();
    let response = client
        .post(format!("{base}/workflows/joke/run"))
        .json(&json!({"start_event": {"topic": "pirates"}}))
        .send()
        .await
        .unwrap();
    let (status, handler) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{handler}");
    assert_eq!(handler["status"], "completed");
    assert_eq!(handler["workflow_name"], "joke");
    assert_eq!(handler["error"], Value::Null);
    assert_eq!(handler["result"]["type"], "StopEvent");
    assert_eq!(handler["result"]["types"], Value::Null);
    assert_eq!(
        handler["result"]["qualified_name"],
        "workflows.events.StopEvent"
    );
    assert!(
        handler["result"]["value"]["result"]
            .as_str()
            .unwrap()
            .contains("pirates"),
        "{handler}"
    );
    let keys: Vec<&str> = handler
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "handler_id",
        "workflow_name",
        "run_id",
        "error",
        "result",
        "result_unreadable",
        "status",
        "started_at",
        "updated_at",
        "completed_at",
    ] {
        assert!(keys.contains(&key), "{key} missing from {handler}");
    }
    // The same handler, fetched: 200 completed; the deprecated route unwraps.
    let id = handler["handler_id"].as_str().unwrap();
    let (status, again) = get(&client, format!("{base}/handlers/{id}")).await;
    assert_eq!(
        (status, &again["status"]),
        (StatusCode::OK, &json!("completed"))
    );
    // Keys come in the reference's order.
    let text = client
        .get(format!("{base}/handlers/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.starts_with(r#"{"handler_id":"#)
            && text.contains(r#""result":{"value":{"result":"#)
            && text.contains(
                r#""qualified_name":"workflows.events.StopEvent","type":"StopEvent","types":null}"#
            ),
        "{text}"
    );
    let list = client
        .get(format!("{base}/handlers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.starts_with(r#"{"handlers":[{"handler_id":"#), "{list}");
    let (_, result) = get(&client, format!("{base}/results/{id}")).await;
    assert_eq!(result["result"], handler["result"]["value"]["result"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_reference_status_and_a_clear_detail() {
    let base = start_server().await;
    let client = Client::new();
    let post = |path: &str, body: &'static str| {
        client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (status, body) = json_of(post("/workflows/nope/run", "{}").await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"detail": "Workflow not found"})
        )
    );
    let (status, body) = json_of(post("/workflows/joke/run", "{not json").await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON body: "),
        "{body}"
    );
    let (status, body) = json_of(
        post(
            "/workflows/joke/run-nowait",
            r#"{"start_event": {"type": "Bogus", "value": {}}}"#,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"].as_str().unwrap().starts_with(
            "Validation error for 'start_event': Invalid event type: Bogus. Expected one of "
        ),
        "{body}"
    );
    let (status, body) = get(&client, format!("{base}/handlers/nope")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"detail": "Handler not found"})
        )
    );
    let (status, body) = json_of(
        post("/events/nope", r#"{"event": {"type": "X"}}"#)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"detail": "Handler not found"})
        )
    );
    let (status, body) = json_of(post("/events/nope", "{}").await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"detail": "Event data is required"})
        )
    );
    // Nothing was stored half-way.
    let (_, list) = get(&client, format!("{base}/handlers")).await;
    assert_eq!(list, json!({"handlers": []}));
}

/// Reads an SSE body until it closes: `(id, envelope)` per event, and the
/// number of heartbeat comments.
async fn read_sse(response: reqwest::Response) -> (Vec<(u64, Value)>, usize) {
    let mut text = String::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let mut events = Vec::new();
    let mut heartbeats = 0;
    for block in text.split("\n\n").filter(|block| !block.is_empty()) {
        if block == ": heartbeat" {
            heartbeats += 1;
            continue;
        }
        let (id, data) = block.split_once('\n').expect("id and data lines");
        let id = id
            .strip_prefix("id: ")
            .expect("an id line")
            .parse()
            .unwrap();
        let data = data.strip_prefix("data: ").expect("a data line");
        events.push((id, serde_json::from_str(data).unwrap()));
    }
    (events, heartbeats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_in_the_loop_run_streams_its_prompt_takes_the_answer_and_completes() {
    let base = start_server().await;
    let client = Client::new();
    let (status, handler) = post(&client, format!("{base}/workflows/bench_ask/run-nowait"), json!({"start_event": {"value": {"_data": {"user": 7}}, "type": "StartEvent", "qualified_name": null}, "context": {}})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(handler["status"], "running");
    let id = handler["handler_id"].as_str().unwrap().to_string();

    // Two readers from the start, one SSE and one NDJSON.
    let sse = client
        .get(format!("{base}/events/{id}?after_sequence=-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        sse.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let ndjson = client
        .get(format!(
            "{base}/events/{id}?after_sequence=-1&sse=false&include_qualified_name=false"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let internal = client
        .get(format!(
            "{base}/events/{id}?after_sequence=-1&include_internal=true"
        ))
        .send()
        .await
        .unwrap();
    let sse = tokio::spawn(read_sse(sse));
    let ndjson = tokio::spawn(async move { ndjson.text().await.unwrap() });
    let internal = tokio::spawn(read_sse(internal));

    // Running: 202. The prompt is on the stream before we answer it, and
    // the heartbeat keeps the quiet stream alive.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, running) = get(&client, format!("{base}/handlers/{id}")).await;
    assert_eq!(
        (status, &running["status"]),
        (StatusCode::ACCEPTED, &json!("running"))
    );
    let (status, sent) = post(&client, format!("{base}/events/{id}"), json!({"event": {"value": {"_data": {"response": "Ada"}}, "type": "HumanResponseEvent", "qualified_name": null}})).await;
    assert_eq!((status, sent), (StatusCode::OK, json!({"status": "sent"})));

    let (events, heartbeats) = sse.await.unwrap();
    assert!(heartbeats >= 1, "no heartbeat in 700 ms of quiet");
    assert_eq!(events.len(), 2, "{events:?}");
    // Sequences count the internal events the default reader skips, as
    // the reference's do.
    let (first_id, prompt) = &events[0];
    assert_eq!(*first_id, 2);
    assert_eq!(prompt["type"], "InputRequiredEvent");
    assert_eq!(
        prompt["value"],
        json!({"_data": {"prefix": "name?", "user": 7}})
    );
    assert_eq!(
        prompt["qualified_name"],
        "workflows.events.InputRequiredEvent"
    );
    let (last_id, stop) = &events[1];
    assert_eq!(*last_id, 6);
    assert_eq!(stop["value"], json!({"result": "Hello, Ada!"}));

    // With internal events: each step call's start and end, and the run
    // going idle while it waits for its answer.
    let (events, _) = internal.await.unwrap();
    let seen: Vec<(u64, String)> = events
        .iter()
        .map(|(id, event)| (*id, event["type"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        "StepStateChanged",
        "StepStateChanged",
        "InputRequiredEvent",
        "WorkflowIdleEvent",
        "StepStateChanged",
        "StepStateChanged",
        "StopEvent",
    ];
    assert_eq!(
        seen,
        expected
            .iter()
            .enumerate()
            .map(|(id, name)| (id as u64, name.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        events[0].1,
        json!({"value": {"name": "ask", "step_state": "running", "worker_id": "0", "input_event_name": "StartEvent", "output_event_name": null}, "qualified_name": "workflows.events.StepStateChanged", "type": "StepStateChanged", "types": ["InternalDispatchEvent"]})
    );
    assert_eq!(
        events[1].1["value"],
        json!({"name": "ask", "step_state": "not_running", "worker_id": "0", "input_event_name": "<class 'workflows.events.StartEvent'>", "output_event_name": "<class 'workflows.events.InputRequiredEvent'>"})
    );
    assert_eq!(
        events[3].1,
        json!({"value": {}, "qualified_name": "workflows.events.WorkflowIdleEvent", "type": "WorkflowIdleEvent", "types": ["InternalDispatchEvent"]})
    );
    assert_eq!(events[5].1["value"]["name"], "greet");

    let lines: Vec<Value> = ndjson
        .await
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["qualified_name"], Value::Null);
    assert_eq!(lines[1]["value"], json!({"result": "Hello, Ada!"}));

    // Finished: 200 with the result; nothing after the end is a 204; a
    // reader resuming after the prompt gets the stop event only.
    let (status, done) = get(&client, format!("{base}/handlers/{id}")).await;
    assert_eq!(
        (status, &done["result"]["value"]["result"]),
        (StatusCode::OK, &json!("Hello, Ada!"))
    );
    let after_end = client
        .get(format!("{base}/events/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(after_end.status(), StatusCode::NO_CONTENT);
    let resumed = client
        .get(format!("{base}/events/{id}"))
        .header("Last-Event-ID", "2")
        .send()
        .await
        .unwrap();
    let (events, _) = read_sse(resumed).await;
    assert_eq!(
        events.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![6]
    );

    // A finished run takes no more events.
    let (status, body) = post(
        &client,
        format!("{base}/events/{id}"),
        json!({"event": {"type": "HumanResponseEvent", "value": {"response": "again"}}}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::CONFLICT,
            json!({"detail": "Workflow already completed"})
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_a_waiting_run_and_handlers_filter_by_status_and_workflow() {
    let base = start_server().await;
    let client = Client::new();
    let start = |handler_id: &'static str| {
        client
            .post(format!("{base}/workflows/bench_ask/run-nowait"))
            .json(&json!({"start_event": {"user": 1}, "handler_id": handler_id}))
            .send()
    };
    let (status, _) = json_of(start("waiting-1").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = json_of(start("waiting-1").await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::CONFLICT,
            json!({"detail": "Handler 'waiting-1' is already running"})
        )
    );
    json_of(start("waiting-2").await.unwrap()).await;
    let (_, done) = post(
        &client,
        format!("{base}/workflows/retry/run"),
        json!({"start_event": {"fail_times": 0}}),
    )
    .await;
    assert_eq!(done["status"], "completed");

    let (status, body) = json_of(
        client
            .post(format!("{base}/handlers/waiting-1/cancel"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "cancelled"}))
    );
    let (status, cancelled) = get(&client, format!("{base}/handlers/waiting-1")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["completed_at"].is_string());
    // Its stream ends with the cancellation.
    let (events, _) = read_sse(
        client
            .get(format!("{base}/events/waiting-1?after_sequence=-1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(events.last().unwrap().1["type"], "WorkflowCancelledEvent");
    assert_eq!(events.last().unwrap().1["types"], json!(["StopEvent"]));

    let ids = |body: Value| -> Vec<String> {
        body["handlers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["handler_id"].as_str().unwrap().to_string())
            .collect()
    };
    let list = |query: &'static str| client.get(format!("{base}/handlers{query}")).send();
    let (_, all) = json_of(list("?status=&workflow_name=").await.unwrap()).await;
    assert_eq!(ids(all).len(), 3);
    let (_, running) = json_of(list("?status=running").await.unwrap()).await;
    assert_eq!(ids(running), vec!["waiting-2"]);
    let (_, some) = json_of(
        list("?status=cancelled&status=completed&workflow_name=bench_ask")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ids(some), vec!["waiting-1"]);
    let (_, none) = json_of(list("?status=bogus").await.unwrap()).await;
    assert_eq!(ids(none), Vec::<String>::new());

    // A finished handler: cancel is 404, purge deletes it.
    let (status, _) = json_of(
        client
            .post(format!("{base}/handlers/waiting-1/cancel"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = json_of(
        client
            .post(format!("{base}/handlers/waiting-1/cancel?purge=true"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "deleted"}))
    );
    let (status, _) = get(&client, format!("{base}/handlers/waiting-1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    client
        .post(format!("{base}/handlers/waiting-2/cancel"))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_events_and_the_graph_describe_the_workflow() {
    let base = start_server().await;
    let client = Client::new();
    let (status, schema) = get(&client, format!("{base}/workflows/joke/schema")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        schema["start"].is_object() && schema["stop"].is_object(),
        "{schema}"
    );
    let (_, events) = get(&client, format!("{base}/workflows/joke/events")).await;
    let titles: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|schema| schema["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"StartEvent") && titles.contains(&"StopEvent"),
        "{titles:?}"
    );
    let (status, body) = get(&client, format!("{base}/workflows/nope/events")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"detail": "Workflow 'nope' not found"})
        )
    );
    let (_, graph) = get(
        &client,
        format!("{base}/workflows/bench_ask/representation"),
    )
    .await;
    let nodes = graph["graph"]["nodes"].as_array().unwrap();
    let node = |id: &str| nodes.iter().find(|n| n["id"] == id).cloned();
    assert_eq!(node("ask").unwrap()["node_type"], "step");
    assert_eq!(
        node("InputRequiredEvent").unwrap()["produced_by"],
        json!(["ask"])
    );
    assert_eq!(node("external_step").unwrap()["node_type"], "external");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let base = start_server().await;
    let client = Client::new();
    let (status, document) = get(&client, format!("{base}/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.0.3");
    let routes = [
        ("/health", "get"),
        ("/workflows", "get"),
        ("/workflows/{name}/run", "post"),
        ("/workflows/{name}/run-nowait", "post"),
        ("/workflows/{name}/schema", "get"),
        ("/workflows/{name}/events", "get"),
        ("/workflows/{name}/representation", "get"),
        ("/results/{handler_id}", "get"),
        ("/events/{handler_id}", "get"),
        ("/events/{handler_id}", "post"),
        ("/handlers", "get"),
        ("/handlers/{handler_id}", "get"),
        ("/handlers/{handler_id}/cancel", "post"),
        ("/openapi.json", "get"),
    ];
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 13, "{:?}", paths.keys());
    for (path, method) in routes {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} is not documented"
        );
        // And the server really serves it: not the fallback's 404/405.
        let url = format!(
            "{base}{}",
            path.replace("{name}", "joke")
                .replace("{handler_id}", "none")
        );
        let response = match method {
            "get" => client.get(&url).send().await.unwrap(),
            _ => client.post(&url).body("{}").send().await.unwrap(),
        };
        if response.status() == StatusCode::NOT_FOUND
            || response.status() == StatusCode::METHOD_NOT_ALLOWED
        {
            let body: Value = response.json().await.unwrap();
            assert_ne!(body["detail"], "Not Found", "{method} {path}");
            assert_ne!(body["detail"], "Method Not Allowed", "{method} {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_runs_through_the_api_all_give_their_result() {
    let workflows = vec![workflow("bench-three").await];
    let app = App::new(workflows).unwrap();
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::serve(listener, app));
    let client = Client::new();
    let mut runs = tokio::task::JoinSet::new();
    for n in 0..200i64 {
        let (client, base) = (client.clone(), base.clone());
        runs.spawn(async move {
            let response = client
                .post(format!("{base}/workflows/bench_three/run"))
                .json(&json!({"start_event": {"n": n}}))
                .send()
                .await
                .unwrap();
            let (status, handler) = json_of(response).await;
            assert_eq!(status, StatusCode::OK, "{handler}");
            (n, handler["result"]["value"]["result"].as_i64().unwrap())
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = runs.join_next().await {
        results.push(joined.unwrap());
    }
    assert_eq!(results.len(), 200);
    for (n, result) in results {
        assert_eq!(result, (n + 1) * 2 + 3, "run {n}");
    }
    let (_, list) = get(&client, format!("{base}/handlers?status=completed")).await;
    assert_eq!(list["handlers"].as_array().unwrap().len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_are_answered_only_from_the_origins_allowed() {
    let serve = |origins: server::AllowedOrigins| async move {
        let app = App::new(vec![workflow("joke").await])
            .unwrap()
            .with_allowed_origins(origins)
            .unwrap();
        serve_app(app).await
    };
    let client = Client::new();
    // `GET /health` from a page of `origin`: the origin allowed back, if any.
    let allowed_for = |base: String, origin: &'static str| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("{base}/health"))
                .header("Origin", origin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response
        }
    };
    let allow = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };

    // By default no origin is allowed: no CORS headers at all.
    let closed = serve(server::AllowedOrigins::None).await;
    let response = allowed_for(closed.clone(), "http://ui.test").await;
    assert_eq!(allow(&response), None);

    // One origin allowed: it is echoed with credentials, a preflight is
    // answered; another origin gets nothing.
    let open = serve(server::AllowedOrigins::from_args(
        &["http://ui.test".into()],
    ))
    .await;
    let response = allowed_for(open.clone(), "http://ui.test").await;
    assert_eq!(allow(&response).as_deref(), Some("http://ui.test"));
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
    let preflight = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{open}/workflows/joke/run"),
        )
        .header("Origin", "http://ui.test")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    assert_eq!(allow(&preflight).as_deref(), Some("http://ui.test"));
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "content-type"
    );
    assert_eq!(preflight.headers()["access-control-max-age"], "600");
    let response = allowed_for(open.clone(), "http://elsewhere.test").await;
    assert_eq!(allow(&response), None);

    // `*`: any origin, echoed back (the reference's default).
    let any = serve(server::AllowedOrigins::from_args(&["*".into()])).await;
    let response = allowed_for(any.clone(), "http://elsewhere.test").await;
    assert_eq!(allow(&response).as_deref(), Some("http://elsewhere.test"));

    // An origin that is no header value is refused up front.
    let bad = App::new(vec![workflow("joke").await])
        .unwrap()
        .with_allowed_origins(server::AllowedOrigins::from_args(&["http://a\nb".into()]));
    assert!(bad.is_err());
}

/// Serves `app` on a free loopback port; its base URL.
async fn serve_app(app: App) -> String {
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(listener, app));
    format!("http://{addr}")
}

/// Runs `bench_counter` synchronously under `handler_id`, one addition per
/// worker; the count it ends with.
async fn count_under(client: &Client, base: &str, handler_id: &str) -> Value {
    let (status, handler) = post(
        client,
        format!("{base}/workflows/bench_counter/run"),
        json!({"handler_id": handler_id, "start_event": {"iterations": 1}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{handler}");
    handler["result"]["value"]["result"]["count"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_handler_id_starts_from_the_state_its_last_run_ended_with() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("handlers.db");
    let client = Client::new();
    let open = || async {
        let store = server::SqliteStore::open(&db).unwrap();
        App::new(vec![workflow("bench-counter").await])
            .unwrap()
            .with_store(std::sync::Arc::new(store))
            .await
            .unwrap()
    };

    let base = serve_app(open().await).await;
    // Eight workers add one each: 8, then 8 more under the same id.
    assert_eq!(count_under(&client, &base, "tally").await, json!(8));
    assert_eq!(count_under(&client, &base, "tally").await, json!(16));
    // Another id starts from the workflow's default state.
    assert_eq!(count_under(&client, &base, "other").await, json!(8));

    // A server started again on the same file carries the state over too.
    let base = serve_app(open().await).await;
    assert_eq!(count_under(&client, &base, "tally").await, json!(24));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_handlers_beyond_the_limit_leave_memory_and_come_back_from_the_store() {
    let client = Client::new();
    let ids = |body: &Value| -> Vec<String> {
        body["handlers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["handler_id"].as_str().unwrap().to_string())
            .collect()
    };
    let run_four = |base: String| {
        let client = client.clone();
        async move {
            for n in 0..4 {
                let (status, _) = post(&client, format!("{base}/workflows/joke/run"), json!({"handler_id": format!("joke-{n}"), "start_event": {"topic": format!("t{n}")}})).await;
                assert_eq!(status, StatusCode::OK);
            }
        }
    };

    // In memory only: the oldest finished handlers are forgotten, as the
    // reference's in-memory store forgets them.
    let app = App::new(vec![workflow("joke").await])
        .unwrap()
        .with_keep_finished(2);
    let base = serve_app(app).await;
    run_four(base.clone()).await;
    let (_, list) = get(&client, format!("{base}/handlers")).await;
    assert_eq!(ids(&list), vec!["joke-2", "joke-3"]);
    let (status, _) = get(&client, format!("{base}/handlers/joke-0")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // With a store: memory holds two, the store all four, each readable.
    let dir = tempfile::tempdir().unwrap();
    let store = server::SqliteStore::open(&dir.path().join("handlers.db")).unwrap();
    let app = App::new(vec![workflow("joke").await])
        .unwrap()
        .with_keep_finished(2)
        .with_store(std::sync::Arc::new(store))
        .await
        .unwrap();
    let base = serve_app(app).await;
    run_four(base.clone()).await;
    let (_, list) = get(&client, format!("{base}/handlers")).await;
    assert_eq!(ids(&list), vec!["joke-0", "joke-1", "joke-2", "joke-3"]);
    let (status, first) = get(&client, format!("{base}/handlers/joke-0")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        first["result"]["value"]["result"]
            .as_str()
            .unwrap()
            .contains("t0"),
        "{first}"
    );
    let (events, _) = read_sse(
        client
            .get(format!("{base}/events/joke-1?after_sequence=-1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1["type"], "StopEvent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_event_failing_its_schema_is_a_400_and_starts_nothing() {
    let base = serve_app(App::new(vec![workflow("broadcast").await]).unwrap()).await;
    let client = Client::new();
    for body in [
        json!({}),
        json!({"start_event": {"y": 1}}),
        json!({"start_event": {"x": "not a number"}}),
    ] {
        let (status, answer) = json_of(
            client
                .post(format!("{base}/workflows/broadcast/run"))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let detail = answer["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("Validation error for 'start_event': Failed to deserialize event: ")
                && detail.contains("Go")
                && detail.contains("x"),
            "{detail}"
        );
    }
    let (_, list) = get(&client, format!("{base}/handlers")).await;
    assert_eq!(list, json!({"handlers": []}));
    let (status, done) = post(
        &client,
        format!("{base}/workflows/broadcast/run"),
        json!({"start_event": {"x": 2}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
}
