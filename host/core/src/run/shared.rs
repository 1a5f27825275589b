//! The part of a run that its broker, its workers' host imports and its
//! handler share.

use crate::sync::lock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::budget::Charge;
use crate::definition::{EmitError, WorkflowDef};
use crate::engine::Engine;
use crate::event::Event;
use crate::state::StateStore;

use super::collect::CollectBuffers;
use super::message::BrokerMsg;
use super::output;
use super::prompts::{HeldPrompts, HeldSnapshot};
use super::stream::StreamWriter;
use super::waiters::Waiters;

/// The part of a run shared by its broker, its workers and its handler.
pub(crate) struct RunShared {
    pub(crate) def: Arc<WorkflowDef>,
    pub(crate) run_id: String,
    pub(crate) state: StateStore,
    pub(crate) broker: mpsc::UnboundedSender<BrokerMsg>,
    /// The run's event stream.
    pub(crate) stream: StreamWriter,
    pub(crate) collect: Mutex<CollectBuffers>,
    pub(crate) waiters: Mutex<Waiters>,
    /// Prompts held until the checkpoint recording them is saved.
    pub(crate) prompts: Mutex<HeldPrompts>,
    /// Busy workers per step.
    pub(crate) busy: Vec<AtomicU32>,
    pub(crate) ended: AtomicBool,
    /// Guest stdout and stderr.
    pub(crate) log: output::SharedLog,
    /// Streamed events not read yet.
    pub(crate) unread: Arc<AtomicUsize>,
    /// The run timeout.
    pub(crate) timeout: Option<std::time::Duration>,
    /// Whether the run streams its internal events too.
    pub(crate) internal_events: bool,
    /// Whether the run streams a `WorkflowIdleEvent` when it comes to be
    /// idle (with its internal events, or alone).
    pub(crate) idle_events: bool,
    /// Internal events streamed so far (against
    /// `limits.max_internal_events`).
    pub(crate) internal_streamed: AtomicU64,
    /// Payload bytes the steps streamed so far (against
    /// `limits.max_stream_bytes`).
    pub(crate) streamed_bytes: AtomicU64,
    /// Payload bytes of the events sent and not yet taken by a step: on
    /// their way to the broker or in its queues (against
    /// `limits.max_queued_bytes`).
    pub(crate) queued_bytes: AtomicU64,
    /// How many events those are (the engine counts every run's).
    pub(crate) queued_events: AtomicU64,
    /// Where the run's events in flight are charged (the host's budget).
    pub(crate) engine: Engine,
}

