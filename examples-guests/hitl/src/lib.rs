//! Human in the loop: ask for a name with `wait_for_event`, greet it.

use std::time::Duration;

use wflow_guest::prelude::*;

#[step]
fn ask_name(ctx: &Context, _ev: StartEvent) -> Result<StopEvent, StepError> {
    let answer = ctx
        .wait_for_event::<HumanResponseEvent>()
        .waiter(InputRequiredEvent::new("What's your name? "))?
        .waiter_id("name")
        .timeout(Duration::from_secs(600))
        .wait()?;
    let name = answer.response().unwrap_or("stranger").trim().to_string();
    ctx.store().set("name", &name)?;
    Ok(StopEvent::result(format!("Hello, {name}!")))
}

export_steps!(ask_name);
