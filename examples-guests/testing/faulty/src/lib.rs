//! Steps that misbehave on purpose, one per failure path the host must
//! contain: errors, traps, runaway loops, slow steps, bad sends, deadlocks.
//! The start event's `mode` picks one.

use std::time::{Duration, Instant};

use wflow_guest::prelude::*;

macro_rules! requests {
    ($($name:ident),*) => {
        $(
            /// A request for one failure mode.
            #[event]
            struct $name {
                ms: u64,
            }
        )*
    };
}

requests!(
    FailReq,
    TrapReq,
    SpinReq,
    SlowReq,
    SendWrongReq,
    SendUndeclaredReq,
    StuckReq,
    OkReq,
    MissingStateReq,
    WriteInEditReq
);

/// An event `send_undeclared` sends although it does not declare it.
#[event]
struct Stray {}

/// The failure mode asked for.
#[derive(Events)]
enum Mode {
    Fail(FailReq),
    Trap(TrapReq),
    Spin(SpinReq),
    Slow(SlowReq),
    SendWrong(SendWrongReq),
    SendUndeclared(SendUndeclaredReq),
    Stuck(StuckReq),
    Ok(OkReq),
    MissingState(MissingStateReq),
    WriteInEdit(WriteInEditReq),
}

#[step]
fn route(ctx: &Context, ev: StartEvent) -> Result<Mode, StepError> {
    let mode: String = ev.get("mode")?;
    ctx.store()
        .set("target", &ev.get_or("target", "nope".to_string())?)?;
    let ms: u64 = ev.get_or("ms", 0)?;
    Ok(match mode.as_str() {
        "fail" => Mode::Fail(FailReq { ms }),
        "trap" => Mode::Trap(TrapReq { ms }),
        "spin" => Mode::Spin(SpinReq { ms }),
        "slow" => Mode::Slow(SlowReq { ms }),
        "send_wrong" => Mode::SendWrong(SendWrongReq { ms }),
        "send_undeclared" => Mode::SendUndeclared(SendUndeclaredReq { ms }),
        "stuck" => Mode::Stuck(StuckReq { ms }),
        "ok" => Mode::Ok(OkReq { ms }),
        "missing_state" => Mode::MissingState(MissingStateReq { ms }),
        "write_in_edit" => Mode::WriteInEdit(WriteInEditReq { ms }),
        other => {
            return Err(StepError::new(
                "ValueError",
                format!("unknown mode {other}"),
            ));
        }
    })
}

#[step(retry = RetryPolicy::constant(3, 5))]
fn fail(ctx: &Context, _ev: FailReq) -> Result<StopEvent, StepError> {
    let attempt = ctx.store().get_or::<u32>("attempts", 0)? + 1;
    ctx.store().set("attempts", &attempt)?;
    Err(StepError::new(
        "ValueError",
        format!("boom on attempt {attempt}"),
    ))
}

#[step]
fn trap(_ev: TrapReq) -> StopEvent {
    panic!("the guest panicked on purpose")
}

#[step(timeout_ms = 200)]
#[allow(clippy::empty_loop)]
fn spin(_ev: SpinReq) -> StopEvent {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

#[step]
fn slow(ev: SlowReq) -> StopEvent {
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(ev.ms) {
        std::hint::black_box(());
    }
    StopEvent::result("slow done")
}

#[step(emits = [OkReq])]
fn send_wrong(ctx: &Context, _ev: SendWrongReq) -> Result<StopEvent, StepError> {
    let target: String = ctx.store().get("target")?;
    ctx.send_event_to(OkReq { ms: 0 }, &target)?;
    Ok(StopEvent::result("unreachable"))
}

#[step]
fn send_undeclared(ctx: &Context, _ev: SendUndeclaredReq) -> Result<StopEvent, StepError> {
    ctx.send_event(Stray {})?;
    Ok(StopEvent::result("unreachable"))
}

#[step]
fn stuck(ctx: &Context, ev: StuckReq) -> Result<Option<StopEvent>, StepError> {
    // Waits for two StuckReq events; only one ever comes.
    Ok(ctx.collect_n(&ev, 2)?.map(|_| StopEvent::result("never")))
}

#[step]
fn ok(_ev: OkReq) -> StopEvent {
    StopEvent::result("ok")
}

#[step]
fn missing_state(ctx: &Context, _ev: MissingStateReq) -> Result<StopEvent, StepError> {
    let value: u64 = ctx.store().get("no.such.path")?;
    Ok(StopEvent::result(value))
}

#[step]
fn write_in_edit(ctx: &Context, _ev: WriteInEditReq) -> Result<StopEvent, StepError> {
    ctx.store().edit(|state: &mut Value| {
        state["inside"] = json!(true);
        ctx.store().set("sneaky", &1)?;
        Ok(())
    })?;
    Ok(StopEvent::result("unreachable"))
}

export_steps!(
    route,
    fail,
    trap,
    spin,
    slow,
    send_wrong,
    send_undeclared,
    stuck,
    ok,
    missing_state,
    write_in_edit
);