impl RunShared {
    pub(crate) fn collect(&self) -> MutexGuard<'_, CollectBuffers> {
        lock(&self.collect)
    }

    pub(crate) fn waiters(&self) -> MutexGuard<'_, Waiters> {
        lock(&self.waiters)
    }

    /// Counts a step's streamed event against `limits.max_stream_bytes` and
    /// charges it to the host's memory budget until it is read; an error
    /// naming the limit (nothing counted) past either.
    pub(crate) fn admit_streamed(&self, event: &Event) -> Result<Charge, String> {
        let max = self.def.options.limits.max_stream_bytes;
        let size = event.data.len() as u64;
        add_within(&self.streamed_bytes, size, max.as_u64(), false).map_err(|before| {
            format!(
                "StreamTooLarge: the run streamed {} already; a {} event of {} would pass limits.max_stream_bytes ({max})",
                bytesize::ByteSize::b(before),
                event.name,
                bytesize::ByteSize::b(size)
            )
        })?;
        self.engine.charge_memory(size).map_err(|(in_use, budget)| {
            self.streamed_bytes.fetch_sub(size, Ordering::AcqRel);
            host_memory_exhausted(event, size, in_use, budget)
        })
    }

    /// Writes an event to the stream, with what it holds of the host's
    /// budget until read; an error naming the limit when the stream already
    /// holds `limits.stream_buffer` unread events.
    pub(crate) fn write_to_stream(
        &self,
        event: Event,
        charge: Option<Charge>,
    ) -> Result<(), String> {
        let limit = self.def.options.limits.stream_buffer;
        if self.unread.fetch_add(1, Ordering::AcqRel) >= limit {
            self.unread.fetch_sub(1, Ordering::AcqRel);
            return Err(stream_buffer_full(limit));
        }
        self.stream.send(event, charge);
        Ok(())
    }

    /// Streams a prompt (a request for input or a waiter event), or holds
    /// it until the checkpoint recording it is saved when the run is
    /// checkpointed. Held prompts count against `limits.stream_buffer` as
    /// streamed ones do.
    pub(crate) fn stream_prompt(&self, event: Event) -> Result<(), String> {
        // Prompts are few (one per wait) and bounded per run: they count
        // against the run's stream, not the host's budget.
        drop(self.admit_streamed(&event)?);
        let mut prompts = lock(&self.prompts);
        let limit = self.def.options.limits.stream_buffer;
        if self.unread.load(Ordering::Acquire) + prompts.len() >= limit {
            return Err(stream_buffer_full(limit));
        }
        match prompts.offer(event) {
            None => Ok(()),
            Some(event) => {
                drop(prompts);
                self.write_to_stream(event, None)
            }
        }
    }

    /// Whether prompts wait for a checkpoint to be saved.
    pub(crate) fn has_held_prompts(&self) -> bool {
        lock(&self.prompts).len() > 0
    }

    /// The prompts held now and the stream position, for a snapshot, read
    /// together: a prompt being released is either still held or already
    /// counted.
    pub(crate) fn held_prompts(&self) -> (HeldSnapshot, u64) {
        let prompts = lock(&self.prompts);
        (prompts.snapshot(), self.stream.position())
    }

    /// Streams the prompts held up to `through`: the snapshot holding them
    /// is saved. The broker is told, so that the next checkpoint records
    /// them as streamed (else a resume would stream them again).
    pub(crate) fn release_prompts(&self, through: u64) {
        // Streamed under the lock, so that a snapshot sees each prompt
        // either held or counted in the stream position, never neither.
        let mut prompts = lock(&self.prompts);
        let released = prompts.release(through);
        if released.is_empty() {
            return;
        }
        for event in released {
            self.write_to_stream_past_limit(event);
        }
        drop(prompts);
        let _ = self.broker.send(BrokerMsg::PromptsReleased);
    }

    /// Writes an event to the stream even past `limits.stream_buffer`: the
    /// run's last event, and the runtime's own events (which a guest cannot
    /// multiply beyond its step calls); returns its position.
    pub(crate) fn write_to_stream_past_limit(&self, event: Event) -> u64 {
        self.unread.fetch_add(1, Ordering::AcqRel);
        self.stream.send(event, None)
    }

    /// Streams one of the runtime's own events, unless the run has
    /// streamed `limits.max_internal_events` of them already.
    pub(crate) fn write_internal(&self, event: Event) {
        let max = self.def.options.limits.max_internal_events;
        let count = self.internal_streamed.fetch_add(1, Ordering::AcqRel);
        if count < max {
            self.write_to_stream_past_limit(event);
        } else if count == max {
            tracing::warn!(
                run = %self.run_id,
                "the run streamed {max} internal events (limits.max_internal_events): later ones are dropped"
            );
        }
    }

    /// Checks an event that step `step` returns or sends (see
    /// [`WorkflowDef::check_emitted`]). A check against another component's
    /// schemas runs on tokio's blocking threads, never on the async workers
    /// that serve every other run; it is bounded (see `schema`) and counts
    /// against the calling step's time.
    pub(crate) async fn check_emitted(&self, step: usize, event: &Event) -> Result<(), EmitError> {
        let def = &self.def;
        if !def.crosses_schemas(def.steps[step].component, &event.name) {
            return def.check_emitted(step, event);
        }
        let def = def.clone();
        let event = event.clone();
        tokio::task::spawn_blocking(move || def.check_emitted(step, &event))
            .await
            .unwrap_or_else(|err| {
                Err(EmitError::SchemaViolation(format!(
                    "the schema check stopped: {err}"
                )))
            })
    }

    /// Counts `event` as queued, unless that would take the run past
    /// `limits.max_queued_bytes`: the error says so, and nothing is
    /// counted.
    pub(crate) fn admit_queued(&self, event: &Event) -> Result<(), String> {
        let max = self.def.options.limits.max_queued_bytes;
        let cost = queued_cost(event);
        // One event is always let through, however big: an empty queue
        // never refuses (events are capped by limits.max_event_bytes).
        add_within(&self.queued_bytes, cost, max.as_u64(), true).map_err(|before| {
            format!(
                "QueueFull: the run's queued events hold {} already; a {} event of {} would pass limits.max_queued_bytes ({max})",
                bytesize::ByteSize::b(before),
                event.name,
                bytesize::ByteSize::b(cost)
            )
        })?;
        // The host's budget mirrors `queued_bytes`: taken here, given back
        // as events leave the queues (and what is left when the run drops).
        self.engine.take_memory(cost).map_err(|(in_use, budget)| {
            self.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
            host_memory_exhausted(event, cost, in_use, budget)
        })?;
        self.queued_events.fetch_add(1, Ordering::AcqRel);
        self.engine.count_queued_events(1);
        Ok(())
    }

    /// Counts `event` as queued (the broker queues it for a step).
    pub(crate) fn count_queued(&self, event: &Event) {
        let cost = queued_cost(event);
        self.queued_bytes.fetch_add(cost, Ordering::AcqRel);
        self.engine.take_memory_anyway(cost);
        self.queued_events.fetch_add(1, Ordering::AcqRel);
        self.engine.count_queued_events(1);
    }

    /// `event` is no longer queued (a step took it, or the broker received
    /// it from its sender).
    pub(crate) fn uncount_queued(&self, event: &Event) {
        let cost = queued_cost(event);
        if let Ok(queued) =
            self.queued_bytes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                    Some(queued.saturating_sub(cost))
                })
        {
            self.engine.give_back_memory(queued.min(cost));
        }
        if self
            .queued_events
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                queued.checked_sub(1)
            })
            .is_ok()
        {
            self.engine.uncount_queued_events(1);
        }
    }

    /// Checks an event's size against `limits.max_event_bytes`.
    pub(crate) fn check_event_size(&self, event: &Event) -> Result<(), String> {
        check_event_size(&self.def.options.limits, event)
    }

    pub(crate) fn running_steps(&self) -> Vec<String> {
        self.busy
            .iter()
            .zip(&self.def.steps)
            .filter(|(busy, _)| busy.load(Ordering::Relaxed) > 0)
            .map(|(_, step)| step.name.clone())
            .collect()
    }

    pub(crate) fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Checks that `event` may be sent to `target` (or anywhere), with the
    /// seed's messages.
    pub(crate) fn check_target(
        &self,
        event: &Event,
        target: Option<&str>,
    ) -> Result<Option<usize>, TargetError> {
        let Some(name) = target else {
            return Ok(None);
        };
        let Some(&index) = self.def.step_index.get(name) else {
            return Err(TargetError::NoSuchStep(format!(
                "Step {name} does not exist"
            )));
        };
        if !self.def.steps[index].accepts.contains(&event.name) {
            return Err(TargetError::NotAccepted(format!(
                "Step {name} does not accept event of type {}",
                event.name
            )));
        }
        Ok(Some(index))
    }
}

