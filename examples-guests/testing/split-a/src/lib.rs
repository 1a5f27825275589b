//! The first half of a workflow assembled from two components.

use wflow_guest::prelude::*;

/// Passed from this component to the other.
#[event]
struct Shared {
    n: u64,
}

#[step]
fn produce(ev: StartEvent) -> Result<Shared, StepError> {
    Ok(Shared {
        n: ev.get_or("n", 1)?,
    })
}

export_steps!(produce);
