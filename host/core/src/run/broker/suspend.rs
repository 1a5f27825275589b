//! Step calls waiting in `wait_for_event`: suspended in place, woken when
//! their waiter is answered or times out, or told to let go of their
//! instance; and calls that ended at their wait, queued again.

use std::sync::atomic::Ordering;

use tokio::sync::oneshot;

use crate::run::message::Wake;
use crate::run::waiters::Suspension;

use super::events::stream_step_state;
use super::parked::{Held, Parked};
use super::{Broker, InFlight};

impl Broker {
    /// Whether a call in flight is running: not suspended in its wait.
    pub(super) fn any_running(&self) -> bool {
        self.in_flight.keys().any(|work_item| {
            !self.parked.is_suspended(*work_item)
                && !self.waking.iter().any(|(_, item, _)| item == work_item)
        })
    }

    /// The call `work_item` suspended in `wait_for_event`, keeping its
    /// instance, until `wake` tells it to go on or to let go. It counts
    /// against no worker meanwhile, and the run may be saved around it.
    pub(super) fn suspend(
        &mut self,
        work_item: u64,
        suspension: Suspension,
        wake: oneshot::Sender<Wake>,
        let_go: tokio::time::Instant,
    ) {
        let Some(call) = self.in_flight.get(&work_item) else {
            // The run is ending and no longer tracks the call.
            let _ = wake.send(Wake::LetGo);
            return;
        };
        if !self.shared.waiters().is_pending(&suspension.waiter) {
            // Answered (or timed out) on the way here.
            let _ = wake.send(Wake::AskAgain);
            return;
        }
        let step = call.step;
        if self.shared.internal_events {
            stream_step_state(&self.shared, call, false, None);
        }
        let parked = Parked {
            step,
            waiter: suspension.waiter,
            deadline: suspension.deadline,
            held: Held::Suspended { wake, let_go },
        };
        self.parked.park(work_item, parked);
        let slot = &mut self.slots[step];
        slot.busy -= 1;
        slot.suspended += 1;
        self.shared.busy[step].store(slot.busy, Ordering::Relaxed);
        // Saved as it waits (its prompt streamed once saved).
        self.checkpoint_soon();
        self.dispatch(step);
        self.answer_snapshots();
    }

    /// A call ended waiting for `suspension`'s waiter, holding nothing: it
    /// is parked, or queued again if its answer came in meanwhile. The run
    /// is saved as it waits (its prompt streamed), so a resumed run waits
    /// again instead of asking again.
    pub(super) fn call_waits(&mut self, work_item: u64, call: InFlight, suspension: &Suspension) {
        let step = call.step;
        if self.shared.waiters().is_pending(&suspension.waiter) {
            let parked = Parked {
                step,
                waiter: suspension.waiter.clone(),
                deadline: suspension.deadline,
                held: Held::Ended(call.event),
            };
            self.parked.park(work_item, parked);
        } else {
            self.enqueue_again(step, call.event, work_item);
        }
        self.checkpoint_soon();
        self.dispatch(step);
        self.answer_snapshots();
    }

    /// The waiter of the parked `work_item` was answered or timed out: a
    /// suspended call is woken to ask again, an ended one queued again.
    pub(super) fn wait_over(&mut self, work_item: u64) {
        let Some(parked) = self.parked.take(work_item) else {
            // Still running: it finds its answer when it reports it waits.
            return;
        };
        match parked.held {
            Held::Ended(event) => self.enqueue_again(parked.step, event, work_item),
            Held::Suspended { wake, .. } => {
                self.waking.push((parked.step, work_item, wake));
                self.wake_waiting();
            }
        }
    }

    /// Wakes the suspended calls whose wait is over, unless a snapshot is
    /// pending: it is taken first, holding what woke them.
    pub(super) fn wake_waiting(&mut self) {
        if !self.snapshot_requests.is_empty() || self.checkpoint_due {
            return;
        }
        for (step, work_item, wake) in std::mem::take(&mut self.waking) {
            self.resume_counting(step, work_item);
            // A call gone meanwhile reports how it ended.
            let _ = wake.send(Wake::AskAgain);
        }
    }

    /// A suspended call runs again: it counts against a worker.
    fn resume_counting(&mut self, step: usize, work_item: u64) {
        let slot = &mut self.slots[step];
        slot.suspended -= 1;
        slot.busy += 1;
        self.shared.busy[step].store(slot.busy, Ordering::Relaxed);
        if self.shared.internal_events
            && let Some(call) = self.in_flight.get(&work_item)
        {
            stream_step_state(&self.shared, call, true, None);
        }
    }

    /// A call in flight ended: if it was still suspended or being woken
    /// (it failed or was stopped meanwhile), it counts as running again so
    /// that its end frees its worker.
    pub(super) fn forget_suspension(&mut self, work_item: u64) {
        if let Some(parked) = self.parked.take_suspended(work_item) {
            self.resume_counting(parked.step, work_item);
        }
        if let Some(index) = self
            .waking
            .iter()
            .position(|(_, item, _)| *item == work_item)
        {
            let (step, _, _) = self.waking.swap_remove(index);
            self.resume_counting(step, work_item);
        }
    }

    /// Rings the parked calls' alarms that are due: a wait whose time ran
    /// out ends in a timeout error (a suspended call asks again and gets
    /// it; an ended one runs again and gets it); a suspended call that has
    /// kept its instance for as long as it may lets go of it.
    pub(super) fn ring_alarms(&mut self) {
        let now = tokio::time::Instant::now();
        for (work_item, parked) in self.parked.take_due(now) {
            let timed_out = parked.deadline.is_some_and(|at| at <= now);
            if timed_out {
                self.shared.waiters().time_out(&parked.waiter, work_item);
            }
            match parked.held {
                Held::Ended(event) => self.enqueue_again(parked.step, event, work_item),
                Held::Suspended { wake, .. } if timed_out => {
                    self.waking.push((parked.step, work_item, wake));
                }
                Held::Suspended { wake, .. } => {
                    // It ends at its wait and comes back through
                    // `call_waits`, to run again once answered.
                    self.resume_counting(parked.step, work_item);
                    let _ = wake.send(Wake::LetGo);
                }
            }
        }
        self.wake_waiting();
    }
}
