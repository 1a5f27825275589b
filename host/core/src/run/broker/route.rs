//! Routing events to steps, and starting step calls on free workers.

use std::sync::atomic::Ordering;

use serde_json::Value;

use crate::error::WorkflowError;
use crate::event::{Event, EventKind};
use crate::run::message::BrokerMsg;
use crate::run::outcome::{RunOutcome, StopOutput};

use super::call::{StepDone, run_step};
use super::events::stream_step_state;
use super::{Broker, InFlight};

impl Broker {
    /// Routes one event; returns the run's outcome if it ends the run.
    pub(super) fn route(
        &mut self,
        event: Event,
        target: Option<usize>,
        from_outside: bool,
    ) -> Option<RunOutcome> {
        let def = self.shared.def.clone();
        self.routed += 1;
        let max_events = def.options.limits.max_events_per_run;
        if self.routed > max_events {
            return Some(Err(WorkflowError::LimitExceeded(format!(
                "TooManyEvents: the run routed more than {max_events} events (limits.max_events_per_run)"
            ))));
        }
        let kind = def.kind_of(&event.name);
        if kind == EventKind::Stop {
            return Some(Ok(StopOutput::of(event)));
        }
        if from_outside && kind == EventKind::HumanResponse {
            self.awaiting_input = self.awaiting_input.saturating_sub(1);
        }
        let payload: Option<Value> = serde_json::from_str(&event.data).ok();
        let delivered = self.shared.waiters().deliver(&event, payload.as_ref());
        if let Some(answered) = delivered {
            if from_outside {
                // Saved before the waiting steps go on.
                self.checkpoint_soon();
            }
            for work_item in answered {
                self.wait_over(work_item);
            }
            return None;
        }
        if kind == EventKind::InputRequired && !from_outside {
            self.awaiting_input += 1;
            if let Err(message) = self.shared.stream_prompt(event.clone()) {
                return Some(Err(WorkflowError::LimitExceeded(message)));
            }
        }
        match target {
            Some(step) => self.enqueue(step, event),
            None => {
                let steps = def
                    .routes
                    .get(&event.name)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                match steps.split_last() {
                    Some((last, rest)) => {
                        for &step in rest {
                            self.enqueue(step, event.clone());
                        }
                        self.enqueue(*last, event);
                    }
                    None => tracing::debug!(event = %event.name, "no step accepts this event"),
                }
            }
        }
        None
    }

    pub(super) fn enqueue(&mut self, step: usize, event: Event) {
        self.shared.count_queued(&event);
        self.next_work_item += 1;
        self.slots[step]
            .queue
            .push_back((event, self.next_work_item));
        self.dispatch(step);
    }

    /// Queues `event` for `step` again, first in line, under its work item:
    /// a parked call whose wait is over.
    pub(super) fn enqueue_again(&mut self, step: usize, event: Event, work_item: u64) {
        self.shared.count_queued(&event);
        self.slots[step].queue.push_front((event, work_item));
        self.dispatch(step);
    }

    /// Starts queued events on free workers of `step`.
    pub(super) fn dispatch(&mut self, step: usize) {
        if !self.snapshot_requests.is_empty() || self.checkpoint_due {
            // Paused until the pending snapshot is taken.
            return;
        }
        let num_workers = self.shared.def.steps[step].num_workers.max(1);
        let slot = &mut self.slots[step];
        while slot.busy < num_workers {
            let Some((event, work_item)) = slot.queue.pop_front() else {
                break;
            };
            self.shared.uncount_queued(&event);
            let worker = slot.take_worker();
            slot.busy += 1;
            let call = InFlight {
                step,
                event: event.clone(),
                worker,
            };
            if self.shared.internal_events {
                stream_step_state(&self.shared, &call, true, None);
            }
            self.in_flight.insert(work_item, call);
            // Each attempt is traced as a `step` span, a child of the run's.
            let call = run_step(
                self.shared.clone(),
                self.pool.clone(),
                step,
                event,
                work_item,
                worker,
                tracing::Span::current(),
            );
            if self.inline.is_none() && self.in_flight.len() == 1 {
                self.inline = Some(Box::pin(call));
            } else {
                let broker = self.shared.broker.clone();
                self.tasks.spawn(async move {
                    let StepDone {
                        step,
                        work_item,
                        outcome,
                    } = call.await;
                    // The broker outlives its tasks, unless the run ended.
                    let _ = broker.send(BrokerMsg::Done {
                        step,
                        work_item,
                        outcome,
                    });
                });
            }
        }
        self.shared.busy[step].store(slot.busy, Ordering::Relaxed);
    }
}
