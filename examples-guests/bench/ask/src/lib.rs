//! Human in the loop without holding an instance: `ask` streams a prompt
//! and ends; `greet` handles the answer sent from outside. The `hitl`
//! benchmark keeps many runs waiting between the two.

use wflow_guest::prelude::*;

#[step]
fn ask(ev: StartEvent) -> Result<InputRequiredEvent, StepError> {
    let user: u64 = ev.get_or("user", 0)?;
    Ok(InputRequiredEvent::new("name?").with("user", user))
}

#[step]
fn greet(ev: HumanResponseEvent) -> StopEvent {
    StopEvent::result(format!("Hello, {}!", ev.response().unwrap_or("stranger")))
}

export_steps!(ask, greet);
