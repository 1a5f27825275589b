//! wflow beside llama-index-workflows 2.26.1 (the reference), on the same
//! five workloads, in one command:
//!
//!     cargo bench -p wflow-core --bench compare             # full, ~5 min
//!     cargo bench -p wflow-core --bench compare -- --quick  # under a minute
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

mod driver;
mod table;
mod workloads;

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::driver::compare;
use crate::workloads::run_wflow_workload;

/// The reference package and version compared against.
pub(crate) const REFERENCE: &str = "llama-index-workflows==2.26.1";

#[derive(Parser, Debug)]
#[command(about = "wflow beside llama-index-workflows, workload by workload")]
pub(crate) struct Args {
    /// Small sizes and fewer rounds: under a minute.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Rounds per workload and side (default 5, 3 with --quick).
    #[arg(long)]
    pub(crate) rounds: Option<usize>,
    /// Only these workloads (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) only: Vec<String>,
    /// The Python interpreter with the reference installed (default: a
    /// virtualenv in target/bench-venv, created when missing).
    #[arg(long)]
    pub(crate) python: Option<PathBuf>,
    /// Internal: run one workload on wflow in this process and print its
    /// measurement as JSON.
    #[arg(long, num_args = 2, value_names = ["WORKLOAD", "SIZE"])]
    pub(crate) child: Option<Vec<String>>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    pub(crate) bench: bool,
}

/// One measured run of one side, as both sides print it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Measurement {
    pub(crate) workload: String,
    pub(crate) size: u64,
    pub(crate) seconds: f64,
    pub(crate) ops: u64,
    pub(crate) result: Value,
}

/// A finished child: its measurement and peak RSS in bytes.
pub(crate) struct Sample {
    pub(crate) measurement: Measurement,
    pub(crate) peak_rss: u64,
}

/// A workload at one size: the reference's size is `None` when it cannot
/// finish that size in minutes.
pub(crate) struct Case {
    pub(crate) workload: &'static str,
    pub(crate) size: u64,
    pub(crate) reference: bool,
    pub(crate) unit: &'static str,
}

pub(crate) fn cases(quick: bool) -> Vec<Case> {
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
