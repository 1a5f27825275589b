//! A bounded load test of `wflow serve` on loopback: N runs through the API
//! at once, every result checked, with the handlers in SQLite (as `wflow
//! serve` keeps them by default) and in memory.
//!
//!     cargo bench -p wflow-server --bench serve_load [-- RUNS]   # 200 by default
//!
//! Three workloads: `run` (N concurrent `POST /workflows/three/run`, each
//! answered when its 3-step run ends), `hitl` (N concurrent run-nowait,
//! each followed on its NDJSON event stream, answered, and fetched) and
//! `fanout` (32 concurrent `POST /workflows/fanout/run` with n = 1,000:
//! 32,000 work items, each a stored event, at once).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use futures_util::StreamExt;
use reqwest::Client;
use serde_json::{Value, json};
use wflow_core::{StepComponent, Workflow, WorkflowOptions};
use wflow_server::{self as server, App, SqliteStore};

fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .map(|arg| arg.parse())
        .transpose()
        .context("RUNS must be a whole number")?
        .unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        wflow_tests::guests();
        println!("| store | workload | runs | wall | p50 | p99 | max |");
        println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        for sqlite in [true, false] {
            let base = start(sqlite).await?;
            let client = Client::new();
            let store = if sqlite { "SQLite" } else { "memory" };
            for workload in ["run", "hitl", "fanout"] {
                let runs = if workload == "fanout" { FANOUTS } else { runs };
                let (wall, mut latencies) = load(&client, &base, workload, runs).await?;
                latencies.sort();
                let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
                println!(
                    "| {store} | {workload} | {runs} | {:.3} s | {:.1} ms | {:.1} ms | {:.1} ms |",
                    wall.as_secs_f64(),
                    ms(at(0.5)),
                    ms(at(0.99)),
                    ms(at(1.0)),
                );
            }
        }
        Ok(())
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A server for `three` and `ask` on a free loopback port.
async fn start(sqlite: bool) -> Result<String> {
    let runtime = wflow_tests::runtime();
    let mut workflows = Vec::new();
    for (name, crate_name) in [
        ("three", "bench-three"),
        ("ask", "bench-ask"),
        ("fanout", "fanout"),
    ] {
        let component =
            StepComponent::load(runtime, &wflow_tests::component_path(crate_name)).await?;
        workflows.push(Workflow::from_components(
            runtime,
            vec![component],
            WorkflowOptions::named(name),
        )?);
    }
    let mut app = App::new(workflows)?;
    if sqlite {
        let path = std::env::temp_dir().join(format!("wflow-load-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        app = app.with_store(Arc::new(SqliteStore::open(&path)?)).await?;
    }
    let listener = server::bind("127.0.0.1:0".parse()?).await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(server::serve(listener, app));
    Ok(base)
}

/// `runs` runs of `workload` at once: the wall time and each run's latency.
async fn load(
    client: &Client,
    base: &str,
    workload: &str,
    runs: usize,
) -> Result<(Duration, Vec<Duration>)> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..runs as i64 {
        let (client, base, workload) = (client.clone(), base.to_string(), workload.to_string());
        tasks.spawn(async move {
            let began = Instant::now();
            match workload.as_str() {
                "run" => three(&client, &base, n).await?,
                "fanout" => fanout(&client, &base).await?,
                _ => converse(&client, &base, n).await?,
            }
            Ok::<_, anyhow::Error>(began.elapsed())
        });
    }
    let mut latencies = Vec::with_capacity(runs);
    while let Some(joined) = tasks.join_next().await {
        latencies.push(joined??);
    }
    Ok((started.elapsed(), latencies))
}

/// Fan-out runs at once in the `fanout` workload, and their width.
const FANOUTS: usize = 32;
const FANOUT_WIDTH: i64 = 1_000;

async fn fanout(client: &Client, base: &str) -> Result<()> {
    let handler: Value = client
        .post(format!("{base}/workflows/fanout/run"))
        .json(&json!({"start_event": {"n": FANOUT_WIDTH}}))
        .send()
        .await?
        .json()
        .await?;
    let result = &handler["result"]["value"]["result"];
    let sum = FANOUT_WIDTH * (FANOUT_WIDTH - 1) / 2;
    ensure!(
        *result == json!({"sum": sum, "count": FANOUT_WIDTH}),
        "fanout gave {handler}"
    );
    Ok(())
}

async fn three(client: &Client, base: &str, n: i64) -> Result<()> {
    let handler: Value = client
        .post(format!("{base}/workflows/three/run"))
        .json(&json!({"start_event": {"n": n}}))
        .send()
        .await?
        .json()
        .await?;
    let result = &handler["result"]["value"]["result"];
    ensure!(*result == json!((n + 1) * 2 + 3), "run {n} gave {handler}");
    Ok(())
}

async fn converse(client: &Client, base: &str, user: i64) -> Result<()> {
    let handler: Value = client
        .post(format!("{base}/workflows/ask/run-nowait"))
        .json(&json!({"start_event": {"user": user}}))
        .send()
        .await?
        .json()
        .await?;
    let id = handler["handler_id"].as_str().context("no handler id")?;
    let mut events = client
        .get(format!("{base}/events/{id}?sse=false&after_sequence=-1"))
        .send()
        .await?
        .bytes_stream();
    let mut seen = Vec::new();
    while let Some(chunk) = events.next().await {
        seen.extend_from_slice(&chunk?);
        if String::from_utf8_lossy(&seen).contains("InputRequiredEvent") {
            break;
        }
    }
    let sent = client
        .post(format!("{base}/events/{id}"))
        .json(&json!({"event": {"type": "HumanResponseEvent", "value": {"response": format!("user{user}")}}}))
        .send()
        .await?;
    ensure!(
        sent.status().is_success(),
        "answer to {id}: {}",
        sent.status()
    );
    loop {
        let response = client.get(format!("{base}/handlers/{id}")).send().await?;
        let status = response.status();
        let handler: Value = response.json().await?;
        if status == reqwest::StatusCode::ACCEPTED {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        let result = &handler["result"]["value"]["result"];
        ensure!(
            *result == json!(format!("Hello, user{user}!")),
            "conversation {user} gave {handler}"
        );
        return Ok(());
    }
}
