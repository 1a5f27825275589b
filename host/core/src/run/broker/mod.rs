//! The broker: one task per run that owns the step queues and workers,
//! routes every event, enforces the run timeout, and ends the run.

mod call;
mod checkpoint;
mod events;
mod parked;
mod route;
mod serve;
mod suspend;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::error::WorkflowError;
use crate::event::Event;
use crate::run::checkpoint_writer::CheckpointWriter;
use crate::run::message::{BrokerMsg, Wake};
use crate::run::outcome::RunOutcome;
use crate::run::pool::InstancePool;
use crate::run::shared::RunShared;
use crate::snapshot::{CheckpointStore, Snapshot};
use crate::sync::lock;

use self::call::InlineCall;
use self::parked::ParkedCalls;

struct StepSlot {
    queue: VecDeque<(Event, u64)>,
    /// Calls running, against the step's `num_workers`.
    busy: u32,
    /// Calls suspended in `wait_for_event`: they keep their worker number
    /// and instance but count against no worker until woken.
    suspended: u32,
    /// Worker numbers free again (numbers 0 to `busy + suspended +
    /// released.len()` have been used). The lowest free number serves the
    /// next call, as the reference numbers a step's workers.
    released: Vec<u32>,
}

impl StepSlot {
    /// A worker number for a call starting now.
    fn take_worker(&mut self) -> u32 {
        match self.released.iter().enumerate().min_by_key(|(_, w)| **w) {
            Some((index, _)) => self.released.swap_remove(index),
            None => self.busy + self.suspended,
        }
    }
}

/// The shortest time between two checkpoints asked for by step
/// completions alone. Taking a checkpoint pauses dispatching until the run
/// is quiescent and copies its queues, so one per completion would make a
/// fan-out of n events cost n² and run one batch at a time. A crash loses
/// at most this much progress (those steps run again on resume). Prompts,
/// events from outside, the beginning and the end are checkpointed at once.
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// Completes at `at`; never without one.
async fn alarm(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A step call in progress: what a snapshot re-delivers, what its end
/// reports.
struct InFlight {
    step: usize,
    event: Event,
    worker: u32,
}

/// A run's broker: owns its step queues, routes every event, starts step
/// calls, and ends the run.
pub(crate) struct Broker {
    shared: Arc<RunShared>,
    /// Where the run's step instances come from and go back to.
    pool: Arc<InstancePool>,
    inbox: mpsc::UnboundedReceiver<BrokerMsg>,
    slots: Vec<StepSlot>,
    /// Step calls running as tasks of their own, beside the broker.
    tasks: JoinSet<()>,
    /// The step call running inside the broker's own task, if any: a call
    /// that starts while no other runs goes here, so a sequence of hops
    /// costs no task spawn and no cross-thread wake-up. Calls that start
    /// while it runs are spawned and run in parallel.
    inline: Option<InlineCall>,
    /// Requests for input streamed and not answered yet.
    awaiting_input: u32,
    next_work_item: u64,
    /// Events routed so far, against `limits.max_events_per_run`.
    routed: u64,
    /// Events sent in from outside taken so far (see `Snapshot::received`).
    received: u64,
    outcome: watch::Sender<Option<RunOutcome>>,
    started: Instant,
    /// Time the run had already run before it was resumed.
    earlier: Duration,
    /// Events being handled, by work item: what a snapshot re-delivers.
    in_flight: HashMap<u64, InFlight>,
    /// Calls waiting in `wait_for_event`: suspended in place (they are in
    /// flight too), or ended at their wait, to run again when answered (a
    /// snapshot re-delivers both).
    parked: ParkedCalls,
    /// Suspended calls whose wait is over, woken once no snapshot is
    /// pending (a snapshot taken first holds what woke them).
    waking: Vec<(usize, u64, oneshot::Sender<Wake>)>,
    /// Where the `WorkflowIdleEvent` of the current idle period is in the
    /// stream: `Some` while the run was last seen waiting only on input
    /// from outside (when it streams idle events).
    idle: Option<u64>,
    /// Snapshot requests waiting for the run to quiesce; dispatching is
    /// paused while there are any.
    snapshot_requests: Vec<oneshot::Sender<Result<Snapshot, WorkflowError>>>,
    /// Where checkpoints go, if the run is checkpointed.
    checkpoint: Option<CheckpointWriter>,
    /// A checkpoint is due at the next quiescent moment (dispatching is
    /// paused until it is written).
    checkpoint_due: bool,
    /// When a checkpoint asked for by step completions falls due (see
    /// [`CHECKPOINT_INTERVAL`]).
    checkpoint_at: Option<tokio::time::Instant>,
    /// When the last checkpoint was taken.
    last_checkpoint: Option<tokio::time::Instant>,
    /// Recorded in every snapshot.
    origin: Option<String>,
}

impl Broker {
    /// A broker for the run `shared`, taking its instances from `pool`.
    pub(crate) fn new(
        shared: Arc<RunShared>,
        pool: Arc<InstancePool>,
        inbox: mpsc::UnboundedReceiver<BrokerMsg>,
        outcome: watch::Sender<Option<RunOutcome>>,
    ) -> Self {
        let slots = shared
            .def
            .steps
            .iter()
            .map(|_| StepSlot {
                queue: VecDeque::new(),
                busy: 0,
                suspended: 0,
                released: Vec::new(),
            })
            .collect();
        Self {
            shared,
            pool,
            inbox,
            slots,
            tasks: JoinSet::new(),
            inline: None,
            awaiting_input: 0,
            next_work_item: 0,
            routed: 0,
            received: 0,
            outcome,
            started: Instant::now(),
            earlier: Duration::ZERO,
            in_flight: HashMap::new(),
            parked: ParkedCalls::default(),
            waking: Vec::new(),
            idle: None,
            snapshot_requests: Vec::new(),
            checkpoint: None,
            checkpoint_due: false,
            checkpoint_at: None,
            last_checkpoint: None,
            origin: None,
        }
    }

    /// Saves a checkpoint at the beginning, after step completions (at most
    /// every [`CHECKPOINT_INTERVAL`]), after every event sent in from
    /// outside and every prompt, and when the run ends.
    pub(crate) fn with_checkpoints(
        mut self,
        tokio: &tokio::runtime::Handle,
        store: Option<Arc<dyn CheckpointStore>>,
        origin: Option<String>,
    ) -> Self {
        if let Some(store) = store {
            lock(&self.shared.prompts).hold();
            let shared = Arc::downgrade(&self.shared);
            self.checkpoint = Some(CheckpointWriter::spawn(tokio, store, move |held_through| {
                if let Some(shared) = shared.upgrade() {
                    shared.release_prompts(held_through);
                }
            }));
        }
        self.origin = origin;
        self
    }
}
