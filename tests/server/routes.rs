//! The routes: health, workflows, synchronous runs, bad requests, schemas,
//! the graph and the OpenAPI document.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wflow_server::App;
use wflow_tests::workflow;

use crate::{get, json_of, post, serve_app, start_server};

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
        ("/", "get"),
        ("/health", "get"),
        ("/workflows", "get"),
        ("/workflows/{name}/run", "post"),
        ("/workflows/{name}/run-nowait", "post"),
        ("/workflows/{name}/schema", "get"),
        ("/workflows/{name}/events", "get"),
        ("/workflows/{name}/representation", "get"),
        ("/workflows/{name}/graph.svg", "get"),
        ("/results/{handler_id}", "get"),
        ("/events/{handler_id}", "get"),
        ("/events/{handler_id}", "post"),
        ("/handlers", "get"),
        ("/handlers/{handler_id}", "get"),
        ("/handlers/{handler_id}/state", "get"),
        ("/handlers/{handler_id}/cancel", "post"),
        ("/openapi.json", "get"),
        ("/usage", "get"),
        ("/metrics", "get"),
        ("/deployments", "get"),
        ("/deployments", "post"),
        ("/admin/reload", "post"),
        ("/admin/tenants", "get"),
        ("/admin/tenants/{name}", "get"),
        ("/admin/tenants/{name}", "put"),
        ("/admin/tenants/{name}", "delete"),
        ("/admin/tenants/{name}/tokens", "post"),
        ("/admin/tenants/{name}/tokens/{token}", "delete"),
    ];
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 25, "{:?}", paths.keys());
    assert!(
        paths["/deployments/{name}/{version}"]["delete"].is_object(),
        "DELETE /deployments/{{name}}/{{version}} is not documented"
    );
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
                .replace("{token}", "none")
        );
        let response = match method {
            "get" => client.get(&url).send().await.unwrap(),
            "put" => client.put(&url).body("{}").send().await.unwrap(),
            "delete" => client.delete(&url).send().await.unwrap(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debugger_page_its_graphs_and_a_runs_state_are_served() {
    let base = start_server().await;
    let client = Client::new();
    let page = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let header = |response: &reqwest::Response, name: &str| {
        response.headers()[name].to_str().unwrap().to_string()
    };
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let policy = header(&page, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/ui/app.js">"#), "{html}");
    assert!(
        !html.contains("http"),
        "the page loads nothing from elsewhere"
    );
    for (path, kind) in [
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let asset = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(asset.status(), StatusCode::OK, "{path}");
        assert!(header(&asset, "content-type").starts_with(kind), "{path}");
        assert!(asset.text().await.unwrap().len() > 1000, "{path}");
    }

    let graph = client
        .get(format!("{base}/workflows/bench_ask/graph.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(graph.status(), StatusCode::OK);
    assert_eq!(header(&graph, "content-type"), "image/svg+xml");
    let svg = graph.text().await.unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(
        svg.contains(r#"class="node step" data-step="ask""#),
        "{svg}"
    );
    assert!(
        svg.contains(r#"class="node event" data-event="InputRequiredEvent""#),
        "{svg}"
    );
    let (status, body) = get(&client, format!("{base}/workflows/nope/graph.svg")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A waiting run's state as it is now, a finished one's as it ended.
    let (status, started) = post(
        &client,
        format!("{base}/workflows/bench_ask/run-nowait"),
        json!({"start_event": {"type": "StartEvent", "value": {"user": 7}}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let id = started["handler_id"].as_str().unwrap();
    let (status, state) = get(&client, format!("{base}/handlers/{id}/state")).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert!(state["state"].is_object(), "{state}");
    let (status, done) = post(
        &client,
        format!("{base}/workflows/joke/run"),
        json!({"start_event": {"topic": "pirates"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let id = done["handler_id"].as_str().unwrap();
    let (status, state) = get(&client, format!("{base}/handlers/{id}/state")).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert!(state["state"].is_object(), "{state}");
    let (status, body) = get(&client, format!("{base}/handlers/nobody/state")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
