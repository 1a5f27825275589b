//! wflow beside llama-index-workflows 2.26.1 (the reference), on the same
//! five workloads, in one command:
//!
//!     cargo bench -p wflow-host --bench compare             # full, ~5 min
//!     cargo bench -p wflow-host --bench compare -- --quick  # under a minute
//!
//! It sets up the reference in a virtualenv (`target/bench-venv`, or
//! `--python`), builds the guests, then runs every workload on both sides
//! alternately, each run in a process of its own so that its peak RSS is its
//! own (`wait4`). Both sides must give the same result object, or the
//! command fails. It prints a table of medians and writes it to
//! `target/bench-compare.md`.
//!
//! The workloads (`benches/python/workloads.py` has the reference's side):
//! - chain: a 10-step chain, N runs one after another (runs/s);
//! - fanout: N events to a step with 8 workers, collected and summed
//!   (events/s; the reference is quadratic here, so its size is capped and
//!   wflow also runs 10,000);
//! - concurrent: N runs of a 3-step workflow started at once (runs/s);
//! - hitl: N runs each waiting for an answer sent from outside
//!   (round trips/s);
//! - state: 8 workers each doing N transactional increments (edits/s);
//! - waiting (wflow only): N runs all waiting for a human at once, then
//!   answered (peak RSS is the figure).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail, ensure};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wflow_core::{Event, StepComponent, StepOverride, Workflow, WorkflowOptions, names};

/// The reference package and version compared against.
const REFERENCE: &str = "llama-index-workflows==2.26.1";

#[derive(Parser, Debug)]
#[command(about = "wflow beside llama-index-workflows, workload by workload")]
struct Args {
    /// Small sizes and fewer rounds: under a minute.
    #[arg(long)]
    quick: bool,
    /// Rounds per workload and side (default 5, 3 with --quick).
    #[arg(long)]
    rounds: Option<usize>,
    /// Only these workloads (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The Python interpreter with the reference installed (default: a
    /// virtualenv in target/bench-venv, created when missing).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Internal: run one workload on wflow in this process and print its
    /// measurement as JSON.
    #[arg(long, num_args = 2, value_names = ["WORKLOAD", "SIZE"])]
    child: Option<Vec<String>>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// One measured run of one side, as both sides print it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Measurement {
    workload: String,
    size: u64,
    seconds: f64,
    ops: u64,
    result: Value,
}

/// A workload at one size: the reference's size is `None` when it cannot
/// finish that size in minutes.
struct Case {
    workload: &'static str,
    size: u64,
    reference: bool,
    unit: &'static str,
}

