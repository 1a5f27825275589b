//! A workflow no step of which returns a StopEvent, named `NoStopFlow`:
//! validation refuses it, calling it by that name (or by its manifest's
//! `name`), not by its folder.

use wflow_guest::prelude::*;

/// Where the workflow stops going.
#[event]
struct Middle {}

#[step]
fn begin(_ev: StartEvent) -> Middle {
    Middle {}
}

#[step]
fn end(_ev: Middle) -> Option<Middle> {
    None
}

export_steps!(workflow = "NoStopFlow"; begin, end);
