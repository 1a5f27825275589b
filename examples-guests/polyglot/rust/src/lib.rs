//! The Rust part of the polyglot workflow: `greet` starts the run, records
//! itself in the shared state and hands a `Draft` to the Python step. This
//! component owns `Draft` (its schema is the one the host checks) and
//! declares the workflow's typed state, which the Python and JavaScript
//! steps write too.

use std::collections::BTreeMap;

use wflow_guest::prelude::*;

/// The workflow's state, shared by the three components.
#[state]
#[derive(Default)]
struct Polyglot {
    /// What each language's step recorded, by language.
    languages: BTreeMap<String, Value>,
    /// The languages whose steps have run, in order.
    ran: Vec<String>,
}

/// A greeting drafted in Rust, for the Python step to complete.
#[event]
struct Draft {
    /// Whom to greet unless the human names someone.
    name: String,
    /// The greeting so far.
    greeting: String,
}

#[step]
fn greet(ctx: &Context, ev: StartEvent) -> Result<Draft, StepError> {
    let name: String = ev.get_or("name", "world".to_string())?;
    let runtime = format!("compiled Rust on {}", std::env::consts::ARCH);
    ctx.store().set(
        "languages.rust",
        &json!({ "step": ctx.step_name(), "runtime": runtime }),
    )?;
    ctx.store().edit(|state: &mut Polyglot| {
        state.ran.push("rust".into());
        Ok(())
    })?;
    Ok(Draft {
        greeting: format!("Hello, {name}"),
        name,
    })
}

export_steps!(state = Polyglot; greet);
