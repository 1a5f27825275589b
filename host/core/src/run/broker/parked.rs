//! Step calls waiting in `wait_for_event`. A call is suspended inside its
//! wait, keeping its instance, for up to `limits.wait_in_place`: answered
//! by then, it goes on from the wait. Past that (or at once when it may
//! keep nothing) it lets go of its instance and worker and ends; its event
//! runs again from the start once the waiter is answered or times out.

use std::collections::{BTreeSet, HashMap};

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::event::Event;
use crate::run::message::Wake;

/// How a waiting call waits.
pub(super) enum Held {
    /// The call ended at its wait: this event runs again once answered.
    Ended(Event),
    /// The call is suspended inside its wait, keeping its instance, until
    /// woken through `wake`: at `let_go` at the latest.
    Suspended {
        wake: oneshot::Sender<Wake>,
        let_go: Instant,
    },
}

/// A step call waiting for its answer.
pub(super) struct Parked {
    pub(super) step: usize,
    /// Its waiter id.
    pub(super) waiter: String,
    /// When its wait times out, if it does.
    pub(super) deadline: Option<Instant>,
    pub(super) held: Held,
}

impl Parked {
    /// When the broker must look at this call again: its wait's deadline,
    /// or earlier, the moment it must let go of its instance.
    fn alarm(&self) -> Option<Instant> {
        match &self.held {
            Held::Ended(_) => self.deadline,
            Held::Suspended { let_go, .. } => {
                Some(self.deadline.map_or(*let_go, |at| at.min(*let_go)))
            }
        }
    }
}

/// The waiting calls of one run, by work item, with their alarms in order.
#[derive(Default)]
pub(super) struct ParkedCalls {
    calls: HashMap<u64, Parked>,
    alarms: BTreeSet<(Instant, u64)>,
}

impl ParkedCalls {
    /// Parks `work_item` until its waiter is answered or its alarm rings.
    pub(super) fn park(&mut self, work_item: u64, parked: Parked) {
        if let Some(earlier) = self.take(work_item) {
            tracing::debug!(work_item, waiter = %earlier.waiter, "a parked call parks again");
        }
        if let Some(at) = parked.alarm() {
            self.alarms.insert((at, work_item));
        }
        self.calls.insert(work_item, parked);
    }

    /// Unparks `work_item`, if parked.
    pub(super) fn take(&mut self, work_item: u64) -> Option<Parked> {
        let parked = self.calls.remove(&work_item)?;
        if let Some(at) = parked.alarm() {
            self.alarms.remove(&(at, work_item));
        }
        Some(parked)
    }

    /// The earliest alarm of a parked call.
    pub(super) fn next_alarm(&self) -> Option<Instant> {
        self.alarms.first().map(|(at, _)| *at)
    }

    /// Unparks the calls whose alarm is `now` or earlier.
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<(u64, Parked)> {
        let mut due = Vec::new();
        while let Some(&(at, work_item)) = self.alarms.first() {
            if at > now {
                break;
            }
            self.alarms.pop_first();
            if let Some(parked) = self.calls.remove(&work_item) {
                due.push((work_item, parked));
            }
        }
        due
    }

    /// The calls that ended at their wait, in no particular order: their
    /// work item, step and event.
    pub(super) fn ended(&self) -> impl Iterator<Item = (u64, usize, &Event)> {
        self.calls
            .iter()
            .filter_map(|(item, parked)| match &parked.held {
                Held::Ended(event) => Some((*item, parked.step, event)),
                Held::Suspended { .. } => None,
            })
    }

    /// Unparks `work_item` if it is suspended inside its wait.
    pub(super) fn take_suspended(&mut self, work_item: u64) -> Option<Parked> {
        if self.is_suspended(work_item) {
            self.take(work_item)
        } else {
            None
        }
    }

    /// Whether `work_item` is suspended inside its wait.
    pub(super) fn is_suspended(&self, work_item: u64) -> bool {
        self.calls
            .get(&work_item)
            .is_some_and(|parked| matches!(parked.held, Held::Suspended { .. }))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ended(waiter: &str, deadline: Option<Instant>) -> Parked {
        Parked {
            step: 0,
            waiter: waiter.into(),
            deadline,
            held: Held::Ended(Event {
                name: "E".into(),
                data: "{}".into(),
            }),
        }
    }

    #[test]
    fn due_calls_come_out_in_alarm_order_and_only_once() {
        let now = Instant::now();
        let mut parked = ParkedCalls::default();
        parked.park(1, ended("a", Some(now + Duration::from_millis(20))));
        parked.park(2, ended("b", Some(now + Duration::from_millis(10))));
        parked.park(3, ended("c", None));
        assert_eq!(parked.next_alarm(), Some(now + Duration::from_millis(10)));
        let first: Vec<u64> = parked
            .take_due(now + Duration::from_millis(15))
            .into_iter()
            .map(|(item, _)| item)
            .collect();
        assert_eq!(first, [2]);
        assert!(parked.take(1).is_some());
        assert_eq!(parked.next_alarm(), None);
        assert!(parked.take_due(now + Duration::from_secs(60)).is_empty());
        assert_eq!(parked.ended().count(), 1);
    }

    #[test]
    fn parking_again_replaces_the_alarm() {
        let now = Instant::now();
        let mut parked = ParkedCalls::default();
        parked.park(1, ended("a", Some(now)));
        parked.park(1, ended("a", None));
        assert_eq!(parked.next_alarm(), None);
        assert!(parked.take_due(now).is_empty());
        assert_eq!(parked.ended().count(), 1);
    }

    #[test]
    fn parking_again_with_the_same_deadline_keeps_it() {
        let now = Instant::now();
        let mut parked = ParkedCalls::default();
        parked.park(1, ended("a", Some(now)));
        parked.park(1, ended("a", Some(now)));
        assert_eq!(parked.next_alarm(), Some(now));
        assert_eq!(parked.take_due(now).len(), 1);
    }

    #[test]
    fn a_suspended_call_rings_at_its_let_go_or_its_deadline_whichever_is_first() {
        let now = Instant::now();
        let mut parked = ParkedCalls::default();
        let (wake, _woken) = oneshot::channel();
        parked.park(
            7,
            Parked {
                step: 0,
                waiter: "w".into(),
                deadline: Some(now + Duration::from_secs(5)),
                held: Held::Suspended {
                    wake,
                    let_go: now + Duration::from_secs(1),
                },
            },
        );
        assert!(parked.is_suspended(7));
        assert_eq!(parked.ended().count(), 0, "a suspended call is in flight");
        assert_eq!(parked.next_alarm(), Some(now + Duration::from_secs(1)));
        let due = parked.take_due(now + Duration::from_secs(1));
        assert_eq!(due.len(), 1);
        assert!(!parked.is_suspended(7));
        assert!(parked.is_empty());
    }
}
