//! The broker's loop: begin, serve messages until the run ends, finish.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;

use crate::error::WorkflowError;
use crate::run::failure::FailedCall;
use crate::run::message::{Beginning, BrokerMsg, CallEnd};
use crate::run::outcome::RunOutcome;
use crate::snapshot::SnapshotOutcome;

use super::call::{StepDone, poll_inline};
use super::events::{stream_step_state, terminal_event};
use super::{Broker, alarm};

impl Broker {
    /// Runs the run to its end: routes `start`, then serves messages until a
    /// stop event, a failure, the timeout or a cancel.
    pub(crate) async fn run(mut self, beginning: Beginning, permit: Option<OwnedSemaphorePermit>) {
        let _permit = permit;
        self.started = Instant::now();
        let outcome = self.serve(beginning).await;
        self.finish(outcome).await;
    }

    pub(super) async fn serve(&mut self, beginning: Beginning) -> RunOutcome {
        // A checkpointed run saves its beginning before any step runs.
        self.checkpoint_soon();
        match beginning {
            Beginning::Start(start) => {
                if let Some(end) = self.route(start, None, true) {
                    return end;
                }
            }
            Beginning::Resume(snapshot) => self.restore(*snapshot)?,
        }
        self.answer_snapshots();
        for step in 0..self.slots.len() {
            self.dispatch(step);
        }
        // A resumed run has the rest of its time.
        let deadline = self
            .shared
            .timeout
            .map(|t| tokio::time::Instant::now() + t.saturating_sub(self.earlier));
        self.serve_until(deadline).await
    }

