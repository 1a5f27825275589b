//! Human-in-the-loop patterns beyond `examples-guests/hitl`: a returned
//! InputRequiredEvent answered by a step accepting HumanResponseEvent, and
//! wait_for_event with requirements and with a timeout, and a count of
//! what runs before a wait.

use std::time::Duration;

use wflow_guest::prelude::*;

/// An approval sent in from outside, filtered by `user`.
#[event(human_response)]
struct Approval {
    user: String,
    ok: bool,
}

/// Wait for an approval with a short timeout.
#[event]
struct TimeoutReq {
    ms: u64,
}

/// Wait for Ada's approval.
#[event]
struct RequireReq {}

/// Count the step's starts in the state, then wait for Ada's approval.
#[event]
struct CountReq {}

/// Ask once, fail after the answer, ask again on the retry.
#[event]
struct AskTwiceReq {}

/// Which pattern.
#[derive(Events)]
enum Pattern {
    Ask(InputRequiredEvent),
    Timeout(TimeoutReq),
    Require(RequireReq),
    AskTwice(AskTwiceReq),
    Count(CountReq),
}

#[step]
fn route(ev: StartEvent) -> Result<Pattern, StepError> {
    let mode: String = ev.get_or("mode", "ask".to_string())?;
    Ok(match mode.as_str() {
        "timeout" => Pattern::Timeout(TimeoutReq {
            ms: ev.get_or("ms", 100)?,
        }),
        "require" => Pattern::Require(RequireReq {}),
        "ask_twice" => Pattern::AskTwice(AskTwiceReq {}),
        "count" => Pattern::Count(CountReq {}),
        _ => Pattern::Ask(InputRequiredEvent::new("Your answer? ")),
    })
}

#[step]
fn answer(ev: HumanResponseEvent) -> StopEvent {
    StopEvent::result(format!("answered: {}", ev.response().unwrap_or("")))
}

#[step(waits = [Approval])]
fn wait_timeout(ctx: &Context, ev: TimeoutReq) -> Result<StopEvent, StepError> {
    let approval = ctx
        .wait_for_event::<Approval>()
        .timeout(Duration::from_millis(ev.ms))
        .wait()?;
    Ok(StopEvent::result(approval.ok))
}

#[step(waits = [Approval])]
fn wait_require(ctx: &Context, _ev: RequireReq) -> Result<StopEvent, StepError> {
    let approval = ctx
        .wait_for_event::<Approval>()
        .waiter(InputRequiredEvent::new("Ada must approve"))?
        .requirement("user", "ada")?
        .wait()?;
    Ok(StopEvent::result(
        json!({ "user": approval.user, "ok": approval.ok }),
    ))
}

/// What runs before the wait runs once when the call goes on from its
/// wait, twice when it let go of its instance and ran again.
#[step(waits = [Approval])]
fn wait_count(ctx: &Context, _ev: CountReq) -> Result<StopEvent, StepError> {
    let before = ctx.store().get_or::<u32>("before", 0)? + 1;
    ctx.store().set("before", &before)?;
    let approval = ctx
        .wait_for_event::<Approval>()
        .waiter(InputRequiredEvent::new("Ada must approve"))?
        .requirement("user", "ada")?
        .wait()?;
    Ok(StopEvent::result(json!({
        "ran_before_the_wait": ctx.store().get_or::<u32>("before", 0)?,
        "user": approval.user,
    })))
}

/// The answer to waiter id `once` is kept: the retry gets it without a
/// second prompt.
#[step(retry = RetryPolicy::constant(2, 5))]
fn ask_twice(ctx: &Context, _ev: AskTwiceReq) -> Result<StopEvent, StepError> {
    let answer = ctx
        .wait_for_event::<HumanResponseEvent>()
        .waiter(InputRequiredEvent::new("Once? "))?
        .waiter_id("once")
        .wait()?;
    let attempt = ctx.store().get_or::<u32>("attempt", 0)? + 1;
    ctx.store().set("attempt", &attempt)?;
    if attempt == 1 {
        return Err(StepError::new(
            "TransientError",
            "the first attempt fails after the answer",
        ));
    }
    Ok(StopEvent::result(
        json!({ "answer": answer.response(), "attempt": attempt }),
    ))
}

export_steps!(
    route,
    answer,
    wait_timeout,
    wait_require,
    ask_twice,
    wait_count
);
