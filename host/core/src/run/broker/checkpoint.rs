//! Snapshots and checkpoints of a run: taken when it is quiescent, restored
//! when it resumes.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::error::WorkflowError;
use crate::snapshot::{QueuedEvent, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, Snapshot};

use crate::event::Event;

use super::{Broker, CHECKPOINT_INTERVAL};

impl Broker {
    /// Restores the queues and counters of a snapshot; in-progress events
    /// go first in their queues.
    pub(super) fn restore(&mut self, snapshot: Snapshot) -> Result<(), WorkflowError> {
        let index = &self.shared.def.step_index;
        for (saved, front) in [(snapshot.in_progress, true), (snapshot.queues, false)] {
            for (step_name, events) in saved {
                let step = *index.get(&step_name).ok_or_else(|| {
                    WorkflowError::ContextSerde(format!(
                        "the snapshot queues events for unknown step `{step_name}`"
                    ))
                })?;
                for queued in &events {
                    self.shared.count_queued(&queued.event);
                }
                let queue = &mut self.slots[step].queue;
                if front {
                    for queued in events.into_iter().rev() {
                        queue.push_front((queued.event, queued.work_item));
                    }
                } else {
                    queue.extend(events.into_iter().map(|q| (q.event, q.work_item)));
                }
            }
        }
        self.awaiting_input = snapshot.awaiting_input;
        self.routed = snapshot.routed;
        self.received = snapshot.received;
        self.next_work_item = snapshot.next_work_item;
        self.earlier = Duration::from_millis(snapshot.elapsed_ms);
        // The prompts that checkpoint held are durable now: stream them.
        for prompt in snapshot.held_prompts {
            self.shared.write_to_stream_past_limit(prompt);
        }
        Ok(())
    }

    /// Takes the pending snapshots if the run is quiescent: no step call
    /// running (suspended and parked ones may be). Then wakes the suspended
    /// calls whose wait is over and resumes dispatching.
    pub(super) fn answer_snapshots(&mut self) {
        if self.snapshot_requests.is_empty() && !self.checkpoint_due {
            return;
        }
        if self.any_running() {
            return;
        }
        let (snapshot, held_through) = self.snapshot();
        for reply in self.snapshot_requests.drain(..) {
            let _ = reply.send(Ok(snapshot.clone()));
        }
        if self.checkpoint_due {
            self.checkpoint_due = false;
            self.checkpoint_at = None;
            self.last_checkpoint = Some(tokio::time::Instant::now());
            if let Some(writer) = &self.checkpoint {
                writer.submit(snapshot, held_through);
            }
        }
        self.wake_waiting();
        for step in 0..self.slots.len() {
            self.dispatch(step);
        }
    }

    /// Asks for a checkpoint at the next quiescent moment, if checkpointed.
    pub(super) fn checkpoint_soon(&mut self) {
        if self.checkpoint.is_some() {
            self.checkpoint_due = true;
        }
    }

    /// Asks for a checkpoint after a step completion: at once if none was
    /// taken for [`CHECKPOINT_INTERVAL`] or a prompt waits for one, else
    /// when that interval is up (the broker's `checkpoint_at` alarm).
    pub(super) fn checkpoint_after_step(&mut self) {
        if self.checkpoint.is_none() || self.checkpoint_due {
            return;
        }
        let now = tokio::time::Instant::now();
        let next = self
            .last_checkpoint
            .map_or(now, |last| last + CHECKPOINT_INTERVAL);
        if next <= now || self.shared.has_held_prompts() {
            self.checkpoint_due = true;
        } else if self.checkpoint_at.is_none() {
            self.checkpoint_at = Some(next);
        }
    }

    /// The run as it is now, and the sequence number of the last prompt
    /// the snapshot holds (released once it is saved).
    pub(super) fn snapshot(&self) -> (Snapshot, u64) {
        let def = &self.shared.def;
        let (held, stream_position) = self.shared.held_prompts();
        let names: Vec<String> = def.steps.iter().map(|s| s.name.clone()).collect();
        let mut queues = BTreeMap::new();
        for (step, slot) in self.slots.iter().enumerate() {
            if !slot.queue.is_empty() {
                let events = slot
                    .queue
                    .iter()
                    .map(|(event, work_item)| QueuedEvent {
                        work_item: *work_item,
                        event: event.clone(),
                    })
                    .collect();
                queues.insert(names[step].clone(), events);
            }
        }
        let mut in_progress: BTreeMap<String, Vec<QueuedEvent>> = BTreeMap::new();
        // Calls in flight (suspended ones too) and those that ended at
        // their wait run again on resume, in the order they started.
        let mut started: Vec<(u64, usize, &Event)> = self
            .in_flight
            .iter()
            .map(|(item, call)| (*item, call.step, &call.event))
            .chain(self.parked.ended())
            .collect();
        started.sort_by_key(|(item, _, _)| *item);
        for (work_item, step, event) in started {
            in_progress
                .entry(names[step].clone())
                .or_default()
                .push(QueuedEvent {
                    work_item,
                    event: event.clone(),
                });
        }
        let snapshot = Snapshot {
            format: SNAPSHOT_FORMAT.to_string(),
            version: SNAPSHOT_VERSION,
            workflow: def.identity(),
            run_id: self.shared.run_id.clone(),
            state: (*self.shared.state.snapshot()).clone(),
            queues,
            in_progress,
            collect_buffers: self.shared.collect().snapshot(&names),
            waiters: self.shared.waiters().snapshot(),
            awaiting_input: self.awaiting_input,
            stream_position,
            held_prompts: held.events,
            internal_streamed: self.shared.internal_streamed.load(Ordering::Acquire),
            streamed_bytes: self.shared.streamed_bytes.load(Ordering::Acquire),
            routed: self.routed,
            received: self.received,
            next_work_item: self.next_work_item,
            elapsed_ms: u64::try_from((self.earlier + self.started.elapsed()).as_millis())
                .unwrap_or(u64::MAX),
            origin: self.origin.clone(),
            outcome: None,
        };
        (snapshot, held.through)
    }
}
