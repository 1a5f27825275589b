//! Fan out N work items to a step with four workers, collect the results,
//! stop with their sum.

use wflow_guest::prelude::*;

/// One item of work.
#[event]
struct Work {
    value: u64,
}

/// A finished item.
#[event]
struct WorkDone {
    value: u64,
}

#[step(emits = [Work])]
fn fan_out(ctx: &Context, ev: StartEvent) -> Result<(), StepError> {
    let n: u64 = ev.get_or("n", 100)?;
    ctx.store().set("n", &n)?;
    for value in 0..n {
        ctx.send_event(Work { value })?;
    }
    Ok(())
}

#[step(num_workers = 4)]
fn work(ev: Work) -> WorkDone {
    WorkDone { value: ev.value }
}

#[step(num_workers = 1)]
fn gather(ctx: &Context, ev: WorkDone) -> Result<Option<StopEvent>, StepError> {
    let n: usize = ctx.store().get("n")?;
    let Some(done) = ctx.collect_n(&ev, n)? else {
        return Ok(None);
    };
    let sum: u64 = done.iter().map(|d| d.value).sum();
    Ok(Some(StopEvent::result(
        json!({ "sum": sum, "count": done.len() }),
    )))
}

export_steps!(fan_out, work, gather);
