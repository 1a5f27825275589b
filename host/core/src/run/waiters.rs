//! `wait_for_event` waiters: steps blocked until a matching event arrives.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::event::Event;
use crate::snapshot::{WaiterSnapshot, WaitersSnapshot};

struct Pending {
    id: String,
    event: String,
    requirements: Map<String, Value>,
    /// `None` for a waiter restored from a snapshot whose step has not asked
    /// again yet: its answer is kept for when it does.
    reply: Option<oneshot::Sender<Event>>,
}

/// The waiters of one run.
#[derive(Default)]
pub(crate) struct Waiters {
    pending: Vec<Pending>,
    /// Waiter ids whose waiter event was already streamed.
    streamed: HashSet<String>,
    /// Answers already delivered, by waiter id: a retried step asking again
    /// gets the same answer without asking twice.
    answered: HashMap<String, Event>,
}

/// What `register` found.
pub(crate) enum Registration {
    /// The waiter was answered before: here is the answer.
    Answered(Event),
    /// Wait on this receiver; `first_time` says whether to stream the waiter
    /// event.
    Waiting {
        receiver: oneshot::Receiver<Event>,
        first_time: bool,
    },
}

impl Waiters {
    pub(crate) fn register(
        &mut self,
        id: String,
        event: String,
        requirements: Map<String, Value>,
    ) -> Registration {
        if let Some(answer) = self.answered.get(&id) {
            return Registration::Answered(answer.clone());
        }
        let first_time = self.streamed.insert(id.clone());
        let (reply, receiver) = oneshot::channel();
        self.pending.retain(|p| p.id != id);
        self.pending.push(Pending {
            id,
            event,
            requirements,
            reply: Some(reply),
        });
        Registration::Waiting {
            receiver,
            first_time,
        }
    }

    /// Drops the waiter `id` (it timed out or its step ended).
    pub(crate) fn cancel(&mut self, id: &str) {
        self.pending.retain(|p| p.id != id);
    }

    /// Whether any waiter waits for events of type `name`.
    pub(crate) fn waits_for(&self, name: &str) -> bool {
        self.pending.iter().any(|p| p.event == name)
    }

    /// Hands `event` to every waiter it satisfies; returns whether any took
    /// it. `payload` is the event's parsed payload, when it parses.
    pub(crate) fn deliver(&mut self, event: &Event, payload: Option<&Value>) -> bool {
        let mut delivered = false;
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
                // The receiver may be gone (its step ended): that is fine.
                if let Some(reply) = pending.reply {
                    let _ = reply.send(event.clone());
                }
                delivered = true;
            } else {
                index += 1;
            }
        }
        delivered
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
    /// for their answer.
    pub(crate) fn restore(snapshot: WaitersSnapshot) -> Self {
        Self {
            pending: snapshot
                .pending
                .into_iter()
                .map(|p| Pending {
                    id: p.id,
                    event: p.event,
                    requirements: p.requirements,
                    reply: None,
                })
                .collect(),
            streamed: snapshot.streamed.into_iter().collect(),
            answered: snapshot.answered.into_iter().collect(),
        }
    }
}
