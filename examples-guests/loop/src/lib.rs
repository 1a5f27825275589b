//! A loop and a branch: `check` branches on the value (an enum of event
//! types); `bump` sends `Attempt` back to `check` until the target is
//! reached.

use wflow_guest::prelude::*;

/// The current value.
#[event]
struct Attempt {
    value: u64,
    target: u64,
}

/// The value is below the target.
#[event]
struct TooLow {
    value: u64,
    target: u64,
}

/// The target was reached.
#[event]
struct Reached {
    value: u64,
}

/// What `check` found.
#[derive(Events)]
enum Checked {
    Low(TooLow),
    Done(Reached),
}

#[step]
fn begin(ev: StartEvent) -> Result<Attempt, StepError> {
    Ok(Attempt {
        value: ev.get_or("start", 0)?,
        target: ev.get_or("target", 5)?,
    })
}

#[step]
fn check(ev: Attempt) -> Checked {
    if ev.value < ev.target {
        Checked::Low(TooLow {
            value: ev.value,
            target: ev.target,
        })
    } else {
        Checked::Done(Reached { value: ev.value })
    }
}

#[step]
fn bump(ctx: &Context, ev: TooLow) -> Result<Attempt, StepError> {
    ctx.store().edit(|state: &mut Value| {
        let laps = state["laps"].as_u64().unwrap_or(0);
        state["laps"] = json!(laps + 1);
        Ok(())
    })?;
    Ok(Attempt {
        value: ev.value + 1,
        target: ev.target,
    })
}

#[step]
fn finish(ctx: &Context, ev: Reached) -> Result<StopEvent, StepError> {
    let laps: u64 = ctx.store().get_or("laps", 0)?;
    Ok(StopEvent::result(
        json!({ "value": ev.value, "laps": laps }),
    ))
}

export_steps!(begin, check, bump, finish);
