//! The wflow side of each workload, run in a child process
//! (`benches/python/workloads.py` has the reference's side).

use std::time::Instant;

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::{Value, json};
use wflow_core::{Event, StepComponent, StepOverride, Workflow, WorkflowOptions, names};

use crate::Measurement;
use crate::driver::repo_root;

pub(crate) fn run_wflow_workload(workload: &str, size: u64) -> Result<Measurement> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (seconds, ops, result) = match workload {
            "chain" => chain(size).await?,
            "fanout" => fanout(size).await?,
            "concurrent" => concurrent(size).await?,
            "hitl" => hitl(size, false).await?,
            "waiting" => hitl(size, true).await?,
            "state" => state(size).await?,
            other => bail!("unknown workload `{other}`"),
        };
        Ok(Measurement {
            workload: workload.to_string(),
            size,
            seconds,
            ops,
            result,
        })
    })
}

/// Loads guest crate `name` with no run timeout and `overrides`.
async fn load(name: &str, overrides: &[(&str, u32)]) -> Result<Workflow> {
    let runtime = wflow_tests::runtime();
    // The driver built the guests: take the component without cargo.
    let path = repo_root()
        .join("examples-guests/target")
        .join(wflow_build::GUEST_TARGET)
        .join("release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    let component = StepComponent::load(runtime, &path).await?;
    let mut options = WorkflowOptions::named(name);
    options.timeout = None;
    for (step, num_workers) in overrides {
        options.step_overrides.insert(
            step.to_string(),
            StepOverride {
                num_workers: Some(*num_workers),
                ..StepOverride::default()
            },
        );
    }
    Ok(Workflow::from_components(
        runtime,
        vec![component],
        options,
    )?)
}

async fn result_of(workflow: &Workflow, input: Value) -> Result<Value> {
    Ok(workflow.run(input)?.result().await?.result)
}

type Outcome = (f64, u64, Value);

async fn chain(n: u64) -> Result<Outcome> {
    let workflow = load("chain", &[]).await?;
    ensure!(result_of(&workflow, json!({"n": 0})).await? == json!(10));
    let started = Instant::now();
    let mut sum = 0;
    for _ in 0..n {
        sum += result_of(&workflow, json!({"n": 0}))
            .await?
            .as_u64()
            .unwrap_or(0);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok((seconds, n, json!({"runs": n, "sum": sum})))
}

async fn fanout(n: u64) -> Result<Outcome> {
    let workflow = load("fanout", &[("work", 8)]).await?;
    result_of(&workflow, json!({"n": 10})).await?;
    let started = Instant::now();
    let result = result_of(&workflow, json!({"n": n})).await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok((
        seconds,
        n,
        json!({"count": result["count"], "sum": result["sum"]}),
    ))
}

async fn concurrent(n: u64) -> Result<Outcome> {
    let workflow = load("bench-three", &[]).await?;
    let all = |count: u64| {
        let workflow = workflow.clone();
        async move {
            let handlers = (0..count)
                .map(|i| workflow.run(json!({"n": i})))
                .collect::<Result<Vec<_>, _>>()?;
            let mut sum = 0;
            for handler in handlers {
                sum += handler.result().await?.result.as_u64().unwrap_or(0);
            }
            Ok::<_, anyhow::Error>(sum)
        }
    };
    all(10).await?;
    let started = Instant::now();
    let sum = all(n).await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok((seconds, n, json!({"runs": n, "sum": sum})))
}

/// One conversation: wait for the prompt, answer it, check the greeting.
/// With `hold`, waits for `release` before answering.
async fn converse(
    workflow: Workflow,
    user: u64,
    hold: Option<(
        tokio::sync::mpsc::Sender<()>,
        tokio::sync::watch::Receiver<bool>,
    )>,
) -> Result<bool> {
    let handler = workflow.run(json!({"user": user}))?;
    let mut stream = handler.stream_events()?;
    while let Some(event) = stream.next().await {
        if event.name != names::INPUT_REQUIRED {
            continue;
        }
        let asked: Value = serde_json::from_str(&event.data)?;
        ensure!(asked["user"] == json!(user), "a prompt for another user");
        if let Some((waiting, mut release)) = hold.clone() {
            waiting.send(()).await?;
            release.wait_for(|go| *go).await?;
        }
        let answer = Event::new(
            names::HUMAN_RESPONSE,
            &json!({"response": format!("user{user}")}),
        )?;
        handler.send_event(answer)?;
        break;
    }
    let result = handler.result().await?.result;
    Ok(result == json!(format!("Hello, user{user}!")))
}

/// `n` conversations at once. With `hold_all`, every run first waits for
/// its answer until all `n` wait (the `waiting` workload); the result also
/// says how much the process held then.
async fn hitl(n: u64, hold_all: bool) -> Result<Outcome> {
    let workflow = load("bench-ask", &[]).await?;
    let conversations = |count: u64, hold: bool| {
        let workflow = workflow.clone();
        async move {
            let (waiting_tx, mut waiting_rx) = tokio::sync::mpsc::channel(64);
            let (release_tx, release_rx) = tokio::sync::watch::channel(false);
            let mut tasks = tokio::task::JoinSet::new();
            for user in 0..count {
                let hold = hold.then(|| (waiting_tx.clone(), release_rx.clone()));
                tasks.spawn(converse(workflow.clone(), user, hold));
            }
            let mut waiting_rss = None;
            if hold {
                for _ in 0..count {
                    waiting_rx
                        .recv()
                        .await
                        .context("a conversation ended early")?;
                }
                waiting_rss = current_rss();
                release_tx.send_replace(true);
            }
            let mut correct = 0u64;
            while let Some(joined) = tasks.join_next().await {
                correct += u64::from(joined??);
            }
            Ok::<_, anyhow::Error>((correct, waiting_rss))
        }
    };
    conversations(10, false).await?;
    let started = Instant::now();
    let (correct, waiting_rss) = conversations(n, hold_all).await?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(rss) = waiting_rss {
        eprintln!(
            "wflow: {n} runs waiting for a human, resident set {:.0} MiB",
            rss as f64 / (1024.0 * 1024.0)
        );
    }
    Ok((seconds, n, json!({"runs": n, "correct": correct})))
}

async fn state(n: u64) -> Result<Outcome> {
    let workflow = load("bench-counter", &[]).await?;
    result_of(&workflow, json!({"iterations": 10})).await?;
    let started = Instant::now();
    let result = result_of(&workflow, json!({"iterations": n})).await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok((seconds, 8 * n, json!({"count": result["count"]})))
}

/// The process's resident set now, from `/proc/self/status`.
pub(crate) fn current_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
