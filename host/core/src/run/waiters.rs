//! `wait_for_event` waiters: steps parked until a matching event arrives.
//!
//! As in the reference, a step that waits does not hold on to anything:
//! its call ends (the instance is dropped, the worker freed) and the step
//! runs again from the start, with the same event and work item, once the
//! answer is in or the wait timed out; that time `wait_for_event` returns
//! at once. Code before the wait therefore runs again, as in the reference.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::event::Event;
use crate::snapshot::{WaiterSnapshot, WaitersSnapshot};

struct Pending {
    id: String,
    event: String,
    requirements: Map<String, Value>,
    /// The work item to run again once answered; `None` for a waiter
    /// restored from a snapshot whose step has not asked again yet (its
    /// answer is kept for when it does).
    work_item: Option<u64>,
}

/// The waiters of one run.
#[derive(Default)]
pub(crate) struct Waiters {
    pending: Vec<Pending>,
    /// Waiter ids whose waiter event was already streamed.
    streamed: HashSet<String>,
    /// Answers already delivered, by waiter id: the step running again
    /// (or a retry) asking again gets the same answer without asking twice.
    answered: HashMap<String, Event>,
    /// Waiters whose time ran out: the step's next ask fails with a timeout.
    timed_out: HashSet<String>,
}

/// What `register` found.
pub(crate) enum Registration {
    /// The waiter was answered before: here is the answer.
    Answered(Event),
    /// The waiter timed out before: the wait fails.
    TimedOut,
    /// No answer yet: the call parks. `first_time` says whether to stream
    /// the waiter event.
    Waiting { first_time: bool },
}

/// Why a step call ended without returning: it waits for `waiter`. Carried
/// out of the guest as the error its `wait_for_event` traps with, so no
/// guest code runs after it.
#[derive(Debug, Clone)]
pub(crate) struct Suspension {
    /// The waiter id.
    pub(crate) waiter: String,
    /// When the wait times out, if it does.
    pub(crate) deadline: Option<tokio::time::Instant>,
}

impl std::fmt::Display for Suspension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the step waits for `{}`", self.waiter)
    }
}

impl std::error::Error for Suspension {}

impl Waiters {
    /// Registers the waiter `id` of `work_item`, or finds its answer.
    pub(crate) fn register(
        &mut self,
        id: String,
        event: String,
        requirements: Map<String, Value>,
        work_item: u64,
    ) -> Registration {
        if let Some(answer) = self.answered.get(&id) {
            return Registration::Answered(answer.clone());
        }
        if self.timed_out.remove(&id) {
            return Registration::TimedOut;
        }
        let first_time = self.streamed.insert(id.clone());
        self.pending.retain(|p| p.id != id);
        self.pending.push(Pending {
            id,
            event,
            requirements,
            work_item: Some(work_item),
        });
        Registration::Waiting { first_time }
    }

    /// Whether the waiter `id` still waits for its answer.
    pub(crate) fn is_pending(&self, id: &str) -> bool {
        self.pending.iter().any(|p| p.id == id)
    }

    /// The waiter `id` timed out: it waits no more, and its step's next ask
    /// fails. Returns whether it was waiting.
    pub(crate) fn time_out(&mut self, id: &str) -> bool {
        let before = self.pending.len();
        self.pending.retain(|p| p.id != id);
        if self.pending.len() == before {
            return false;
        }
        self.timed_out.insert(id.to_string());
        true
    }

    /// Whether any waiter waits for events of type `name`.
    pub(crate) fn waits_for(&self, name: &str) -> bool {
        self.pending.iter().any(|p| p.event == name)
    }

    /// Hands `event` to every waiter it satisfies. `None` if none took it,
    /// else the work items to run again (waiters restored from a snapshot
    /// have none). `payload` is the event's parsed payload, when it parses.
    pub(crate) fn deliver(&mut self, event: &Event, payload: Option<&Value>) -> Option<Vec<u64>> {
        let mut resumed = None;
        let mut index = 0;
        while index < self.pending.len() {
            let pending = &self.pending[index];
            let matches = pending.event == event.name
                && pending
                    .requirements
                    .iter()
                    .all(|(key, expected)| payload.and_then(|p| p.get(key)) == Some(expected));
            if matches {
                let pending = self.pending.swap_remove(index);
                self.answered.insert(pending.id, event.clone());
                let resumed: &mut Vec<u64> = resumed.get_or_insert_with(Vec::new);
                resumed.extend(pending.work_item);
            } else {
                index += 1;
            }
        }
        resumed
    }
}

impl Waiters {
    /// The waiters as a snapshot holds them.
    pub(crate) fn snapshot(&self) -> WaitersSnapshot {
        let mut streamed: Vec<String> = self.streamed.iter().cloned().collect();
        streamed.sort();
        WaitersSnapshot {
            pending: self
                .pending
                .iter()
                .map(|p| WaiterSnapshot {
                    id: p.id.clone(),
                    event: p.event.clone(),
                    requirements: p.requirements.clone(),
                })
                .collect(),
            streamed,
            answered: self.answered.clone().into_iter().collect(),
        }
    }

    /// Waiters restored from a snapshot: pending ones wait, without a step,
    /// for their answer (their steps run again from the snapshot's
    /// in-progress events and ask again).
    pub(crate) fn restore(snapshot: WaitersSnapshot) -> Self {
        Self {
            pending: snapshot
                .pending
                .into_iter()
                .map(|p| Pending {
                    id: p.id,
                    event: p.event,
                    requirements: p.requirements,
                    work_item: None,
                })
                .collect(),
            streamed: snapshot.streamed.into_iter().collect(),
            answered: snapshot.answered.into_iter().collect(),
            timed_out: HashSet::new(),
        }
    }
}
