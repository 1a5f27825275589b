//! The second half of a workflow assembled from two components.

use wflow_guest::prelude::*;

/// Received from the other component.
#[event]
struct Shared {
    n: u64,
}

#[step(num_workers = 1)]
fn consume(ev: Shared) -> StopEvent {
    StopEvent::result(ev.n * 2)
}

export_steps!(consume);
