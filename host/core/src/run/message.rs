//! What a run's broker is told, and how it begins.

use tokio::sync::oneshot;

use crate::error::WorkflowError;
use crate::event::Event;
use crate::snapshot::Snapshot;

use super::failure::FailedCall;
use super::waiters::Suspension;

/// How a step call that did not fail ended.
pub(crate) enum CallEnd {
    /// The step returned these events.
    Returned(Vec<Event>),
    /// The step let go of its instance in `wait_for_event`: it runs again
    /// once answered.
    Waiting(Suspension),
}

/// What the broker tells a step call suspended in `wait_for_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Its waiter was answered or timed out: ask again, and go on with
    /// what the asking finds.
    AskAgain,
    /// It held its instance for as long as it may (`limits.wait_in_place`):
    /// let go of it, and run again from the start once answered.
    LetGo,
}

/// What the broker is told.
pub(crate) enum BrokerMsg {
    /// Route an event: from a step's `send_event` or from outside.
    Send {
        event: Event,
        target: Option<usize>,
        from_outside: bool,
    },
    /// A step call finished (after its retries).
    Done {
        step: usize,
        work_item: u64,
        outcome: Result<CallEnd, FailedCall>,
    },
    /// A step call suspended in `wait_for_event`, keeping its instance,
    /// until the broker wakes it.
    WaitsInPlace {
        work_item: u64,
        suspension: Suspension,
        wake: oneshot::Sender<Wake>,
        /// When it must let go of its instance.
        let_go: tokio::time::Instant,
    },
    /// Prompts held for a checkpoint were streamed once it was saved: the
    /// next checkpoint no longer holds them.
    PromptsReleased,
    /// The caller asks for a snapshot.
    Snapshot(oneshot::Sender<Result<Snapshot, WorkflowError>>),
    /// The caller asks where the idle event of the current idle period is
    /// in the stream (`None` when the run is not idle).
    Idleness(oneshot::Sender<Option<u64>>),
    /// The caller cancelled the run.
    Cancel,
}

/// How a broker begins.
pub(crate) enum Beginning {
    /// A new run: route the start event.
    Start(Event),
    /// A resumed run: its queues, in-progress events and counters.
    Resume(Box<Snapshot>),
}
