//! Durable runs per second with one, two and three `wflow serve` hosts on
//! one PostgreSQL database, and one host on SQLite beside them: the hosts
//! in this process, on loopback, each with its own store (its own pool and
//! host id), the load spread round-robin over them.
//!
//!     WFLOW_TEST_POSTGRES='host=/tmp/... port=54329 user=wflow dbname=wflow_test' \
//!         cargo bench -p wflow-server --bench cluster_load [-- RUNS]   # 400 by default
//!
//! (`eval "$(scripts/test-postgres.sh)"` starts a throwaway server and sets
//! the variable.) Each configuration gets a fresh database.
//!
//! Two workloads: `run` (RUNS concurrent `POST /workflows/three/run`, each
//! answered when its 3-step run ends) and `hitl` (RUNS concurrent
//! run-nowait, each started on one host, its stream followed on the next
//! and its question answered through the one after; the result fetched
//! there once the stream has ended). For the PostgreSQL rows the
//! database's counters give the write transactions and the WAL bytes per
//! run: where the time goes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use futures_util::StreamExt;
use reqwest::Client;
use serde_json::{Value, json};
use wflow_core::{StepComponent, Workflow, WorkflowOptions};
use wflow_server::{self as server, App, HostConfig, PostgresStore, SqliteStore, Store};

fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .map(|arg| arg.parse())
        .transpose()
        .context("RUNS must be a whole number")?
        .unwrap_or(400);
    let url = std::env::var("WFLOW_TEST_POSTGRES")
        .context("set WFLOW_TEST_POSTGRES (eval \"$(scripts/test-postgres.sh)\")")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        wflow_tests::guests();
        let client = Client::new();
        println!(
            "| store | hosts | workload | runs | wall | runs/s | p50 | p99 | write transactions/run | WAL/run |"
        );
        println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (label, hosts) in [("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 2), ("PostgreSQL", 3)]
        {
            let database = if label == "PostgreSQL" {
                Some(fresh_database(&url).await?)
            } else {
                None
            };
            let (bases, stops) = start(database.as_deref(), hosts).await?;
            for workload in ["run", "hitl"] {
                let before = match &database {
                    Some(db) => Some(counters(db).await?),
                    None => None,
                };
                let (wall, mut latencies) = load(&client, &bases, workload, runs).await?;
                let written = match (&database, before) {
                    (Some(db), Some(before)) => {
                        let after = counters(db).await?;
                        format!(
                            "{:.1} | {:.1} KiB",
                            (after.0 - before.0) as f64 / runs as f64,
                            (after.1 - before.1) as f64 / runs as f64 / 1024.0
                        )
                    }
                    _ => "- | -".to_string(),
                };
                latencies.sort();
                let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
                println!(
                    "| {label} | {hosts} | {workload} | {runs} | {:.2} s | {:.0} | {:.1} ms | {:.1} ms | {written} |",
                    wall.as_secs_f64(),
                    runs as f64 / wall.as_secs_f64(),
                    ms(at(0.5)),
                    ms(at(0.99)),
                );
            }
            // Stopped before the next configuration: their pools close.
            for (stop, served) in stops {
                let _ = stop.send(());
                served.await??;
            }
        }
        Ok(())
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A database of its own on the server `url` names.
async fn fresh_database(url: &str) -> Result<String> {
    let name = format!("wflow_bench_{}", fastrand::u64(..));
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    Ok(format!("{url} dbname={name}"))
}

/// The next transaction id (each transaction that writes takes one) and
/// the bytes of WAL written so far, for the whole server: exact at once,
/// unlike the statistics views.
async fn counters(url: &str) -> Result<(i64, i64)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
                    (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// A running server's stop signal and its task.
type Running = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

/// `hosts` servers for `three` and `ask` on free loopback ports, on the
/// PostgreSQL database `database` or (without one) a SQLite file; their
/// base URLs, and how to stop them.
async fn start(database: Option<&str>, hosts: usize) -> Result<(Vec<String>, Vec<Running>)> {
    let runtime = wflow_tests::runtime();
    let mut bases = Vec::new();
    let mut running = Vec::new();
    for host in 0..hosts {
        let mut workflows = Vec::new();
        for (name, crate_name) in [("three", "bench-three"), ("ask", "bench-ask")] {
            let component =
                StepComponent::load(runtime, &wflow_tests::component_path(crate_name)).await?;
            workflows.push(Workflow::from_components(
                runtime,
                vec![component],
                WorkflowOptions::named(name),
            )?);
        }
        let store: Arc<dyn Store> = match database {
            Some(url) => Arc::new(
                PostgresStore::connect_as(
                    url,
                    HostConfig {
                        id: format!("bench-{host}"),
                        lease: Duration::from_secs(10),
                    },
                )
                .await?,
            ),
            None => {
                let path = std::env::temp_dir()
                    .join(format!("wflow-cluster-load-{}.db", std::process::id()));
                let _ = std::fs::remove_file(&path);
                Arc::new(SqliteStore::open(&path)?)
            }
        };
        let app = App::new(workflows)?.with_store(store).await?;
        let listener = server::bind("127.0.0.1:0".parse()?).await?;
        bases.push(format!("http://{}", listener.local_addr()?));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(server::serve_until(listener, app, async move {
            let _ = stopped.await;
        }));
        running.push((stop, served));
    }
    Ok((bases, running))
}

/// `runs` runs of `workload` at once, spread over `bases`: the wall time
/// and each run's latency.
async fn load(
    client: &Client,
    bases: &[String],
    workload: &str,
    runs: usize,
) -> Result<(Duration, Vec<Duration>)> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..runs {
        let hosts: Vec<String> = (0..3)
            .map(|k| bases[(n + k) % bases.len()].clone())
            .collect();
        let (client, workload) = (client.clone(), workload.to_string());
        tasks.spawn(async move {
            let began = Instant::now();
            match workload.as_str() {
                "run" => three(&client, &hosts[0], n as i64).await?,
                _ => converse(&client, &hosts, n as i64).await?,
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

/// Starts an `ask` run on `hosts[0]`, follows it on `hosts[1]`, answers it
/// through `hosts[2]` and waits for its result there.
async fn converse(client: &Client, hosts: &[String], user: i64) -> Result<()> {
    let handler: Value = client
        .post(format!("{}/workflows/ask/run-nowait", hosts[0]))
        .json(&json!({"start_event": {"user": user}}))
        .send()
        .await?
        .json()
        .await?;
    let id = handler["handler_id"].as_str().context("no handler id")?;
    let mut events = client
        .get(format!(
            "{}/events/{id}?sse=false&after_sequence=-1",
            hosts[1]
        ))
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
        .post(format!("{}/events/{id}", hosts[2]))
        .json(&json!({"event": {"type": "HumanResponseEvent", "value": {"response": format!("user{user}")}}}))
        .send()
        .await?;
    ensure!(
        sent.status().is_success(),
        "answer to {id}: {}",
        sent.status()
    );
    // The stream (on the second host) ends with the stop event; then the
    // third host has the result.
    while let Some(chunk) = events.next().await {
        seen.extend_from_slice(&chunk?);
    }
    ensure!(
        String::from_utf8_lossy(&seen).contains("StopEvent"),
        "the stream of {id} ended without its stop event"
    );
    let handler: Value = client
        .get(format!("{}/handlers/{id}", hosts[2]))
        .send()
        .await?
        .json()
        .await?;
    let result = &handler["result"]["value"]["result"];
    ensure!(
        *result == json!(format!("Hello, user{user}!")),
        "conversation {user} gave {handler}"
    );
    Ok(())
}
