//! Streams its progress while it works: `width` branches of `laps` laps,
//! each lap streaming two `Progress` events and then pausing `pause_ms`.
//! The crash tests' workload: a run that streams for a while, whose stream
//! is known in advance (in order within a branch).

use std::time::Duration;

use wflow_guest::prelude::*;

/// One lap of one branch.
#[event]
struct Lap {
    branch: u64,
    lap: u64,
    laps: u64,
    pause_ms: u64,
}

/// Streamed twice per lap (`part` 0 and 1).
#[event]
struct Progress {
    branch: u64,
    lap: u64,
    part: u64,
}

/// A branch ran all its laps.
#[event]
struct BranchDone {
    branch: u64,
}

/// What a lap leads to.
#[derive(Events)]
enum Next {
    Again(Lap),
    Done(BranchDone),
}

#[step(emits = [Lap])]
fn begin(ctx: &Context, ev: StartEvent) -> Result<(), StepError> {
    let laps: u64 = ev.get_or("laps", 20)?;
    let width: u64 = ev.get_or("width", 1)?;
    let pause_ms: u64 = ev.get_or("pause_ms", 10)?;
    ctx.store().set("width", &width)?;
    for branch in 0..width {
        ctx.send_event(Lap {
            branch,
            lap: 0,
            laps: laps.max(1),
            pause_ms,
        })?;
    }
    Ok(())
}

#[step(num_workers = 4)]
fn tick(ctx: &Context, ev: Lap) -> Result<Next, StepError> {
    for part in 0..2 {
        ctx.write_event_to_stream(&Progress {
            branch: ev.branch,
            lap: ev.lap,
            part,
        })?;
    }
    std::thread::sleep(Duration::from_millis(ev.pause_ms));
    Ok(if ev.lap + 1 >= ev.laps {
        Next::Done(BranchDone { branch: ev.branch })
    } else {
        Next::Again(Lap {
            lap: ev.lap + 1,
            ..ev
        })
    })
}

#[step]
fn finish(ctx: &Context, ev: BranchDone) -> Result<Option<StopEvent>, StepError> {
    let width: usize = ctx.store().get("width")?;
    let Some(done) = ctx.collect_n(&ev, width)? else {
        return Ok(None);
    };
    Ok(Some(StopEvent::result(json!({ "branches": done.len() }))))
}

export_steps!(begin, tick, finish);
