//! A prompt whose wait takes one answer only: `yes`. Any other answer
//! leaves the run waiting, idle, with no new prompt (what `wflow run` then
//! says at a terminal).

use wflow_guest::prelude::*;

#[step]
fn confirm(ctx: &Context, _ev: StartEvent) -> Result<StopEvent, StepError> {
    ctx.wait_for_event::<HumanResponseEvent>()
        .waiter(InputRequiredEvent::new("Type yes to go on: "))?
        .requirement("response", "yes")?
        .wait()?;
    Ok(StopEvent::result("confirmed"))
}

export_steps!(workflow = "ConfirmFlow"; confirm);
