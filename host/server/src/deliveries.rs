//! Events other hosts left in a run's inbox, delivered exactly once.
//!
//! A delivery stays in the inbox after it is sent into the run, until a
//! checkpoint that holds it is saved: then it is deleted in the same
//! transaction as that checkpoint is written. A host that dies in between
//! leaves it there, and the host that resumes the run from its last
//! checkpoint (which does not hold it) delivers it again. A checkpoint
//! holds a delivery when it counts at least as many events sent in from
//! outside as had been sent when the delivery went in
//! ([`wflow_core::Snapshot::received`]).

use std::sync::Mutex;

/// One run's deliveries not settled yet.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    state: Mutex<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    /// Events sent in from outside so far, as the run counts them.
    sent: u64,
    /// Inbox rows sent in, with the count a checkpoint must reach to hold
    /// them.
    pending: Vec<(u64, u64)>,
}

impl Deliveries {
    /// The deliveries of a run that had taken `received` events from
    /// outside (its checkpoint's count; 0 for a new run).
    pub(crate) fn after(received: u64) -> Self {
        Self {
            state: Mutex::new(Ledger {
                sent: received,
                pending: Vec::new(),
            }),
        }
    }

    /// Sends inbox row `row` into the run with `send` (at most one send at
    /// a time, so that the count follows the order the run takes them in).
    /// A delivery the run refuses is settled with the next checkpoint: it
    /// would be refused again.
    pub(crate) fn deliver<E>(
        &self,
        row: u64,
        send: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        let mut ledger = wflow_core::sync::lock(&self.state);
        let sent = send();
        let needs = match sent {
            Ok(()) => {
                ledger.sent += 1;
                ledger.sent
            }
            Err(_) => 0,
        };
        ledger.pending.push((row, needs));
        sent
    }

    /// The rows a checkpoint that counts `received` events from outside
    /// holds.
    pub(crate) fn held_by(&self, received: u64) -> Vec<u64> {
        wflow_core::sync::lock(&self.state)
            .pending
            .iter()
            .filter(|(_, needs)| *needs <= received)
            .map(|(row, _)| *row)
            .collect()
    }

    /// Rows `settled` are deleted from the inbox.
    pub(crate) fn settled(&self, settled: &[u64]) {
        wflow_core::sync::lock(&self.state)
            .pending
            .retain(|(row, _)| !settled.contains(row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_holds_the_deliveries_its_count_reaches() {
        // A run resumed from a checkpoint that had taken 2 events.
        let deliveries = Deliveries::after(2);
        deliveries.deliver(10, || Ok::<_, ()>(())).unwrap();
        deliveries
            .deliver(11, || Err::<(), _>("refused"))
            .unwrap_err();
        deliveries.deliver(12, || Ok::<_, ()>(())).unwrap();
        // A checkpoint written before either went in holds only the
        // refused one (which will never be taken).
        assert_eq!(deliveries.held_by(2), [11]);
        assert_eq!(deliveries.held_by(3), [10, 11]);
        deliveries.settled(&[10, 11]);
        assert_eq!(deliveries.held_by(3), Vec::<u64>::new());
        assert_eq!(deliveries.held_by(4), [12]);
    }
}
