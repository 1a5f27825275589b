//! Write wflow workflow steps in Rust.
//!
//! A step is a plain function from one event to the events it emits; the
//! accepted and emitted types come from its signature, as with the seed's
//! `@step`. Events are plain structs marked `#[event]`. One
//! `export_steps!` at the end of the crate makes it a step component.
//!
//! ```ignore
//! use wflow_guest::prelude::*;
//!
//! #[event]
//! struct Joke { text: String }
//!
//! #[step]
//! fn write_joke(ctx: &Context, ev: StartEvent) -> Result<Joke, StepError> {
//!     let topic: String = ev.get("topic")?;
//!     ctx.store().set("topic", &topic)?;
//!     Ok(Joke { text: format!("a joke about {topic}") })
//! }
//!
//! #[step(num_workers = 2)]
//! fn critique(ev: Joke) -> StopEvent { StopEvent::result(ev.text) }
//!
//! export_steps!(write_joke, critique);
//! ```

extern crate self as wflow_guest;

mod builtin;
mod context;
mod defaults;
mod error;
mod event;
mod export;
mod retry;
mod schema;
mod step;

/// Bindings generated from the wflow WIT contract (`wit/workflow.wit`).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "steps",
        pub_export_macro: true,
        export_macro_name: "__export_component",
        default_bindings_module: "::wflow_guest::bindings",
        runtime_path: "::wflow_guest::__private::wit_bindgen::rt",
    });
}

pub use builtin::{HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent};
pub use context::{Context, StateStore, WaitForEvent};
pub use error::StepError;
pub use event::{AnyEvent, Event, EventKind, EventRegistry, ToAnyEvent};
pub use retry::{Backoff, RetryPolicy};
pub use step::{Step, StepInput, StepOutput, StepSpec};
pub use wflow_guest_macros::{Events, event, state, step};

/// Everything a step author needs, in one import.
pub mod prelude {
    pub use crate::{
        AnyEvent, Context, Event, Events, HumanResponseEvent, InputRequiredEvent, RetryPolicy,
        StartEvent, StepError, StopEvent, event, export_steps, fail, state, step,
    };
    pub use serde_json::{Value, json};
}

/// Re-exports and glue used by the macros; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{StateDecl, StepEntry, describe, handle};
    pub use schemars;
    pub use serde;
    pub use serde_json;
    pub use wit_bindgen;
}
