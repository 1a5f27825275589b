//! The events the runtime itself streams (step state changes, idleness, the
//! terminal event of a failed run) and the errors that end a run.

use serde_json::{Value, json};

use crate::error::WorkflowError;
use crate::event::{Event, names};
use crate::run::shared::RunShared;

use super::{Broker, InFlight};

impl Broker {
    /// Streams a `WorkflowIdleEvent` when the run has come to wait only on
    /// input from outside: nothing queued, no call running, and a request
    /// for input or a waiter open.
    pub(super) fn note_idle(&mut self) {
        let queued = self.slots.iter().any(|slot| !slot.queue.is_empty());
        let idle = !queued
            && self.in_flight.is_empty()
            && (self.awaiting_input > 0 || !self.parked.is_empty());
        if idle
            && !self.idle
            && let Ok(event) = Event::new(names::WORKFLOW_IDLE, &json!({}))
        {
            self.shared.write_to_stream_past_limit(event);
        }
        self.idle = idle;
    }

    /// Whether the run can make no more progress: nothing queued, nothing
    /// running, no request for input or waiter outstanding.
    pub(super) fn stuck(&self) -> Option<WorkflowError> {
        let busy = self.slots.iter().any(|s| s.busy > 0 || !s.queue.is_empty());
        if busy || self.awaiting_input > 0 || !self.parked.is_empty() {
            return None;
        }
        let names: Vec<String> = self
            .shared
            .def
            .steps
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let buffers = self.shared.collect().summary(&names);
        let detail = if buffers.is_empty() {
            "no step holds any buffered event".to_string()
        } else {
            buffers.join("; ")
        };
        Some(WorkflowError::Runtime(format!(
            "The workflow is stuck: no event is queued, no step is running and no input is awaited, so it can never reach a stop event ({detail})"
        )))
    }

    pub(super) fn timeout_error(&self) -> WorkflowError {
        let active = self.shared.running_steps();
        let steps = if active.is_empty() {
            "No steps active".to_string()
        } else {
            format!("Currently active steps: {}", active.join(", "))
        };
        let timeout = self
            .shared
            .timeout
            .map(|t| t.as_secs_f64())
            .unwrap_or_default();
        WorkflowError::Timeout(format!(
            "Operation timed out after {timeout:?} seconds. {steps}"
        ))
    }
}

/// Streams a `StepStateChanged` for `call` starting (`running`) or ending
/// (`not_running`, with the type of the event it returned, if any).
pub(super) fn stream_step_state(
    shared: &RunShared,
    call: &InFlight,
    running: bool,
    output: Option<&str>,
) {
    let data = json!({
        "name": shared.def.steps[call.step].name,
        "step_state": if running { "running" } else { "not_running" },
        "worker_id": call.worker.to_string(),
        "input_event_name": call.event.name,
        "output_event_name": output,
    });
    if let Ok(event) = Event::new(names::STEP_STATE_CHANGED, &data) {
        shared.write_internal(event);
    }
}

/// The stop-like event streamed when a run fails, times out or is cancelled
/// (the seed's `WorkflowFailedEvent`, `WorkflowTimedOutEvent`,
/// `WorkflowCancelledEvent`).
pub(super) fn terminal_event(err: &WorkflowError, elapsed_seconds: f64) -> Option<Event> {
    let (name, data) = match err {
        WorkflowError::Timeout(message) => {
            (names::WORKFLOW_TIMED_OUT, json!({ "message": message }))
        }
        WorkflowError::Cancelled(_) => (names::WORKFLOW_CANCELLED, json!({})),
        WorkflowError::StepFailed(failure) => (
            names::WORKFLOW_FAILED,
            json!({
                "step_name": failure.step,
                "exception": {
                    "exception_type": failure.kind,
                    "exception_message": failure.message,
                },
                "elapsed_seconds": elapsed_seconds,
            }),
        ),
        other => (
            names::WORKFLOW_FAILED,
            json!({
                "step_name": Value::Null,
                "exception": { "exception_type": other.kind(), "exception_message": other.to_string() },
                "elapsed_seconds": elapsed_seconds,
            }),
        ),
    };
    Event::new(name, &data).ok()
}
