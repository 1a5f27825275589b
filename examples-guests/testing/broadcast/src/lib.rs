//! Broadcast and a custom start and stop event: `Go` goes to both `left` and
//! `right`; `join` accepts either result (an enum input) and collects one of
//! each in the order it asks for; the custom stop event `Joined` is the
//! run's result itself.

use wflow_guest::prelude::*;

/// The custom start event.
#[event(start)]
struct Go {
    x: u64,
}

/// The left branch's result.
#[event]
struct Left {
    x: u64,
}

/// The right branch's result.
#[event]
struct Right {
    x: u64,
}

/// The custom stop event.
#[event(stop)]
struct Joined {
    left: u64,
    right: u64,
    order: Vec<String>,
}

/// Either branch's result.
#[derive(Events)]
enum Side {
    L(Left),
    R(Right),
}

#[step]
fn left(ev: Go) -> Left {
    Left { x: ev.x * 2 }
}

#[step]
fn right(ev: Go) -> Right {
    Right { x: ev.x * 3 }
}

#[step]
fn join(ctx: &Context, ev: Side) -> Result<Option<Joined>, StepError> {
    let Some(events) = ctx.collect_events(&ev, &[Right::NAME, Left::NAME])? else {
        return Ok(None);
    };
    let right: Right = events[0].parse()?;
    let left: Left = events[1].parse()?;
    Ok(Some(Joined {
        left: left.x,
        right: right.x,
        order: events.iter().map(|e| e.name().to_string()).collect(),
    }))
}

export_steps!(left, right, join);
