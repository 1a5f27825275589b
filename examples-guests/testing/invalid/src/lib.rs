//! An invalid workflow: `orphan_maker` emits `Orphan`, which no step
//! accepts. Validation must refuse it and name the event.

use wflow_guest::prelude::*;

/// Nobody accepts this.
#[event]
struct Orphan {}

#[step]
fn orphan_maker(_ev: StartEvent) -> Orphan {
    Orphan {}
}

#[step]
fn finisher(_ev: StartEvent) -> StopEvent {
    StopEvent::result("done")
}

export_steps!(orphan_maker, finisher);
