//! `GET /metrics` after 100 runs: the counters at 100, the step calls and
//! store writes timed, nothing left running, fuel burned; a call waiting in
//! place counted while it waits; an admin token's once the server has
//! tenants.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::json;
use wflow_server::{self as server, App};
use wflow_tests::workflow;

use crate::{Stoppable, post};

/// The value of the sample `name{labels}` whose labels include every one
/// of `with`.
fn sample(text: &str, name: &str, with: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| {
            series.split('{').next() == Some(name)
                && with.iter().all(|label| series.contains(label))
        })
        .and_then(|(_, value)| value.parse().ok())
}

/// `GET /metrics`: the text.
async fn metrics_text(client: &Client, base: &str) -> String {
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_runs_show_in_the_counters_and_the_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let store = server::SqliteStore::open(&dir.path().join("h.db")).unwrap();
    let app = App::new(vec![workflow("bench-three").await])
        .unwrap()
        .with_store(std::sync::Arc::new(store))
        .await
        .unwrap();
    let served = Stoppable::serve(app).await;
    let base = served.base.clone();
    let client = Client::new();
    for n in 0..100 {
        let (status, handler) = post(
            &client,
            format!("{base}/workflows/bench_three/run"),
            json!({"start_event": {"n": n}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{handler}");
    }
    let three = "workflow=\"bench_three\"";
    // A run's answer comes once it has ended; its last store write and
    // its count follow at once.
    let mut text = String::new();
    for _ in 0..100 {
        let response = client.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        text = response.text().await.unwrap();
        if sample(
            &text,
            "wflow_store_write_seconds_count",
            &["write=\"finish\""],
        ) == Some(100.0)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(&text, "wflow_runs_started_total", &[three]),
        Some(100.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "wflow_runs_finished_total",
            &[three, "outcome=\"completed\""]
        ),
        Some(100.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "wflow_runs_running", &[three]),
        Some(0.0),
        "{text}"
    );
    for step in ["s1", "s2", "s3"] {
        let step = format!("step=\"{step}\"");
        assert_eq!(
            sample(&text, "wflow_step_call_seconds_count", &[three, &step]),
            Some(100.0),
            "{text}"
        );
        let total = sample(&text, "wflow_step_call_seconds_sum", &[three, &step]).unwrap();
        assert!(total > 0.0, "the calls took time: {total}");
        // Every call fell in a bucket.
        assert_eq!(
            sample(
                &text,
                "wflow_step_call_seconds_bucket",
                &[three, &step, "le=\"+Inf\""]
            ),
            Some(100.0)
        );
    }
    assert_eq!(
        sample(
            &text,
            "wflow_store_write_seconds_count",
            &["write=\"finish\""]
        ),
        Some(100.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "wflow_store_write_seconds_count",
            &["write=\"events\""]
        )
        .unwrap()
            >= 100.0
    );
    assert_eq!(sample(&text, "wflow_handlers_in_memory", &[]), Some(100.0));
    // What the runtime holds (shared with this binary's other tests: only
    // what they cannot change is asserted).
    let fuel = sample(&text, "wflow_fuel_burned_total", &[]).unwrap();
    assert!(fuel > 0.0, "{text}");
    assert!(sample(&text, "wflow_memory_budget_bytes", &[]).unwrap() > 0.0);
    assert!(sample(&text, "wflow_memory_in_use_bytes", &[]).is_some());
    assert!(sample(&text, "wflow_instances_in_use", &[]).is_some());
    assert!(sample(&text, "wflow_instance_slot_waiters", &[]).is_some());
    assert!(sample(&text, "wflow_queued_events", &[]).is_some());
    assert!(
        sample(&text, "wflow_instances_idle", &[three]).is_some(),
        "{text}"
    );
    // One more run burns more.
    let (status, _) = post(
        &client,
        format!("{base}/workflows/bench_three/run"),
        json!({"start_event": {"n": 100}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let text = metrics_text(&client, &base).await;
    assert!(
        sample(&text, "wflow_fuel_burned_total", &[]).unwrap() > fuel,
        "{text}"
    );
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waiting_in_place_is_counted_while_it_waits() {
    let served = Stoppable::serve(App::new(vec![workflow("waits").await]).unwrap()).await;
    let base = served.base.clone();
    let client = Client::new();
    let (status, handler) = post(
        &client,
        format!("{base}/workflows/waits/run-nowait"),
        json!({"start_event": {"mode": "count"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{handler}");
    let id = handler["handler_id"].as_str().unwrap().to_string();
    let mut waiting = None;
    for _ in 0..200 {
        let text = metrics_text(&client, &base).await;
        waiting = sample(&text, "wflow_calls_waiting_in_place", &[]);
        if waiting.is_some_and(|count| count >= 1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waiting.is_some_and(|count| count >= 1.0), "{waiting:?}");
    let (status, sent) = post(
        &client,
        format!("{base}/events/{id}"),
        json!({"event": {"type": "Approval", "value": {"user": "ada", "ok": true}}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tenants_the_metrics_take_an_admin_token() {
    use crate::tenants::{ACME, ADMIN, tenants_app};
    let served = Stoppable::serve(tenants_app().await).await;
    let url = format!("{}/metrics", served.base);
    let client = Client::new();
    let status = |token: Option<&'static str>| {
        let mut request = client.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(status(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(Some(ACME)).await, StatusCode::FORBIDDEN);
    assert_eq!(status(Some(ADMIN)).await, StatusCode::OK);
    served.stop().await;
}
