//! The task that follows a run into its handler: streamed events into the
//! handler's log and the store, then how the run ended.

use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;

use wflow_api::{Envelope, Status};
use wflow_core::{BoxFuture, RunOutcome, Workflow, WorkflowError, WorkflowHandler};
use wflow_store::{Store, StoreError};

use crate::envelope::envelope;
use crate::metrics::{Metrics, RunLabels, StepTimer};
use crate::progress::Follower;
use crate::replay::Verdict;
use crate::runs::{HandlerEntry, Handlers, RunEnd};

/// Waits for a write to the store, if there is one; a failure is logged
/// (the run goes on, the store is behind). Whether a write landed.
pub(crate) async fn persist(write: Option<BoxFuture<'_, Result<(), StoreError>>>) -> bool {
    match write {
        Some(write) => match write.await {
            Ok(()) => true,
            Err(err) => {
                tracing::error!("{err}");
                false
            }
        },
        None => false,
    }
}

/// The most events stored in one write: a run that streams faster than the
/// store keeps up is stored in bounded batches.
const MAX_BATCH: usize = 512;

/// The most payload bytes handled in one batch: between batches the task
/// yields, so a flood of large events never holds a worker for long (the
/// server's other requests share the workers).
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Follows a run's event stream into its handler until the run ends, then
/// records how it ended together with the terminal event (in memory at
/// once, so a reader seeing that event finds the handler finished; in the
/// store in one write, so a crash cannot keep one without the other).
/// Events a resumed run streams again are logged once (see `replay`); the
/// run's checkpoints wait until the events they count are stored (see
/// `progress`).
pub(crate) async fn follow(
    workflow: Workflow,
    entry: Arc<HandlerEntry>,
    live: Arc<WorkflowHandler>,
    store: Option<Arc<dyn Store>>,
    handlers: Arc<Handlers>,
    follower: Follower,
    metrics: Arc<Metrics>,
) {
    let record = entry.record();
    let id = record.handler_id;
    let labels = RunLabels {
        workflow: record.workflow_name,
        tenant: record.tenant,
    };
    let mut steps = StepTimer::new(labels.clone());
    let store = store.as_deref();
    let mut terminal = None;
    // Whether every write so far landed.
    let mut store_whole = true;
    // Whether another host took the run over (see `cluster`).
    let mut lost = false;
    match live.stream_events() {
        Ok(mut events) => {
            let mut next = events.next_at().await;
            while next.is_some() {
                // Every event already there goes to the store in one write.
                let mut batch = Vec::new();
                let mut batch_bytes = 0;
                let mut handled = None;
                while let Some((position, event)) = next.take() {
                    batch_bytes += event.data.len();
                    let envelope = envelope(&workflow, &event);
                    steps.saw(&metrics, &envelope);
                    if envelope.is_terminal() {
                        terminal = Some(envelope);
                        break;
                    }
                    handled = Some(position + 1);
                    if let Verdict::Append { least } = follower.offer(position, &envelope) {
                        let sequence = entry.push_event_from(least, envelope.clone());
                        batch.push((sequence, envelope));
                    }
                    if batch.len() >= MAX_BATCH || batch_bytes >= MAX_BATCH_BYTES {
                        break;
                    }
                    next = events.next_at().now_or_never().flatten();
                }
                if let Some((last, _)) = batch.last() {
                    let began = Instant::now();
                    let written = match store {
                        Some(store) => Some(store.append_events(&id, &batch).await),
                        None => None,
                    };
                    if let Some(written) = &written {
                        metrics.store_write("events", began.elapsed(), written.is_ok());
                    }
                    let stored = match written {
                        Some(written) => match written {
                            Ok(()) => true,
                            Err(StoreError::LeaseLost { .. }) => {
                                // Its new owner goes on with it: it stops
                                // here, and writes nothing more.
                                lost = true;
                                live.cancel();
                                break;
                            }
                            Err(err) => {
                                tracing::error!("{err}");
                                false
                            }
                        },
                        None => false,
                    };
                    // Once a write failed, the store misses events: none may
                    // leave memory from then on, or readers would find a
                    // hole where the store is behind.
                    if store_whole && !stored && store.is_some() {
                        entry.store_failed();
                    }
                    store_whole &= stored;
                    if store_whole {
                        entry.mark_stored(*last);
                    }
                }
                if let Some(handled) = handled {
                    follower.stored_before(handled);
                }
                if terminal.is_some() {
                    break;
                }
                if next.is_none() {
                    // A batch is done: let the other tasks have the worker
                    // (nothing above need have waited) before the next.
                    tokio::task::yield_now().await;
                    next = events.next_at().await;
                }
            }
        }
        Err(err) => tracing::error!(%err, "cannot follow the run's events"),
    }
    // Nothing the run streams from here on goes to the log but its end.
    drop(follower);
    let outcome = live.result().await;
    if lost {
        tracing::warn!(handler = %id, "another host took over this run: it stops here");
        handlers.remove_entry(&entry);
        metrics.run_left(&labels);
        return;
    }
    let (status, error, result) = ending(&workflow, &outcome, terminal.as_ref());
    let (record, sequence) = entry.finish(RunEnd {
        status,
        error,
        result,
        terminal: terminal.clone(),
        final_state: Some(live.store().snapshot()),
    });
    // Ended, as its callers see it.
    metrics.run_ended(&labels, record.status);
    // The status and the terminal event land together.
    let closing = sequence.zip(terminal.as_ref());
    let began = Instant::now();
    let written = match store {
        Some(store) => Some(store.finish_handler(&record, closing).await),
        None => None,
    };
    if let Some(written) = &written {
        metrics.store_write("finish", began.elapsed(), written.is_ok());
    }
    let finished = match written {
        Some(written) => match written {
            Ok(()) => true,
            Err(StoreError::LeaseLost { .. }) => {
                // Another host goes on with the run: what it stores is the
                // handler, not this host's ending.
                tracing::warn!(handler = %id, "another host took over this run: its ending here is not stored");
                handlers.remove_entry(&entry);
                return;
            }
            Err(err) => {
                tracing::error!("{err}");
                false
            }
        },
        None => false,
    };
    if finished
        && store_whole
        && let Some(sequence) = sequence
    {
        entry.mark_stored(sequence);
    } else if !finished && store.is_some() {
        entry.store_failed();
    }
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