fn cases(quick: bool) -> Vec<Case> {
    let case = |workload, size, reference, unit| Case {
        workload,
        size,
        reference,
        unit,
    };
    if quick {
        vec![
            case("chain", 200, true, "runs/s"),
            case("fanout", 250, true, "events/s"),
            case("concurrent", 200, true, "runs/s"),
            case("hitl", 200, true, "round trips/s"),
            case("state", 200, true, "edits/s"),
            case("waiting", 1_000, false, "runs"),
        ]
    } else {
        vec![
            case("chain", 1_000, true, "runs/s"),
            case("fanout", 1_000, true, "events/s"),
            case("fanout", 10_000, false, "events/s"),
            case("concurrent", 1_000, true, "runs/s"),
            case("hitl", 1_000, true, "round trips/s"),
            case("state", 1_000, true, "edits/s"),
            case("waiting", 10_000, false, "runs"),
        ]
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(child) = &args.child {
        let size = child[1].parse().context("SIZE must be a whole number")?;
        let measurement = run_wflow_workload(&child[0], size)?;
        println!("{}", serde_json::to_string(&measurement)?);
        return Ok(());
    }
    compare(&args)
}

// ---------------------------------------------------------------------------
// The driver.

/// A finished child: its measurement and peak RSS in bytes.
struct Sample {
    measurement: Measurement,
    peak_rss: u64,
}

fn compare(args: &Args) -> Result<()> {
    let rounds = args.rounds.unwrap_or(if args.quick { 3 } else { 5 });
    ensure!(rounds > 0, "--rounds must be at least 1");
    let cases: Vec<Case> = cases(args.quick)
        .into_iter()
        .filter(|case| args.only.is_empty() || args.only.iter().any(|w| w == case.workload))
        .collect();
    ensure!(!cases.is_empty(), "--only names no workload");
    let python = match &args.python {
        Some(python) => python.clone(),
        None => reference_venv()?,
    };
    eprintln!("building the guest components...");
    wflow_tests::guests();
    let script = repo_root().join("benches/python/workloads.py");
    let me = std::env::current_exe().context("cannot find this benchmark's executable")?;

    let mut rows = Vec::new();
    for case in &cases {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for round in 0..rounds {
            let size = case.size.to_string();
            let wflow = || {
                let mut command = Command::new(&me);
                command.args(["--child", case.workload, &size]);
                run_child(command, "wflow")
            };
            let reference = || {
                let mut command = Command::new(&python);
                command.arg(&script).args([case.workload, &size]);
                run_child(command, "reference")
            };
            // Alternate which side goes first, so neither always runs on a
            // machine the other has just warmed or loaded.
            if round % 2 == 0 {
                ours.push(wflow()?);
                if case.reference {
                    theirs.push(reference()?);
                }
            } else {
                if case.reference {
                    theirs.push(reference()?);
                }
                ours.push(wflow()?);
            }
            let last = |samples: &[Sample]| {
                samples
                    .last()
                    .map(|s| format!("{:.3} s", s.measurement.seconds))
                    .unwrap_or_else(|| "-".into())
            };
            eprintln!(
                "{} {} round {}: wflow {}, reference {}",
                case.workload,
                case.size,
                round + 1,
                last(&ours),
                last(&theirs)
            );
        }
        check_results(case, &ours, &theirs)?;
        rows.push(Row::new(case, &ours, &theirs));
    }
    let table = render(&rows, rounds);
    println!("{table}");
    let out = repo_root().join("target/bench-compare.md");
    std::fs::write(&out, &table).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("written to {}", out.display());
    Ok(())
}

/// Every run of both sides must give the same result object.
fn check_results(case: &Case, ours: &[Sample], theirs: &[Sample]) -> Result<()> {
    let expected = &ours[0].measurement.result;
    for (side, samples) in [("wflow", ours), ("reference", theirs)] {
        for sample in samples {
            ensure!(
                &sample.measurement.result == expected,
                "{} {}: {side} gave {}, wflow's first run gave {expected}",
                case.workload,
                case.size,
                sample.measurement.result
            );
        }
    }
    Ok(())
}

/// Runs `command`, which prints one JSON measurement on its last line of
/// stdout, and reads its peak RSS.
fn run_child(mut command: Command, side: &str) -> Result<Sample> {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start the {side} side: {command:?}"))?;
    let pid = child.id();
    let stdout = child.stdout.context("no stdout")?;
    let output = std::io::read_to_string(stdout)?;
    let (status, peak_rss) = wait_with_peak_rss(pid)?;
    ensure!(
        status == 0,
        "the {side} side failed (exit status {status}): {command:?}"
    );
    let line = output
        .lines()
        .last()
        .with_context(|| format!("the {side} side printed nothing"))?;
    let measurement = serde_json::from_str(line)
        .with_context(|| format!("the {side} side printed `{line}`, not a measurement"))?;
    Ok(Sample {
        measurement,
        peak_rss,
    })
}

/// Waits for child `pid`: its exit status and its peak resident set size
/// in bytes (`ru_maxrss`, which Linux gives in KiB).
fn wait_with_peak_rss(pid: u32) -> Result<(i32, u64)> {
    let mut status = 0;
    // SAFETY: `rusage` is plain data, valid when zeroed, and `wait4` only
    // writes into the two locals it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    ensure!(
        waited == pid as libc::pid_t,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok((code, usage.ru_maxrss as u64 * 1024))
}

/// The interpreter of `target/bench-venv`, after installing the reference
/// there if it is missing.
fn reference_venv() -> Result<PathBuf> {
    let venv = repo_root().join("target/bench-venv");
    let python = venv.join("bin/python");
    let version = REFERENCE.split("==").nth(1).unwrap_or_default();
    let check = format!(
        "import importlib.metadata as m, sys; sys.exit(m.version('llama-index-workflows') != '{version}')"
    );
    let installed = |python: &Path| {
        Command::new(python)
            .args(["-c", &check])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if installed(&python) {
        return Ok(python);
    }
    eprintln!("installing {REFERENCE} into {}...", venv.display());
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("cannot run python3 (needed for the reference side)")?;
    ensure!(
        status.success(),
        "python3 -m venv {} failed",
        venv.display()
    );
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", REFERENCE])
        .status()
        .context("cannot run pip")?;
    ensure!(status.success(), "pip install {REFERENCE} failed");
    ensure!(
        installed(&python),
        "{REFERENCE} is not importable after installing it"
    );
    Ok(python)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---------------------------------------------------------------------------
// The table.

struct Row {
    workload: &'static str,
    size: u64,
    unit: &'static str,
    ours: Summary,
    theirs: Option<Summary>,
}

/// Medians over the rounds of one side.
struct Summary {
    seconds: f64,
    throughput: f64,
    peak_rss: u64,
}

impl Summary {
    fn of(samples: &[Sample]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let seconds = median(samples.iter().map(|s| s.measurement.seconds).collect());
        let ops = samples[0].measurement.ops as f64;
        let peak_rss = median(samples.iter().map(|s| s.peak_rss as f64).collect()) as u64;
        Some(Self {
            seconds,
            throughput: ops / seconds,
            peak_rss,
        })
    }
}

impl Row {
    fn new(case: &Case, ours: &[Sample], theirs: &[Sample]) -> Self {
        Self {
            workload: case.workload,
            size: case.size,
            unit: case.unit,
            ours: Summary::of(ours).expect("wflow ran at least once"),
            theirs: Summary::of(theirs),
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn render(rows: &[Row], rounds: usize) -> String {
    let mut out = format!(
        "Medians of {rounds} rounds per side; wflow {} against {REFERENCE}; \
         seconds are the measured part of each run, RSS the whole process's peak.\n\n",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str("| workload | size | wflow | reference | wflow rate | reference rate | ratio | wflow peak RSS | reference peak RSS |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for row in rows {
        let rate = |s: &Summary| {
            if row.unit == "runs" {
                "-".to_string()
            } else {
                format!("{} {}", thousands(s.throughput), row.unit)
            }
        };
        let mib = |bytes: u64| format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0));
        let (their_seconds, their_rate, ratio, their_rss) = match &row.theirs {
            Some(theirs) => (
                format!("{:.3} s", theirs.seconds),
                rate(theirs),
                format!("{:.0}x", theirs.seconds / row.ours.seconds),
                mib(theirs.peak_rss),
            ),
            None => ("(not run)".into(), "-".into(), "-".into(), "-".into()),
        };
        out.push_str(&format!(
            "| {} | {} | {:.3} s | {their_seconds} | {} | {their_rate} | {ratio} | {} | {their_rss} |\n",
            row.workload,
            thousands(row.size as f64),
            row.ours.seconds,
            rate(&row.ours),
            mib(row.ours.peak_rss),
        ));
    }
    out
}

/// `12345.6` as `12,346`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------
// The wflow side of each workload, run in a child process.

fn run_wflow_workload(workload: &str, size: u64) -> Result<Measurement> {
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
fn current_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
