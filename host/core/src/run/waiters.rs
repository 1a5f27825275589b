//! `wait_for_event` waiters: steps waiting until a matching event arrives.
//!
//! A waiting call is suspended in its wait, keeping its instance but no
//! worker, and goes on from the wait once answered (the broker's
//! `suspend`). When it may keep its instance no longer (`limits.
//! wait_in_place`, another call needing the slot, a restart), its call
//! ends there, as every wait does in the reference: the step runs again
//! from the start, with the same event and work item, once the answer is in
//! or the wait timed out, and that time `wait_for_event` returns at once.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::event::Event;
use crate::snapshot::{TimedOutWaiter, WaiterSnapshot, WaitersSnapshot};

struct Pending {
    id: String,
    event: String,
    requirements: Map<String, Value>,
    /// The work items to run again once answered: several steps may wait
    /// under one waiter id, and one answer serves them all. Empty for a
    /// waiter restored from a snapshot whose steps have not asked again yet
    /// (its answer is kept for when they do).
    work_items: Vec<u64>,
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
    /// Waits whose time ran out, by waiter id and work item: that work
    /// item's next ask fails with a timeout.
    timed_out: HashSet<TimedOutWaiter>,
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

/// What a step call waits for: `waiter`, until `deadline`. Carried out of
/// the guest as the error its `wait_for_event` traps with when the call
/// lets go of its instance, so no guest code runs after it.
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
        let key = TimedOutWaiter { id, work_item };
        if self.timed_out.remove(&key) {
            return Registration::TimedOut;
        }
        let id = key.id;
        let first_time = self.streamed.insert(id.clone());
        match self.pending.iter_mut().find(|p| p.id == id) {
            Some(pending) => {
                pending.event = event;
                pending.requirements = requirements;
                if !pending.work_items.contains(&work_item) {
                    pending.work_items.push(work_item);
                }
            }
            None => self.pending.push(Pending {
                id,
                event,
                requirements,
                work_items: vec![work_item],
            }),
        }
        Registration::Waiting { first_time }
    }

    /// Whether the waiter `id` still waits for its answer.
    pub(crate) fn is_pending(&self, id: &str) -> bool {
        self.pending.iter().any(|p| p.id == id)
    }

    /// The wait of `work_item` under `id` timed out: that work item waits
    /// no more, and its next ask fails; other work items waiting under the
    /// same id wait on. Returns whether it was waiting.
    pub(crate) fn time_out(&mut self, id: &str, work_item: u64) -> bool {
        let Some(index) = self.pending.iter().position(|p| p.id == id) else {
            return false;
        };
        let pending = &mut self.pending[index];
        let before = pending.work_items.len();
        pending.work_items.retain(|&item| item != work_item);
        if pending.work_items.len() == before {
            return false;
        }
        if pending.work_items.is_empty() {
            self.pending.swap_remove(index);
        }
        self.timed_out.insert(TimedOutWaiter {
            id: id.to_string(),
            work_item,
        });
        true
    }

    /// Whether any waiter waits for events of type `name`.
    pub(crate) fn waits_for(&self, name: &str) -> bool {
        self.pending.iter().any(|p| p.event == name)
    }

    /// Hands `event` to every waiter it satisfies. `None` if none took it,
    /// else the work items to run again (every one waiting under a matched
    /// id; waiters restored from a snapshot may have none). `payload` is
    /// the event's parsed payload, when it parses.
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
                resumed.extend(pending.work_items);
            } else {
                index += 1;
            }
        }
        resumed
    }
}

impl Waiters {
    /// The waits not answered yet (in no particular order).
    pub(crate) fn pending(&self) -> Vec<WaiterSnapshot> {
        self.pending
            .iter()
            .map(|p| WaiterSnapshot {
                id: p.id.clone(),
                event: p.event.clone(),
                requirements: p.requirements.clone(),
            })
            .collect()
    }

    /// The waiters as a snapshot holds them.
    pub(crate) fn snapshot(&self) -> WaitersSnapshot {
        let mut streamed: Vec<String> = self.streamed.iter().cloned().collect();
        streamed.sort();
        WaitersSnapshot {
            pending: self.pending(),
            streamed,
            answered: self.answered.clone().into_iter().collect(),
            timed_out: {
                let mut timed_out: Vec<TimedOutWaiter> = self.timed_out.iter().cloned().collect();
                timed_out.sort();
                timed_out
            },
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
                    work_items: Vec::new(),
                })
                .collect(),
            streamed: snapshot.streamed.into_iter().collect(),
            answered: snapshot.answered.into_iter().collect(),
            timed_out: snapshot.timed_out.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(user: &str) -> (Event, Value) {
        let payload = serde_json::json!({ "user": user });
        let event = Event {
            name: "Answer".into(),
            data: payload.to_string(),
        };
        (event, payload)
    }

    fn register(waiters: &mut Waiters, id: &str, work_item: u64) -> Registration {
        waiters.register(id.into(), "Answer".into(), Map::new(), work_item)
    }

    #[test]
    fn one_answer_resumes_every_work_item_waiting_under_its_id() {
        let mut waiters = Waiters::default();
        assert!(matches!(
            register(&mut waiters, "shared", 1),
            Registration::Waiting { first_time: true }
        ));
        assert!(matches!(
            register(&mut waiters, "shared", 2),
            Registration::Waiting { first_time: false }
        ));
        let (event, payload) = answer("ada");
        let mut resumed = waiters.deliver(&event, Some(&payload)).unwrap();
        resumed.sort();
        assert_eq!(resumed, [1, 2]);
        assert!(!waiters.is_pending("shared"));
        assert!(matches!(
            register(&mut waiters, "shared", 2),
            Registration::Answered(_)
        ));
    }

    #[test]
    fn a_timeout_ends_only_the_wait_of_its_work_item() {
        let mut waiters = Waiters::default();
        register(&mut waiters, "shared", 1);
        register(&mut waiters, "shared", 2);
        assert!(waiters.time_out("shared", 1));
        assert!(!waiters.time_out("shared", 1), "already timed out");
        assert!(waiters.is_pending("shared"), "work item 2 still waits");
        assert!(matches!(
            register(&mut waiters, "shared", 1),
            Registration::TimedOut
        ));
        let (event, payload) = answer("ada");
        assert_eq!(waiters.deliver(&event, Some(&payload)), Some(vec![2]));
    }

    #[test]
    fn a_timeout_survives_a_snapshot() {
        let mut waiters = Waiters::default();
        register(&mut waiters, "w", 7);
        assert!(waiters.time_out("w", 7));
        let snapshot = waiters.snapshot();
        let text = serde_json::to_string(&snapshot).unwrap();
        let restored: WaitersSnapshot = serde_json::from_str(&text).unwrap();
        let mut waiters = Waiters::restore(restored);
        assert!(matches!(
            register(&mut waiters, "w", 7),
            Registration::TimedOut
        ));
    }

    #[test]
    fn snapshots_of_older_hosts_have_no_timed_out_field() {
        let old = r#"{"pending":[{"id":"w","event":"Answer","requirements":{}}],"streamed":["w"],"answered":{}}"#;
        let snapshot: WaitersSnapshot = serde_json::from_str(old).unwrap();
        assert!(snapshot.timed_out.is_empty());
        let mut waiters = Waiters::restore(snapshot);
        assert!(waiters.is_pending("w"));
        assert!(matches!(
            register(&mut waiters, "w", 3),
            Registration::Waiting { first_time: false }
        ));
    }
}
