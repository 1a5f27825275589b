//! The task that follows a run into its handler: streamed events into the
//! handler's log and the store, then how the run ended.

use std::sync::Arc;

use futures_util::FutureExt;

use wflow_api::{Envelope, Status};
use wflow_core::{BoxFuture, RunOutcome, Workflow, WorkflowError, WorkflowHandler};
use wflow_store::{Store, StoreError};

use crate::envelope::envelope;
use crate::runs::{HandlerEntry, Handlers, RunEnd};

/// Waits for a write to the store, if there is one; a failure is logged
/// (the run goes on, the store is behind).
pub(crate) async fn persist(write: Option<BoxFuture<'_, Result<(), StoreError>>>) {
    if let Some(write) = write
        && let Err(err) = write.await
    {
        tracing::error!("{err}");
    }
}

/// Follows a run's event stream into its handler until the run ends, then
/// records how it ended together with the terminal event (in memory at
/// once, so a reader seeing that event finds the handler finished; in the
/// store in one write, so a crash cannot keep one without the other).
pub(crate) async fn follow(
    workflow: Workflow,
    entry: Arc<HandlerEntry>,
    live: Arc<WorkflowHandler>,
    store: Option<Arc<dyn Store>>,
    handlers: Arc<Handlers>,
) {
    let id = entry.record().handler_id;
    let store = store.as_deref();
    let mut terminal = None;
    match live.stream_events() {
        Ok(mut events) => {
            while let Some(first) = events.next().await {
                // Every event already there goes to the store in one write.
                let mut batch = Vec::new();
                let mut next = Some(first);
                while let Some(event) = next.take() {
                    let envelope = envelope(&workflow, &event);
                    if envelope.is_terminal() {
                        terminal = Some(envelope);
                        break;
                    }
                    let sequence = entry.push_event(envelope.clone());
                    batch.push((sequence, envelope));
                    next = events.next().now_or_never().flatten();
                }
                if !batch.is_empty() {
                    persist(store.map(|store| store.append_events(&id, &batch))).await;
                }
                if terminal.is_some() {
                    break;
                }
            }
        }
        Err(err) => tracing::error!(%err, "cannot follow the run's events"),
    }
    let outcome = live.result().await;
    let (status, error, result) = ending(&workflow, &outcome, terminal.as_ref());
    let (record, sequence) = entry.finish(RunEnd {
        status,
        error,
        result,
        terminal: terminal.clone(),
        final_state: Some(live.store().snapshot()),
    });
    // The status and the terminal event land together.
    let closing = sequence.zip(terminal.as_ref());
    persist(store.map(|store| store.finish_handler(&record, closing))).await;
    handlers.forget_old_finished();
}

/// The status, error and result a run's outcome gives its handler.
fn ending(
    workflow: &Workflow,
    outcome: &RunOutcome,
    terminal: Option<&Envelope>,
) -> (Status, Option<String>, Option<Envelope>) {
    match outcome {
        Ok(stop) => {
            let result = terminal
                .cloned()
                .unwrap_or_else(|| envelope(workflow, &stop.event));
            (Status::Completed, None, Some(result))
        }
        Err(WorkflowError::Cancelled(_)) => (Status::Cancelled, None, None),
        Err(WorkflowError::Timeout(_)) => {
            let seconds = workflow.timeout().map_or(0.0, |t| t.as_secs_f64());
            (
                Status::Failed,
                Some(format!("Workflow timed out after {seconds:?}s")),
                None,
            )
        }
        Err(WorkflowError::StepFailed(failure)) => {
            // The reference reports the exception's text without its type.
            (Status::Failed, Some(failure.message.clone()), None)
        }
        Err(other) => (Status::Failed, Some(other.to_string()), None),
    }
}
