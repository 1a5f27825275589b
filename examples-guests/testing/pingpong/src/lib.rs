//! One step bouncing one small event back to itself `hops` times: the
//! benchmark of the per-event hop (broker routing + a call into a warm
//! instance), without per-run instantiation.

use wflow_guest::prelude::*;

/// The ball: how many hops are left.
#[event]
struct Ball {
    left: u64,
}

/// Another hop, or the end.
#[derive(Events)]
enum Next {
    Again(Ball),
    Done(StopEvent),
}

#[step]
fn serve(ev: StartEvent) -> Result<Ball, StepError> {
    Ok(Ball {
        left: ev.get_or("hops", 1000)?,
    })
}

#[step(num_workers = 1)]
fn hit(ev: Ball) -> Next {
    match ev.left {
        0 => Next::Done(StopEvent::result("done")),
        left => Next::Again(Ball { left: left - 1 }),
    }
}

export_steps!(serve, hit);
