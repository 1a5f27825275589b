//! Three steps passing one small event: the `concurrent` benchmark starts
//! many runs of it at once. A run started with `n` stops with `(n+1)*2+3`.

use wflow_guest::prelude::*;

/// After the first step.
#[event]
struct Mid1 {
    n: i64,
}

/// After the second step.
#[event]
struct Mid2 {
    n: i64,
}

#[step]
fn s1(ev: StartEvent) -> Result<Mid1, StepError> {
    Ok(Mid1 {
        n: ev.get_or("n", 0)? + 1,
    })
}

#[step]
fn s2(ev: Mid1) -> Mid2 {
    Mid2 { n: ev.n * 2 }
}

#[step]
fn s3(ev: Mid2) -> StopEvent {
    StopEvent::result(ev.n + 3)
}

export_steps!(s1, s2, s3);
