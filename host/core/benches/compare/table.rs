//! The table of medians the driver prints and writes.

use crate::Case;
use crate::REFERENCE;
use crate::Sample;

pub(crate) struct Row {
    workload: &'static str,
    size: u64,
    unit: &'static str,
    ours: Summary,
    theirs: Option<Summary>,
}

/// Medians over the rounds of one side.
pub(crate) struct Summary {
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
    pub(crate) fn new(case: &Case, ours: &[Sample], theirs: &[Sample]) -> Self {
        Self {
            workload: case.workload,
            size: case.size,
            unit: case.unit,
            ours: Summary::of(ours).expect("wflow ran at least once"),
            theirs: Summary::of(theirs),
        }
    }
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

pub(crate) fn render(rows: &[Row], rounds: usize) -> String {
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
pub(crate) fn thousands(value: f64) -> String {
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
