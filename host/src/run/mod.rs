//! Running a workflow: one broker task per run routes events to step
//! workers, each owning a component instance.

pub(crate) mod broker;
pub(crate) mod collect;
pub(crate) mod host;
pub(crate) mod waiters;
pub(crate) mod worker;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::event::Event;
use crate::state::StateStore;
use crate::workflow::WorkflowDef;

use self::broker::BrokerMsg;
use self::collect::CollectBuffers;
use self::waiters::Waiters;

/// What flows to a run's event stream.
#[derive(Debug)]
pub(crate) enum StreamMsg {
    Event(Event),
    Closed,
}

/// The part of a run shared by its broker, its workers and its handler.
pub(crate) struct RunShared {
    pub(crate) def: Arc<WorkflowDef>,
    pub(crate) run_id: String,
    pub(crate) state: StateStore,
    pub(crate) broker: mpsc::UnboundedSender<BrokerMsg>,
    pub(crate) stream: mpsc::UnboundedSender<StreamMsg>,
    pub(crate) collect: Mutex<CollectBuffers>,
    pub(crate) waiters: Mutex<Waiters>,
    /// Busy workers per step.
    pub(crate) busy: Vec<AtomicU32>,
    pub(crate) ended: AtomicBool,
    /// The run timeout.
    pub(crate) timeout: Option<std::time::Duration>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a panic elsewhere
    // does not make it unusable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RunShared {
    pub(crate) fn collect(&self) -> MutexGuard<'_, CollectBuffers> {
        lock(&self.collect)
    }

    pub(crate) fn waiters(&self) -> MutexGuard<'_, Waiters> {
        lock(&self.waiters)
    }

    pub(crate) fn write_to_stream(&self, event: Event) {
        // The receiver is gone only when nobody can stream any more.
        let _ = self.stream.send(StreamMsg::Event(event));
    }

    pub(crate) fn running_steps(&self) -> Vec<String> {
        self.busy
            .iter()
            .zip(&self.def.steps)
            .filter(|(busy, _)| busy.load(Ordering::Relaxed) > 0)
            .map(|(_, step)| step.name.clone())
            .collect()
    }

    pub(crate) fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Checks that `event` may be sent to `target` (or anywhere), with the
    /// seed's messages.
    pub(crate) fn check_target(
        &self,
        event: &Event,
        target: Option<&str>,
    ) -> Result<Option<usize>, TargetError> {
        let Some(name) = target else {
            return Ok(None);
        };
        let Some(&index) = self.def.step_index.get(name) else {
            return Err(TargetError::NoSuchStep(format!(
                "Step {name} does not exist"
            )));
        };
        if !self.def.steps[index].accepts.contains(&event.name) {
            return Err(TargetError::NotAccepted(format!(
                "Step {name} does not accept event of type {}",
                event.name
            )));
        }
        Ok(Some(index))
    }
}

/// Why an event cannot go to the step it names (the seed's messages).
pub(crate) enum TargetError {
    /// No step has that name.
    NoSuchStep(String),
    /// The step does not accept the event's type.
    NotAccepted(String),
}
