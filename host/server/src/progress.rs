//! How far a handler's follower has stored its run's stream, and the
//! checkpoints that wait for it.
//!
//! A checkpoint says how many events the run had streamed. A host that died
//! after saving it resumes the run from there: the events before that point
//! are not streamed again, so they must be in the store before the
//! checkpoint is. [`FollowedCheckpoint`] waits until the follower has
//! stored them (or given up on storing: the store failed, or nobody follows
//! the run any more), then saves the checkpoint with the log sequence a run
//! resumed from it starts at (see `replay`).

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use wflow_api::Envelope;
use wflow_core::{BoxFuture, CheckpointStore, Snapshot, WorkflowError};
use wflow_store::HandlerCheckpoint;

use crate::deliveries::Deliveries;
use crate::replay::{Replay, Verdict};

/// One run's stream as its follower stores it.
pub(crate) struct StreamProgress {
    replay: Mutex<Replay>,
    /// Every stream position below this one is stored, or given up on.
    stored: watch::Sender<u64>,
}

impl StreamProgress {
    /// The progress of a run followed with `replay`: the events before the
    /// run's first position are stored already (a resumed run's first
    /// checkpoint waits for nothing).
    pub(crate) fn new(replay: Replay) -> Arc<Self> {
        Arc::new(Self {
            stored: watch::Sender::new(replay.first_position()),
            replay: Mutex::new(replay),
        })
    }

    /// Whether the event at `position` is new to the log (see `replay`).
    pub(crate) fn offer(&self, position: u64, envelope: &Envelope) -> Verdict {
        wflow_core::sync::lock(&self.replay).offer(position, envelope)
    }

    /// The events before `position` are stored (or will never be).
    pub(crate) fn stored_before(&self, position: u64) {
        self.stored.send_if_modified(|stored| {
            let advanced = position > *stored;
            *stored = (*stored).max(position);
            advanced
        });
    }

    /// Waits until the events before `position` are stored.
    async fn wait_stored_before(&self, position: u64) {
        let mut stored = self.stored.subscribe();
        // The sender lives as long as `self`.
        let _ = stored.wait_for(|stored| *stored >= position).await;
    }

    /// The log sequence a run resumed from a checkpoint at `position` starts
    /// its stream at.
    fn resume_sequence(&self, position: u64) -> u64 {
        wflow_core::sync::lock(&self.replay).resume_sequence(position)
    }
}

/// The follower's hold on a run's progress: when it goes (the run ended, or
/// its follower never started), checkpoints stop waiting for it.
pub(crate) struct Follower(Arc<StreamProgress>);

impl Follower {
    /// The follower of `progress`.
    pub(crate) fn new(progress: Arc<StreamProgress>) -> Self {
        Self(progress)
    }
}

impl std::ops::Deref for Follower {
    type Target = StreamProgress;

    fn deref(&self) -> &StreamProgress {
        &self.0
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.stored_before(u64::MAX);
    }
}

/// A handler's checkpoints, saved once the events they count are stored.
pub(crate) struct FollowedCheckpoint {
    /// Where they go.
    pub(crate) store: HandlerCheckpoint,
    /// The run's stream as its follower stores it.
    pub(crate) progress: Arc<StreamProgress>,
    /// The deliveries from the inbox the run took: a checkpoint that holds
    /// them settles them (with a store several hosts share).
    pub(crate) deliveries: Arc<Deliveries>,
}

impl CheckpointStore for FollowedCheckpoint {
    fn save<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, wflow_core::Result<()>> {
        Box::pin(async move {
            let position = snapshot.stream_position;
            self.progress.wait_stored_before(position).await;
            let sequence = self.progress.resume_sequence(position);
            if sequence == position {
                return self.save(snapshot).await;
            }
            let mut mapped = snapshot.clone();
            mapped.stream_position = sequence;
            self.save(&mapped).await
        })
    }
}

impl FollowedCheckpoint {
    /// Saves `snapshot`, settling the deliveries it holds in the same
    /// write.
    async fn save(&self, snapshot: &Snapshot) -> wflow_core::Result<()> {
        let HandlerCheckpoint { store, handler_id } = &self.store;
        let settled = self.deliveries.held_by(snapshot.received);
        let Some(cluster) = store.cluster().filter(|_| !settled.is_empty()) else {
            return self.store.save(snapshot).await;
        };
        cluster
            .save_snapshot_settling(handler_id, snapshot, &settled)
            .await
            .map_err(|err| WorkflowError::checkpoint(handler_id, err))?;
        self.deliveries.settled(&settled);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_resumed_runs_first_checkpoint_waits_for_nothing() {
        // Resumed at position 5 with the log holding 0..5: a checkpoint at
        // 5 must not wait for an event the run may never stream.
        let progress = StreamProgress::new(Replay::new(5, Vec::new(), 5));
        let waited =
            tokio::time::timeout(Duration::from_secs(5), progress.wait_stored_before(5)).await;
        assert!(waited.is_ok(), "the first checkpoint waited");
        // A later one waits until the follower has stored up to it.
        let later =
            tokio::time::timeout(Duration::from_millis(50), progress.wait_stored_before(6)).await;
        assert!(
            later.is_err(),
            "a checkpoint past the stored events did not wait"
        );
        progress.stored_before(6);
        progress.wait_stored_before(6).await;
    }

    #[tokio::test]
    async fn a_follower_that_goes_releases_every_wait() {
        let progress = StreamProgress::new(Replay::new(0, Vec::new(), 0));
        let follower = Follower::new(progress.clone());
        drop(follower);
        tokio::time::timeout(Duration::from_secs(5), progress.wait_stored_before(1_000))
            .await
            .expect("released");
    }
}
