//! Eight workers each adding one to a shared counter `iterations` times,
//! each addition a transactional `edit` of the state: the `state`
//! benchmark. The run stops with the final count, `8 * iterations`.

use wflow_guest::prelude::*;

/// The workflow's state.
#[state]
#[derive(Default)]
struct Counter {
    count: u64,
    iterations: u64,
}

/// Start adding.
#[event]
struct Bump {
    worker: u64,
}

/// A worker is done adding.
#[event]
struct Bumped {
    worker: u64,
}

/// The workers started by `start`.
const WORKERS: u64 = 8;

#[step(emits = [Bump])]
fn start(ctx: &Context, ev: StartEvent) -> Result<(), StepError> {
    let iterations: u64 = ev.get_or("iterations", 100)?;
    ctx.store().set("iterations", &iterations)?;
    for worker in 0..WORKERS {
        ctx.send_event(Bump { worker })?;
    }
    Ok(())
}

#[step(num_workers = 8)]
fn bump(ctx: &Context, ev: Bump) -> Result<Bumped, StepError> {
    let iterations: u64 = ctx.store().get("iterations")?;
    for _ in 0..iterations {
        ctx.store().edit(|state: &mut Counter| {
            state.count += 1;
            Ok(())
        })?;
    }
    Ok(Bumped { worker: ev.worker })
}

#[step(num_workers = 1)]
fn gather(ctx: &Context, ev: Bumped) -> Result<Option<StopEvent>, StepError> {
    if ctx.collect_n(&ev, WORKERS as usize)?.is_none() {
        return Ok(None);
    }
    let count: u64 = ctx.store().get("count")?;
    Ok(Some(StopEvent::result(json!({ "count": count }))))
}

export_steps!(state = Counter; start, bump, gather);