/// What an event costs a run's queue: its name and payload.
fn queued_cost(event: &Event) -> u64 {
    (event.name.len() + event.data.len()) as u64
}

/// The error of a stream holding `limit` unread events.
fn stream_buffer_full(limit: usize) -> String {
    format!("StreamBufferFull: {limit} streamed events wait unread (limits.stream_buffer)")
}

/// Checks an event's size against `limits.max_event_bytes`.
pub(crate) fn check_event_size(
    limits: &crate::limits::Limits,
    event: &Event,
) -> Result<(), String> {
    let max = limits.max_event_bytes;
    let size = event.data.len() as u64;
    if size > max.as_u64() {
        return Err(format!(
            "EventTooLarge: a {} event of {} exceeds limits.max_event_bytes ({max})",
            event.name,
            bytesize::ByteSize::b(size)
        ));
    }
    Ok(())
}

/// Why an event cannot go to the step it names (the seed's messages).
pub(crate) enum TargetError {
    /// No step has that name.
    NoSuchStep(String),
    /// The step does not accept the event's type.
    NotAccepted(String),
}

/// Adds `cost` to `counter` unless that takes it past `max` (past it is
/// allowed from zero when `first_always`); on refusal, what it held.
fn add_within(counter: &AtomicU64, cost: u64, max: u64, first_always: bool) -> Result<(), u64> {
    let before = counter.fetch_add(cost, Ordering::AcqRel);
    let over = before.saturating_add(cost) > max && !(first_always && before == 0);
    if over {
        counter.fetch_sub(cost, Ordering::AcqRel);
        return Err(before);
    }
    Ok(())
}

impl Drop for RunShared {
    fn drop(&mut self) {
        // Events still queued when the run went away leave with it.
        self.engine.give_back_memory(*self.queued_bytes.get_mut());
        self.engine
            .uncount_queued_events(*self.queued_events.get_mut());
    }
}

/// The error of an event the host's memory budget has no room for.
fn host_memory_exhausted(
    event: &Event,
    size: u64,
    in_use: u64,
    budget: bytesize::ByteSize,
) -> String {
    format!(
        "HostMemoryExhausted: a {} event of {} would pass the host's memory budget ({budget}, {} in use; RuntimeConfig::memory_budget, wflow serve --memory-budget)",
        event.name,
        bytesize::ByteSize::b(size),
        bytesize::ByteSize::b(in_use)
    )
}
