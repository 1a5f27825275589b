//! Step calls parked in `wait_for_event`: they hold no instance and no
//! worker, only the event to run again once their waiter is answered or
//! times out.

use std::collections::{BTreeSet, HashMap};

use tokio::time::Instant;

use crate::event::Event;

/// A step call waiting for its answer.
pub(super) struct Parked {
    pub(super) step: usize,
    pub(super) event: Event,
    /// Its waiter id.
    pub(super) waiter: String,
    deadline: Option<Instant>,
}

/// The parked calls of one run, by work item, with their deadlines in
/// order.
#[derive(Default)]
pub(super) struct ParkedCalls {
    calls: HashMap<u64, Parked>,
    deadlines: BTreeSet<(Instant, u64)>,
}

impl ParkedCalls {
    /// Parks `work_item` (`event` for `step`) until `waiter` is answered or
    /// `deadline` passes.
    pub(super) fn park(
        &mut self,
        work_item: u64,
        step: usize,
        event: Event,
        waiter: String,
        deadline: Option<Instant>,
    ) {
        if let Some(earlier) = self.take(work_item) {
            tracing::debug!(work_item, waiter = %earlier.waiter, "a parked call parks again");
        }
        if let Some(at) = deadline {
            self.deadlines.insert((at, work_item));
        }
        let parked = Parked {
            step,
            event,
            waiter,
            deadline,
        };
        self.calls.insert(work_item, parked);
    }

    /// Unparks `work_item`, if parked.
    pub(super) fn take(&mut self, work_item: u64) -> Option<Parked> {
        let parked = self.calls.remove(&work_item)?;
        self.forget_deadline(work_item, parked.deadline);
        Some(parked)
    }

    fn forget_deadline(&mut self, work_item: u64, deadline: Option<Instant>) {
        if let Some(at) = deadline {
            self.deadlines.remove(&(at, work_item));
        }
    }

    /// The earliest deadline of a parked call.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Unparks the calls whose deadline is `now` or earlier.
    pub(super) fn take_expired(&mut self, now: Instant) -> Vec<(u64, Parked)> {
        let mut expired = Vec::new();
        while let Some(&(at, work_item)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(parked) = self.calls.remove(&work_item) {
                expired.push((work_item, parked));
            }
        }
        expired
    }

    /// The parked calls, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&u64, &Parked)> {
        self.calls.iter()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event() -> Event {
        Event {
            name: "E".into(),
            data: "{}".into(),
        }
    }

    #[test]
    fn expired_calls_come_out_in_deadline_order_and_only_once() {
        let now = Instant::now();
        let mut parked = ParkedCalls::default();
        parked.park(
            1,
            0,
            event(),
            "a".into(),
            Some(now + Duration::from_millis(20)),
        );
        parked.park(
            2,
            0,
            event(),
            "b".into(),
            Some(now + Duration::from_millis(10)),
        );
        parked.park(3, 0, event(), "c".into(), None);
        assert_eq!(
            parked.next_deadline(),
            Some(now + Duration::from_millis(10))
        );
        let first: Vec<u64> = parked
            .take_expired(now + Duration::from_millis(15))
            .into_iter()
            .map(|(item, _)| item)
            .collect();
        assert_eq!(first, [2]);
        assert!(parked.take(1).is_some());
        assert_eq!(parked.next_deadline(), None);
        assert!(
            parked
                .take_expired(now + Duration::from_secs(60))
                .is_empty()
        );
        assert_eq!(parked.iter().count(), 1);
    }

    #[test]
    fn parking_again_replaces_the_deadline() {
        let now = Instant::now();
        let mut parked = ParkedCalls::default();
        parked.park(1, 0, event(), "a".into(), Some(now));
        parked.park(1, 0, event(), "a".into(), None);
        assert_eq!(parked.next_deadline(), None);
        assert!(parked.take_expired(now).is_empty());
        assert_eq!(parked.iter().count(), 1);
    }

    #[test]
    fn parking_again_with_the_same_deadline_keeps_it() {
        let now = Instant::now();
        let mut parked = ParkedCalls::default();
        parked.park(1, 0, event(), "a".into(), Some(now));
        parked.park(1, 0, event(), "a".into(), Some(now));
        assert_eq!(parked.next_deadline(), Some(now));
        assert_eq!(parked.take_expired(now).len(), 1);
    }
}
