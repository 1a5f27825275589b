//! Idle step instances, kept between calls and shared by every run of one
//! loaded workflow.
//!
//! A step call takes an instance of its step from the pool (or creates one),
//! attaches it to its run, and gives it back detached when the call ends
//! well. An instance whose call failed, trapped, timed out or was cancelled
//! is dropped instead, so only instances in a known-good state are reused.
//! The pool keeps at most `num_workers` idle instances per step; a run that
//! waits (for a human, say) holds none.
//!
//! Instances are never shared between workflows: each loaded workflow has a
//! pool of its own. Within one workflow a step's instance may serve several
//! runs, as the reference's `Workflow` object does; a workflow whose runs
//! must not share guest memory sets `reuse_instances = false`.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::bindings::StepsPre;
use crate::engine::{Engine, IdleInstances};
use crate::slots::SlotOwner;

use super::failure::CallFailure;
use super::shared::RunShared;
use super::worker::{Worker, WorkerState};

/// The instances of one workflow's steps: how to create them, and the idle
/// ones, by step.
pub(crate) struct InstancePool {
    engine: Engine,
    /// Whose slots the instances hold (the workflow's).
    owner: SlotOwner,
    /// Each step's component, pre-linked.
    pres: Vec<StepsPre<WorkerState>>,
    /// Idle instances per step, with at most `caps[step]` each.
    idle: Vec<Mutex<Vec<Worker>>>,
    caps: Vec<usize>,
}

impl InstancePool {
    /// A pool creating each step's instances from its pre-linked component
    /// and keeping up to its cap of idle ones (a cap of 0 disables reuse for
    /// that step).
    pub(crate) fn new(
        engine: Engine,
        owner: SlotOwner,
        steps: Vec<(StepsPre<WorkerState>, usize)>,
    ) -> Self {
        let (pres, caps): (Vec<_>, Vec<_>) = steps.into_iter().unzip();
        Self {
            engine,
            owner,
            pres,
            idle: caps.iter().map(|_| Mutex::default()).collect(),
            caps,
        }
    }

    /// An instance of `step` attached to `run`: an idle one, else a new one.
    pub(crate) async fn instance(
        &self,
        run: &Arc<RunShared>,
        step: usize,
    ) -> Result<Worker, CallFailure> {
        let span = tracing::Span::current();
        if let Some(mut idle) = self.take(step) {
            idle.attach(run);
            span.record("instance", "reused");
            return Ok(idle);
        }
        span.record("instance", "new");
        Worker::new(&self.engine, self.owner, &self.pres[step], run, step).await
    }

    fn idle(&self, step: usize) -> MutexGuard<'_, Vec<Worker>> {
        // A push or a pop cannot leave the list inconsistent.
        crate::sync::lock(&self.idle[step])
    }

    /// An idle instance of `step`, if there is one.
    fn take(&self, step: usize) -> Option<Worker> {
        self.idle(step).pop()
    }

    /// Keeps `worker` (already detached from its run) for a later call of
    /// `step`, or drops it when the step has enough idle instances.
    pub(crate) fn give_back(&self, step: usize, worker: Worker) {
        let mut idle = self.idle(step);
        if idle.len() < self.caps[step] {
            idle.push(worker);
        }
    }

    /// Drops every idle instance, freeing their allocator slots.
    fn clear_idle(&self) {
        for step in 0..self.idle.len() {
            // Drop outside the lock: dropping a store is not free.
            let drained = std::mem::take(&mut *self.idle(step));
            drop(drained);
        }
    }

    /// Idle instances held, over all steps.
    pub(crate) fn len(&self) -> usize {
        (0..self.idle.len()).map(|step| self.idle(step).len()).sum()
    }
}

impl IdleInstances for InstancePool {
    fn owner(&self) -> SlotOwner {
        self.owner
    }

    fn clear(&self) {
        self.clear_idle();
    }
}
