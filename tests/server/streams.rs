//! Event streams, human-in-the-loop answers, cancel, handler filters, load.
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wflow_server::{self as server, App};
use wflow_tests::workflow;

use crate::{get, json_of, post, read_sse, start_server};

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
