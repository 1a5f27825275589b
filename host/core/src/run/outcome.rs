//! How a run ended.

use serde_json::Value;

use crate::error::Result;
use crate::event::{Event, names};

/// How a run ended.
pub type RunOutcome = Result<StopOutput>;

/// A finished run's stop event and result.
#[derive(Debug, Clone, PartialEq)]
pub struct StopOutput {
    /// The stop event that ended the run.
    pub event: Event,
    /// The run's result: the `result` field of a plain `StopEvent`, or the
    /// whole payload of a custom stop event (the seed returns the event
    /// itself).
    pub result: Value,
}

impl StopOutput {
    /// The output of a run that `event` stopped.
    pub(crate) fn of(event: Event) -> Self {
        let payload: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        let result = if event.name == names::STOP {
            payload.get("result").cloned().unwrap_or(Value::Null)
        } else {
            payload
        };
        Self { event, result }
    }
}
