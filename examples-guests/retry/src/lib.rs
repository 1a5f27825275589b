//! A step that fails twice, then succeeds under a retry policy. Every retry
//! runs on a fresh instance: the per-instance call counter proves it.

use std::sync::atomic::{AtomicU32, Ordering};

use wflow_guest::prelude::*;

/// Calls made on this instance (instance memory, not run state).
static CALLS_ON_THIS_INSTANCE: AtomicU32 = AtomicU32::new(0);

#[step(retry = RetryPolicy::constant(3, 20))]
fn flaky(ctx: &Context, ev: StartEvent) -> Result<StopEvent, StepError> {
    let calls = CALLS_ON_THIS_INSTANCE.fetch_add(1, Ordering::SeqCst) + 1;
    let fail_times: u32 = ev.get_or("fail_times", 2)?;
    let attempt = ctx.store().get_or::<u32>("attempts", 0)? + 1;
    ctx.store().set("attempts", &attempt)?;
    if attempt <= fail_times {
        return Err(StepError::new(
            "TransientError",
            format!("attempt {attempt} failed"),
        ));
    }
    Ok(StopEvent::result(json!({
        "attempts": attempt,
        "calls_on_this_instance": calls,
    })))
}

export_steps!(flaky);