    pub(super) async fn serve_until(
        &mut self,
        deadline: Option<tokio::time::Instant>,
    ) -> RunOutcome {
        loop {
            // An idle run waits for an event sent in from outside until
            // its timeout, as the reference's; without one it would wait
            // forever, so it fails at once.
            if deadline.is_none()
                && self.inbox.is_empty()
                && let Some(detail) = self.stuck_detail()
            {
                return Err(Self::stuck_error(&detail));
            }
            if self.shared.idle_events {
                self.note_idle();
            }
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                message = self.inbox.recv() => {
                    let Some(message) = message else {
                        return Err(WorkflowError::Runtime("the run's broker lost its inbox".into()));
                    };
                    if let Some(end) = self.handle(message) {
                        return end;
                    }
                }
                done = poll_inline(&mut self.inline), if self.inline.is_some() => {
                    self.inline = None;
                    // Through the inbox, behind the events the call sent, as
                    // a spawned call's report would be: a snapshot taken on
                    // `Done` must see them routed.
                    let StepDone { step, work_item, outcome } = done;
                    let _ = self.shared.broker.send(BrokerMsg::Done { step, work_item, outcome });
                }
                Some(joined) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    if let Err(err) = joined
                        && err.is_panic()
                    {
                        return Err(WorkflowError::Runtime(format!("a step task panicked: {err}")));
                    }
                }
                () = alarm(self.parked.next_alarm()) => {
                    self.ring_alarms();
                }
                () = alarm(self.checkpoint_at) => {
                    self.checkpoint_at = None;
                    self.checkpoint_soon();
                    self.answer_snapshots();
                }
                () = sleep => return Err(self.timeout_error()),
            }
        }
    }

    pub(super) fn handle(&mut self, message: BrokerMsg) -> Option<RunOutcome> {
        match message {
            BrokerMsg::Send {
                event,
                target,
                from_outside,
            } => {
                // On its way no more: queued again below if a step takes it.
                self.shared.uncount_queued(&event);
                if from_outside {
                    self.received += 1;
                    // Woken: if it is idle still, a new idle period begins
                    // (the reference's run idles again after an event).
                    self.idle = None;
                }
                let end = self.route(event, target, from_outside);
                if from_outside && end.is_none() {
                    // Save the outside event before going on: when nothing
                    // is in flight, that is now.
                    self.checkpoint_soon();
                    self.answer_snapshots();
                }
                end
            }
            BrokerMsg::Done {
                step,
                work_item,
                outcome,
            } => {
                self.forget_suspension(work_item);
                let call = self.in_flight.remove(&work_item);
                let slot = &mut self.slots[step];
                slot.busy -= 1;
                self.shared.busy[step].store(slot.busy, Ordering::Relaxed);
                if let Some(call) = call {
                    slot.released.push(call.worker);
                    if self.shared.internal_events {
                        let output = match &outcome {
                            Ok(CallEnd::Returned(events)) => {
                                events.first().map(|e| e.name.as_str())
                            }
                            _ => None,
                        };
                        stream_step_state(&self.shared, &call, false, output);
                    }
                    if let Ok(CallEnd::Waiting(suspension)) = &outcome {
                        self.call_waits(work_item, call, suspension);
                        return None;
                    }
                }
                match outcome {
                    Ok(CallEnd::Waiting(suspension)) => {
                        // Only a call the broker no longer tracks (the run
                        // is ending) gets here: nothing to park.
                        tracing::debug!(work_item, waiter = %suspension.waiter, "an untracked call waits");
                    }
                    Ok(CallEnd::Returned(events)) => {
                        for event in events {
                            if let Some(end) = self.route(event, None, false) {
                                return Some(end);
                            }
                        }
                    }
                    Err(FailedCall::RunLimit(text)) => {
                        return Some(Err(WorkflowError::LimitExceeded(text)));
                    }
                    Err(FailedCall::Step(failure)) => {
                        return Some(Err(WorkflowError::StepFailed(failure)));
                    }
                }
                self.checkpoint_after_step();
                self.dispatch(step);
                self.answer_snapshots();
                None
            }
            BrokerMsg::WaitsInPlace {
                work_item,
                suspension,
                wake,
                let_go,
            } => {
                self.suspend(work_item, suspension, wake, let_go);
                None
            }
            BrokerMsg::PromptsReleased => {
                self.checkpoint_soon();
                self.answer_snapshots();
                None
            }
            BrokerMsg::Snapshot(reply) => {
                self.snapshot_requests.push(reply);
                self.answer_snapshots();
                None
            }
            BrokerMsg::Idleness(reply) => {
                let _ = reply.send(self.idle);
                None
            }
            BrokerMsg::Cancel => Some(Err(WorkflowError::Cancelled(
                "the run was cancelled by its caller".into(),
            ))),
        }
    }

    /// Ends the run: stops every worker, streams the terminal event, and
    /// publishes the outcome.
    pub(super) async fn finish(mut self, outcome: RunOutcome) {
        self.shared.ended.store(true, Ordering::Release);
        for reply in self.snapshot_requests.drain(..) {
            let _ = reply.send(Err(WorkflowError::ContextSerde(
                "the run ended before a snapshot could be taken".into(),
            )));
        }
        self.inline = None;
        self.tasks.shutdown().await;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            slot.queue.clear();
            self.shared.busy[index].store(0, Ordering::Relaxed);
        }
        if let Some(writer) = self.checkpoint.take() {
            let (mut last, _) = self.snapshot();
            last.outcome = Some(match &outcome {
                Ok(stop) => SnapshotOutcome::Completed {
                    stop_event: stop.event.clone(),
                },
                Err(err) => SnapshotOutcome::Failed {
                    kind: err.kind().to_string(),
                    message: err.to_string(),
                },
            });
            // The last checkpoint is saved before the run is reported
            // finished. Prompts still held are not streamed: nobody can
            // answer them any more.
            writer.submit(last, 0);
            writer.close().await;
        }
        let terminal = match &outcome {
            Ok(stop) => Some(stop.event.clone()),
            Err(err) => terminal_event(err, self.started.elapsed().as_secs_f64()),
        };
        if let Some(event) = terminal {
            self.shared.write_to_stream_past_limit(event);
        }
        self.shared.stream.close();
        self.outcome.send_replace(Some(outcome));
    }
}
