//! The events the runtime itself streams (step state changes, idleness, the
//! terminal event of a failed run) and the errors that end a run.

use serde_json::{Value, json};

use crate::error::WorkflowError;
use crate::event::{Event, names};
use crate::run::shared::RunShared;

use super::{Broker, InFlight};

impl Broker {
    /// Streams a `WorkflowIdleEvent` when the run has come to wait only on
    /// input from outside: nothing queued and no call running (a request
    /// for input or a waiter may be open, or nothing at all: an idle run
    /// waits for an event sent in until its timeout, as the reference's).
    pub(super) fn note_idle(&mut self) {
        // A prompt held until its checkpoint is saved comes first (the
        // broker hears when it is released).
        let quiet = !self.busy() && crate::sync::lock(&self.shared.prompts).len() == 0;
        if !quiet {
            self.idle = None;
            return;
        }
        // A message waiting in the inbox (an event sent in) may end it:
        // decided once it is handled. One that does (`Send` from outside)
        // ends the idle period; one that does not (a question) leaves it.
        if self.idle.is_none()
            && self.inbox.is_empty()
            && let Ok(event) = Event::new(names::WORKFLOW_IDLE, &json!({}))
        {
            self.idle = Some(self.shared.write_to_stream_past_limit(event));
        }
    }

    /// Whether anything is queued or running.
    fn busy(&self) -> bool {
        self.any_running()
            || !self.waking.is_empty()
            || self
                .slots
                .iter()
                .any(|slot| slot.busy > 0 || !slot.queue.is_empty())
    }

    /// Why the run can make no more progress by itself (nothing queued,
    /// nothing running, no request for input or waiter outstanding), if it
    /// cannot: what its steps' buffers hold.
    pub(super) fn stuck_detail(&self) -> Option<String> {
        if self.busy() || self.awaiting_input > 0 || !self.parked.is_empty() {
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
        Some(if buffers.is_empty() {
            "no step holds any buffered event".to_string()
        } else {
            buffers.join("; ")
        })
    }

    /// The error of a run that can make no more progress and has no
    /// timeout to wait for an event from outside until.
    pub(super) fn stuck_error(detail: &str) -> WorkflowError {
        WorkflowError::Runtime(format!(
            "The workflow is stuck: no event is queued, no step is running and no input is awaited, so it can never reach a stop event ({detail})"
        ))
    }

    /// The reference's timeout error (`Operation timed out after 5.0
    /// seconds. No steps active`), and what an idle run's steps held.
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
        let idle = self
            .stuck_detail()
            .map(|detail| {
                format!(" (the run was idle, waiting for an event sent in from outside: {detail})")
            })
            .unwrap_or_default();
        WorkflowError::Timeout(format!(
            "Operation timed out after {timeout:?} seconds. {steps}{idle}"
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
