//! start -> write_joke -> Joke -> critique -> stop.

use wflow_guest::prelude::*;

/// A joke about the run's topic.
#[event]
struct Joke {
    text: String,
}

#[step]
fn write_joke(ctx: &Context, ev: StartEvent) -> Result<Joke, StepError> {
    let topic: String = ev.get("topic")?;
    ctx.store().set("topic", &topic)?;
    Ok(Joke {
        text: format!("Why did the {topic} cross the road? To get to the other tide."),
    })
}

#[step(num_workers = 2)]
fn critique(ctx: &Context, ev: Joke) -> Result<StopEvent, StepError> {
    let topic: String = ctx.store().get("topic")?;
    Ok(StopEvent::result(format!(
        "{} -- a fine joke about {topic}, though the pun is doing all the work.",
        ev.text
    )))
}

export_steps!(write_joke, critique);
