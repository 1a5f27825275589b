//! Hostile guests against a `wflow serve` (in process, SQLite store, on
//! loopback) while a client asks `GET /health` every 10 ms and runs a joke
//! now and then: how long the server takes to answer, and its resident
//! memory before, during and after each attack.
//!
//!     cargo bench -p wflow-server --bench health_under_attack [-- --quick]
//!
//! Each attack starts its runs at once through `run-nowait` and lasts until
//! every one of them has ended (waiting runs are cancelled after a while);
//! the first one's start events are refused, after a check of a guest's
//! catastrophic JSON Schema pattern.
//! The table is printed as Markdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wflow_core::{Runtime, RuntimeConfig, StepComponent, Workflow, WorkflowOptions};
use wflow_server::{self as server, App, SqliteStore};

/// One attack: `runs` runs of `workflow` on `input`.
struct Attack {
    name: &'static str,
    workflow: &'static str,
    input: Value,
    runs: usize,
    /// Cancel the runs after this long (they would wait forever).
    cancel_after: Option<Duration>,
    /// The start events are refused (400): the attack is their check.
    refused: bool,
}

fn attacks(quick: bool) -> Vec<Attack> {
    let scale = if quick { 4 } else { 1 };
    // A string on which the backtrack guest's pattern backtracks
    // catastrophically.
    let catastrophic = format!("{}c", "a".repeat(23_000));
    vec![
        Attack {
            name: "catastrophic patterns over HTTP (23 KB start events)",
            workflow: "backtrack",
            input: json!({"text": catastrophic}),
            runs: 200 / scale,
            cancel_after: None,
            refused: true,
        },
        Attack {
            name: "infinite loops (step timeout 200 ms)",
            workflow: "hostile",
            input: json!({"mode": "infinite_loop"}),
            runs: 40 / scale,
            cancel_after: None,
            refused: false,
        },
        Attack {
            name: "memory bombs (to limits.memory, 256 MiB)",
            workflow: "hostile",
            input: json!({"mode": "memory_bomb"}),
            runs: 8 / scale,
            cancel_after: None,
            refused: false,
        },
        Attack {
            name: "stream floods (100 x 1 MiB each)",
            workflow: "hostile",
            input: json!({"mode": "stream_mib", "mib": 100}),
            runs: 4 / scale,
            cancel_after: None,
            refused: false,
        },
        Attack {
            name: "100 MB events",
            workflow: "hostile",
            input: json!({"mode": "huge_event"}),
            runs: 8 / scale,
            cancel_after: None,
            refused: false,
        },
        Attack {
            name: "a step re-emitting its event to TooManyEvents",
            workflow: "pingpong",
            input: json!({"hops": 10_000_000}),
            runs: 4 / scale,
            cancel_after: None,
            refused: false,
        },
        Attack {
            name: "runs waiting for an answer, then cancelled",
            workflow: "ask",
            input: json!({"user": 1}),
            runs: 2000 / scale,
            cancel_after: Some(Duration::from_secs(3)),
            refused: false,
        },
    ]
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|arg| arg == "--quick");
    // As `wflow` does, before any other thread.
    server::give_back_large_allocations();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        wflow_tests::guests();
        let base = start().await?;
        let client = Client::builder().pool_max_idle_per_host(64).build()?;
        // Warm up: every workflow once.
        joke(&client, &base).await?;
        println!(
            "| attack | runs | lasted | /health p50 | p99 | max | joke p50 | RSS before | peak | after |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for attack in attacks(quick) {
            let mut row = mount(&client, &base, &attack).await?;
            println!(
                "| {} | {} | {:.1} s | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} | {} |",
                attack.name,
                attack.runs,
                row.lasted.as_secs_f64(),
                ms(row.health.at(0.5)),
                ms(row.health.at(0.99)),
                ms(row.health.at(1.0)),
                ms(row.jokes.at(0.5)),
                mib(row.rss_before),
                mib(row.rss_peak),
                mib(row.rss_after),
            );
        }
        Ok(())
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// The process's resident memory, from `/proc/self/status`.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kib: u64 = line
                .trim_start_matches("VmRSS:")
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

/// Latencies, sorted on reading.
#[derive(Default)]
struct Latencies(Vec<Duration>);

impl Latencies {
    fn at(&mut self, quantile: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0.sort();
        self.0[((self.0.len() - 1) as f64 * quantile) as usize]
    }
}

struct Row {
    lasted: Duration,
    health: Latencies,
    jokes: Latencies,
    rss_before: u64,
    rss_peak: u64,
    rss_after: u64,
}

