//! Typed state edited by eight concurrent workers: no update is lost.

use wflow_guest::prelude::*;

/// The workflow's state.
#[state]
#[derive(Default)]
struct Counter {
    count: u64,
    n: u64,
}

/// Add one to the counter.
#[event]
struct Increment {}

/// One increment is done.
#[event]
struct Incremented {}

#[step(emits = [Increment])]
fn spawn_increments(ctx: &Context, ev: StartEvent) -> Result<(), StepError> {
    let n: u64 = ev.get_or("n", 100)?;
    ctx.store().set("n", &n)?;
    for _ in 0..n {
        ctx.send_event(Increment {})?;
    }
    Ok(())
}

#[step(num_workers = 8)]
fn increment(ctx: &Context, _ev: Increment) -> Result<Incremented, StepError> {
    ctx.store().edit(|state: &mut Counter| {
        state.count += 1;
        Ok(())
    })?;
    Ok(Incremented {})
}

#[step(num_workers = 1)]
fn report(ctx: &Context, ev: Incremented) -> Result<Option<StopEvent>, StepError> {
    let state: Counter = ctx.store().state()?;
    if ctx.collect_n(&ev, state.n as usize)?.is_none() {
        return Ok(None);
    }
    let state: Counter = ctx.store().state()?;
    Ok(Some(StopEvent::result(json!({ "count": state.count }))))
}

export_steps!(state = Counter, workflow = "CounterFlow"; spawn_increments, increment, report);
