//! A run's checkpoint writer: a task of its own that saves the snapshots the
//! broker hands it, one at a time, so that the broker never waits for a
//! disk or a database. When saves fall behind, only the latest snapshot is
//! kept: a checkpoint replaces the previous one anyway. After each save the
//! writer releases the prompts the snapshot held (see `prompts`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::snapshot::{CheckpointStore, Snapshot};
use crate::sync::lock;
use tracing::Instrument as _;

/// Saves a run's checkpoints in the background.
pub(crate) struct CheckpointWriter {
    shared: Arc<Pending>,
    task: JoinHandle<()>,
}

/// The snapshot waiting to be saved (with the sequence number of the last
/// prompt it holds), and whether the run has ended.
#[derive(Default)]
struct Pending {
    latest: Mutex<Option<(Snapshot, u64, tracing::Span)>>,
    wake: Notify,
    closed: AtomicBool,
}

impl CheckpointWriter {
    /// Starts the writer task on `tokio` (the run's runtime), saving into
    /// `store`; `saved` is told, after each save, the last held prompt the
    /// saved snapshot holds.
    pub(crate) fn spawn(
        tokio: &tokio::runtime::Handle,
        store: Arc<dyn CheckpointStore>,
        saved: impl Fn(u64) + Send + 'static,
    ) -> Self {
        let shared = Arc::new(Pending::default());
        let pending = shared.clone();
        let task = tokio.spawn(async move {
            loop {
                let next = lock(&pending.latest).take();
                match next {
                    Some((snapshot, held_through, span)) => {
                        if let Err(err) = store.save(&snapshot).instrument(span).await {
                            // The run goes on without durability rather than
                            // keep its prompts from anyone who can answer.
                            tracing::error!("cannot save a checkpoint: {err}");
                        }
                        saved(held_through);
                    }
                    None if pending.closed.load(Ordering::Acquire) => break,
                    None => pending.wake.notified().await,
                }
            }
        });
        Self { shared, task }
    }

    /// Hands `snapshot` over to be saved, replacing one not saved yet;
    /// `held_through` is the last held prompt it holds.
    /// The save is traced as a `checkpoint` span, a child of the span
    /// current here (the run's).
    pub(crate) fn submit(&self, snapshot: Snapshot, held_through: u64) {
        let span = tracing::info_span!("checkpoint", run_id = %snapshot.run_id);
        *lock(&self.shared.latest) = Some((snapshot, held_through, span));
        self.shared.wake.notify_one();
    }

    /// Saves what is pending, then ends the task: when this returns, the
    /// last snapshot submitted is saved (or its error logged).
    pub(crate) async fn close(self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Err(err) = self.task.await {
            tracing::error!("the checkpoint writer failed: {err}");
        }
    }
}
