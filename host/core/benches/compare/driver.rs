//! The driver: runs every case on both sides, alternately, each run in a
//! child process whose peak RSS is its own, and checks their results agree.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, ensure};

use crate::table::{Row, render};
use crate::{Args, Case, REFERENCE, Sample, cases};

pub(crate) fn compare(args: &Args) -> Result<()> {
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
pub(crate) fn check_results(case: &Case, ours: &[Sample], theirs: &[Sample]) -> Result<()> {
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
pub(crate) fn run_child(mut command: Command, side: &str) -> Result<Sample> {
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
pub(crate) fn wait_with_peak_rss(pid: u32) -> Result<(i32, u64)> {
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
pub(crate) fn reference_venv() -> Result<PathBuf> {
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

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