/// A server for the hostile guest, `joke`, `pingpong` and `ask` on a free
/// loopback port, its handlers in a fresh SQLite file.
async fn start() -> Result<String> {
    // As `wflow serve` sets it up: runs on threads of their own.
    let runtime = Runtime::with_config(RuntimeConfig {
        run_threads: std::thread::available_parallelism().ok(),
        ..RuntimeConfig::default()
    })?;
    let runtime = &runtime;
    let mut workflows = Vec::new();
    for (name, crate_name) in [
        ("hostile", "hostile"),
        ("joke", "joke"),
        ("pingpong", "pingpong"),
        ("backtrack", "backtrack"),
        ("ask", "bench-ask"),
    ] {
        let component =
            StepComponent::load(runtime, &wflow_tests::component_path(crate_name)).await?;
        let workflow =
            Workflow::from_components(runtime, vec![component], WorkflowOptions::named(name))?
                .with_timeout(Some(Duration::from_secs(60)));
        workflows.push(workflow);
    }
    let path = std::env::temp_dir().join(format!("wflow-attack-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let app = App::new(workflows)?
        .with_store(Arc::new(SqliteStore::open(&path)?))
        .await?;
    let listener = server::bind("127.0.0.1:0".parse()?).await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(server::serve(listener, app));
    Ok(base)
}

/// Mounts `attack`, measuring as it goes.
async fn mount(client: &Client, base: &str, attack: &Attack) -> Result<Row> {
    let rss_before = rss();
    let over = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_before));
    let health = tokio::spawn(ping_health(client.clone(), base.to_string(), over.clone()));
    let jokes = tokio::spawn(run_jokes(client.clone(), base.to_string(), over.clone()));
    let sampler = tokio::spawn({
        let (over, peak) = (over.clone(), peak.clone());
        async move {
            while !over.load(Ordering::Relaxed) {
                peak.fetch_max(rss(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let started = Instant::now();
    let mut ids = Vec::with_capacity(attack.runs);
    for _ in 0..attack.runs {
        let response = client
            .post(format!("{base}/workflows/{}/run-nowait", attack.workflow))
            .json(&json!({ "start_event": attack.input }))
            .send()
            .await?;
        if attack.refused {
            ensure!(
                response.status() == StatusCode::BAD_REQUEST,
                "{}: {}",
                attack.workflow,
                response.status()
            );
            continue;
        }
        ids.push(started_id(attack.workflow, response).await?);
    }
    if let Some(after) = attack.cancel_after {
        tokio::time::sleep(after).await;
        for id in &ids {
            client
                .post(format!("{base}/handlers/{id}/cancel"))
                .send()
                .await?;
        }
    }
    for id in &ids {
        wait_ended(client, base, id).await?;
    }
    let lasted = started.elapsed();
    over.store(true, Ordering::Relaxed);
    let health = health.await??;
    let jokes = jokes.await??;
    sampler.await?;
    // What stays once the attack is over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Row {
        lasted,
        health,
        jokes,
        rss_before,
        rss_peak: peak.load(Ordering::Relaxed),
        rss_after: rss(),
    })
}

async fn started_id(workflow: &str, response: reqwest::Response) -> Result<String> {
    ensure!(
        response.status().is_success(),
        "starting {workflow}: {}",
        response.status()
    );
    let handler: Value = response.json().await?;
    Ok(handler["handler_id"]
        .as_str()
        .context("no handler id")?
        .to_string())
}

async fn wait_ended(client: &Client, base: &str, id: &str) -> Result<()> {
    loop {
        let response = client.get(format!("{base}/handlers/{id}")).send().await?;
        if response.status() != StatusCode::ACCEPTED {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /health` every 10 ms until `over`.
async fn ping_health(client: Client, base: String, over: Arc<AtomicBool>) -> Result<Latencies> {
    let mut latencies = Latencies::default();
    while !over.load(Ordering::Relaxed) {
        let began = Instant::now();
        let response = client.get(format!("{base}/health")).send().await?;
        ensure!(
            response.status().is_success(),
            "/health: {}",
            response.status()
        );
        latencies.0.push(began.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(latencies)
}

/// A joke run every 100 ms until `over`: the neighbour's latency.
async fn run_jokes(client: Client, base: String, over: Arc<AtomicBool>) -> Result<Latencies> {
    let mut latencies = Latencies::default();
    while !over.load(Ordering::Relaxed) {
        let began = Instant::now();
        joke(&client, &base).await?;
        latencies.0.push(began.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(latencies)
}

async fn joke(client: &Client, base: &str) -> Result<()> {
    let handler: Value = client
        .post(format!("{base}/workflows/joke/run"))
        .json(&json!({"start_event": {"topic": "neighbours"}}))
        .send()
        .await?
        .json()
        .await?;
    let result = handler["result"]["value"]["result"]
        .as_str()
        .unwrap_or_default();
    ensure!(result.contains("neighbours"), "the joke run gave {handler}");
    Ok(())
}
