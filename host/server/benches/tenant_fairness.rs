//! One tenant floods a `wflow serve` (in process, as `wflow serve
//! --tenants` sets it up) while another runs jokes: how long the quiet
//! tenant's runs take, beside the same runs on an idle server.
//!
//!     cargo bench -p wflow-server --bench tenant_fairness [-- --quick]
//!
//! Tenant `noisy` (at most 16 runs at once) sends 1,000 runs of an attack,
//! 100 requests in flight at a time; tenant `quiet` runs 100 jokes, 10 at a
//! time, through `POST /workflows/joke/run`. A joke's latency there bounds
//! how long its run waited to start. The table is printed as Markdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use wflow_core::{Runtime, RuntimeConfig, StepComponent, Workflow, WorkflowOptions};
use wflow_server::tenants::{TenantsConfig, TokenHash};
use wflow_server::{self as server, App};

const NOISY: &str = "wflow_noisy";
const QUIET: &str = "wflow_quiet";

fn main() -> Result<()> {
    let quick = std::env::args().any(|arg| arg == "--quick");
    server::give_back_large_allocations();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        wflow_tests::guests();
        let base = start().await?;
        let client = Client::builder().pool_max_idle_per_host(128).build()?;
        let attacks: [(&str, Option<Value>); 4] = [
            ("none (an idle server)", None),
            (
                "1,000 infinite loops (step timeout 200 ms)",
                Some(json!({"mode": "infinite_loop"})),
            ),
            (
                "1,000 memory bombs (limits.memory 256 MiB)",
                Some(json!({"mode": "memory_bomb"})),
            ),
            (
                "1,000 stream floods (10 x 1 MiB each)",
                Some(json!({"mode": "stream_mib", "mib": 10})),
            ),
        ];
        let (flood, jokes) = if quick { (250, 40) } else { (1000, 100) };
        run_jokes(&client, &base, 10).await?;
        println!(
            "| noisy tenant's attack | admitted | refused (403) | quiet jokes | p50 | p99 | max |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (name, attack) in attacks {
            let noise = attack
                .map(|input| tokio::spawn(flood_with(client.clone(), base.clone(), input, flood)));
            let mut latencies = run_jokes(&client, &base, jokes).await?;
            let (admitted, refused) = match noise {
                Some(noise) => noise.await??,
                None => (0, 0),
            };
            latencies.sort();
            let at = |q: f64| {
                latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0
            };
            println!(
                "| {name} | {admitted} | {refused} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
                latencies.len(),
                at(0.5),
                at(0.99),
                at(1.0)
            );
            // Let the noisy tenant's last runs end before the next row.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Ok(())
    })
}

/// The server: `joke` and the hostile guest, two tenants.
async fn start() -> Result<String> {
    let runtime = Runtime::with_config(RuntimeConfig {
        run_threads: std::thread::available_parallelism().ok(),
        ..RuntimeConfig::default()
    })?;
    let mut workflows = Vec::new();
    for name in ["joke", "hostile"] {
        let component = StepComponent::load(&runtime, &wflow_tests::component_path(name)).await?;
        workflows.push(Workflow::from_components(
            &runtime,
            vec![component],
            WorkflowOptions::named(name),
        )?);
    }
    let tenants = TenantsConfig::parse(&format!(
        r#"
        [tenants.noisy]
        tokens = [{{ sha256 = "{noisy}" }}]
        quotas = {{ max_concurrent_runs = 16, runs_per_minute = 1000000 }}
        [tenants.quiet]
        tokens = [{{ sha256 = "{quiet}" }}]
        quotas = {{ max_concurrent_runs = 100, runs_per_minute = 1000000 }}
        "#,
        noisy = TokenHash::of(NOISY),
        quiet = TokenHash::of(QUIET),
    ))
    .map_err(anyhow::Error::msg)?;
    let app = App::new(workflows)?.with_tenants(&tenants)?;
    let listener = server::bind("127.0.0.1:0".parse()?).await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(server::serve(listener, app));
    Ok(base)
}

/// `runs` runs of the hostile guest on `input` as the noisy tenant, 100
/// requests in flight; how many were admitted and refused.
async fn flood_with(
    client: Client,
    base: String,
    input: Value,
    runs: usize,
) -> Result<(usize, usize)> {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(100));
    let mut requests = JoinSet::new();
    for _ in 0..runs {
        let permit = in_flight.clone().acquire_owned().await?;
        let (client, base, input) = (client.clone(), base.clone(), input.clone());
        requests.spawn(async move {
            let response = client
                .post(format!("{base}/workflows/hostile/run-nowait"))
                .bearer_auth(NOISY)
                .json(&json!({ "start_event": input }))
                .send()
                .await;
            drop(permit);
            response.map(|response| response.status())
        });
    }
    let (mut admitted, mut refused) = (0, 0);
    while let Some(status) = requests.join_next().await {
        match status?? {
            StatusCode::OK => admitted += 1,
            StatusCode::FORBIDDEN => refused += 1,
            other => anyhow::bail!("a noisy run answered {other}"),
        }
    }
    Ok((admitted, refused))
}

/// `runs` jokes as the quiet tenant, 10 at a time; each one's latency.
async fn run_jokes(client: &Client, base: &str, runs: usize) -> Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(runs);
    for batch in 0..runs.div_ceil(10) {
        let mut jokes = JoinSet::new();
        for _ in 0..10.min(runs - batch * 10) {
            let (client, base) = (client.clone(), base.to_string());
            jokes.spawn(async move {
                let started = Instant::now();
                let response = client
                    .post(format!("{base}/workflows/joke/run"))
                    .bearer_auth(QUIET)
                    .json(&json!({"start_event": {"topic": "fairness"}}))
                    .send()
                    .await?;
                let status = response.status();
                ensure!(status == StatusCode::OK, "a quiet joke answered {status}");
                Ok(started.elapsed())
            });
        }
        while let Some(latency) = jokes.join_next().await {
            latencies.push(latency??);
        }
    }
    Ok(latencies)
}
