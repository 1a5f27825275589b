//! Host bindings generated from the WIT contract (`wit/workflow.wit`).

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "steps",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "wflow:workflow/context.state-edit": crate::state::EditGuard,
    },
    additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
});

pub use wflow::workflow::types::{
    Backoff as WitBackoff, ContextError, EventKind as WitEventKind, GuestError,
    RetryPolicy as WitRetryPolicy,
};
