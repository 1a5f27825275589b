//! A step worker: one component instance in its own store, created from the
//! component's pre-linked `InstancePre` and attached to one run at a time.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::{StepError, Steps, StepsPre};
use crate::engine::Engine;
use crate::event::Event;
use crate::grants::{DirMode, Grants};
use crate::limits::{Limits, StepLimits};
use crate::slots::{SlotOwner, SlotPermit, SlotUsage};

use super::failure::{CallFailure, LimitTrap};
use super::message::CallEnd;
use super::output::{GuestOutput, LogStream};
use super::shared::RunShared;
use super::suspend_clock::SuspendClock;
use super::waiters::Suspension;
use crate::error::FailureCause;

/// The data of a worker's store: WASI (with nothing granted), the resource
/// table, and the run the worker belongs to.
pub struct WorkerState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// `None` while a component is only being described.
    pub(crate) run: Option<Arc<RunShared>>,
    /// The step this worker runs.
    pub(crate) step: usize,
    /// Whose slot the instance takes.
    pub(crate) owner: SlotOwner,
    /// The id of the event being handled, for default waiter ids.
    pub(crate) work_item: u64,
    /// Whether the guest holds a state edit.
    pub(crate) editing: bool,
    /// The time the current call spent suspended in `wait_for_event`.
    pub(crate) suspended: SuspendClock,
    stdout: GuestOutput,
    stderr: GuestOutput,
    limiter: InstanceLimiter,
}

/// Enforces an instance's memory limit and takes its memory from the
/// host's budget (given back when the instance is dropped), remembering a
/// refusal so the step's error can name the limit.
struct InstanceLimiter {
    memory: usize,
    exceeded: Option<CallFailure>,
    /// Where the instance's memory comes from.
    engine: Engine,
    /// The guest memory taken from the host's budget.
    taken: u64,
    /// The last growth taken, given back if the growth then fails.
    last_growth: u64,
}

impl Drop for InstanceLimiter {
    fn drop(&mut self) {
        self.engine.give_back_memory(self.taken);
    }
}

impl InstanceLimiter {
    fn refuse(&mut self, kind: &str, message: String) -> wasmtime::Error {
        let failure = CallFailure::new(FailureCause::Limit, kind, message);
        let error = wasmtime::Error::msg(format!("{}: {}", failure.kind, failure.message));
        self.exceeded = Some(failure);
        error
    }
}

/// Table elements one instance may have.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl wasmtime::ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.last_growth = 0;
        if maximum.is_some_and(|maximum| desired > maximum) {
            // The memory's own maximum refuses it: nothing to take.
            return Ok(false);
        }
        if desired > self.memory {
            let message = format!(
                "the instance tried to grow its memory to {}, over its limit of {} (limits.memory)",
                bytesize::ByteSize::b(desired as u64),
                bytesize::ByteSize::b(self.memory as u64)
            );
            return Err(self.refuse("MemoryLimitExceeded", message));
        }
        let growth = desired.saturating_sub(current) as u64;
        if let Err((in_use, budget)) = self.engine.take_memory(growth) {
            let message = format!(
                "the instance tried to grow its memory to {}, but the host's guest memory budget ({budget}) has {} in use (RuntimeConfig::memory_budget, wflow serve --memory-budget)",
                bytesize::ByteSize::b(desired as u64),
                bytesize::ByteSize::b(in_use)
            );
            return Err(self.refuse("HostMemoryExhausted", message));
        }
        self.taken += growth;
        self.last_growth = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // Permitted above, the growth did not happen: its memory goes back.
        tracing::debug!("a guest memory growth failed: {error:#}");
        let growth = std::mem::take(&mut self.last_growth);
        self.taken = self.taken.saturating_sub(growth);
        self.engine.give_back_memory(growth);
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            let message = format!(
                "the instance tried to grow a table to {desired} elements, over the limit of {MAX_TABLE_ELEMENTS}"
            );
            return Err(self.refuse("TableLimitExceeded", message));
        }
        Ok(true)
    }
}

impl WorkerState {
    fn new(
        engine: &Engine,
        run: Option<Arc<RunShared>>,
        owner: SlotOwner,
        step: usize,
        memory: usize,
    ) -> Result<Self, String> {
        // Nothing is granted unless the manifest says so: no preopened
        // directory, no environment, no arguments, no network, no stdin.
        let mut builder = WasiCtxBuilder::new();
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let (stdout, stderr) = match &run {
            Some(run) => {
                let config = &run.def.steps[step];
                apply_grants(&mut builder, &config.grants)?;
                let name: Arc<str> = config.name.as_str().into();
                let cap = run.def.options.limits.max_log_bytes;
                let log = Some(run.log.clone());
                (
                    GuestOutput::new(log.clone(), cap, name.clone(), LogStream::Stdout),
                    GuestOutput::new(log, cap, name, LogStream::Stderr),
                )
            }
            None => (
                GuestOutput::new(None, 0, "describe".into(), LogStream::Stdout),
                GuestOutput::new(None, 0, "describe".into(), LogStream::Stderr),
            ),
        };
        builder.stdout(stdout.clone()).stderr(stderr.clone());
        Ok(Self {
            wasi: builder.build(),
            table: ResourceTable::new(),
            run,
            step,
            owner,
            work_item: 0,
            editing: false,
            suspended: SuspendClock::default(),
            stdout,
            stderr,
            limiter: InstanceLimiter {
                memory,
                exceeded: None,
                engine: engine.clone(),
                taken: 0,
                last_growth: 0,
            },
        })
    }

    /// The state of a store in which a component is only described.
    pub(crate) fn describing(engine: &Engine, memory: usize) -> Result<Self, String> {
        Self::new(engine, None, SlotOwner::LOADER, 0, memory)
    }

    /// Applies the memory limit to `store`.
    pub(crate) fn limit(store: &mut Store<WorkerState>) {
        store.limiter(|state| &mut state.limiter);
    }

    /// The engine the instance runs on.
    pub(crate) fn engine(&self) -> &Engine {
        &self.limiter.engine
    }

    fn stderr_tail(&self) -> String {
        self.stderr.tail()
    }
}

impl WasiView for WorkerState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A live component instance serving one step.
pub(crate) struct Worker {
    store: Store<WorkerState>,
    instance: Steps,
    /// The pool slot the instance occupies, freed when the worker drops.
    _slot: SlotPermit,
}

impl Worker {
    /// Instantiates `pre` (the step's component) in a fresh store attached
    /// to `run`, in one of `owner`'s instance slots.
    pub(crate) async fn new(
        engine: &Engine,
        owner: SlotOwner,
        pre: &StepsPre<WorkerState>,
        run: &Arc<RunShared>,
        step: usize,
    ) -> Result<Self, CallFailure> {
        let config = &run.def.steps[step];
        let memory = usize::try_from(config.limits.memory.as_u64()).unwrap_or(usize::MAX);
        let limits = &run.def.options.limits;
        let cap = limits.max_instances.unwrap_or(u32::MAX);
        let slot = engine
            .instance_slot(owner, cap, limits.instance_wait)
            .await
            .map_err(|usage| no_slot(&config.name, limits, usage))?;
        let state = WorkerState::new(engine, Some(run.clone()), owner, step, memory)
            .map_err(|message| CallFailure::new(FailureCause::Host, "GrantError", message))?;
        let mut store = Store::new(engine.wasm(), state);
        WorkerState::limit(&mut store);
        // Instantiation (start functions) is not metered; calls set their own.
        store
            .set_fuel(u64::MAX)
            .map_err(|err| CallFailure::new(FailureCause::Host, "FuelError", format!("{err:#}")))?;
        // Yield to the executor at every epoch tick: a guest that never
        // returns cannot stall other runs, and timeouts can fire.
        store.epoch_deadline_async_yield_and_update(1);
        let instance = pre.instantiate_async(&mut store).await.map_err(|err| {
            let limit = store.data_mut().limiter.exceeded.take();
            limit.unwrap_or_else(|| {
                CallFailure::new(FailureCause::Host, "InstantiationError", format!("{err:#}"))
            })
        })?;
        Ok(Self {
            store,
            instance,
            _slot: slot,
        })
    }

    /// Attaches an idle worker to `run`: its host calls reach that run and
    /// its output goes to that run's log.
    pub(crate) fn attach(&mut self, run: &Arc<RunShared>) {
        let state = self.store.data_mut();
        state.stdout.redirect(Some(run.log.clone()));
        state.stderr.redirect(Some(run.log.clone()));
        state.limiter.exceeded = None;
        state.run = Some(run.clone());
    }

    /// Detaches the worker from its run after a successful call. Returns
    /// whether the instance may serve another call: not if the guest kept a
    /// state edit open (dropping the worker releases it).
    pub(crate) fn detach(&mut self) -> bool {
        let state = self.store.data_mut();
        state.run = None;
        state.stdout.redirect(None);
        state.stderr.redirect(None);
        !state.editing
    }

    /// Runs `step` on `event`. Unless it returned, the worker must be
    /// dropped: a trap, a timeout or a wait that let go of the instance
    /// leaves it unusable, and retries get a fresh one. The step's timeout
    /// counts the call's running time, not its time suspended in a wait.
    pub(crate) async fn handle(
        &mut self,
        step_name: &str,
        event: &Event,
        work_item: u64,
        timeout: Option<Duration>,
        limits: &StepLimits,
    ) -> Result<CallEnd, CallFailure> {
        self.store.data_mut().work_item = work_item;
        // An idle instance's deadline has passed: count from now.
        self.store.set_epoch_deadline(1);
        // Unmetered calls still run on a fuel-enabled engine: give them all.
        let fuel = limits.fuel.unwrap_or(u64::MAX);
        self.store
            .set_fuel(fuel)
            .map_err(|err| CallFailure::new(FailureCause::Host, "FuelError", format!("{err:#}")))?;
        let clock = self.store.data().suspended.clone();
        clock.reset();
        let call = self.instance.call_handle(&mut self.store, step_name, event);
        let outcome = match timeout {
            Some(limit) => match within_running_time(call, limit, &clock).await {
                Some(outcome) => outcome,
                None => {
                    return Err(CallFailure::new(
                        FailureCause::Timeout,
                        "StepTimeoutError",
                        format!(
                            "step `{step_name}` did not finish within {}",
                            humantime::format_duration(limit)
                        ),
                    ));
                }
            },
            None => call.await,
        };
        let left = self.store.get_fuel().unwrap_or(fuel);
        let burned = fuel.saturating_sub(left);
        self.store.data().limiter.engine.count_fuel(burned);
        tracing::Span::current().record("fuel", burned);
        match outcome {
            Ok(Ok(events)) => Ok(CallEnd::Returned(events)),
            Ok(Err(StepError::Failed(error))) => Err(CallFailure::raised(error)),
            Ok(Err(StepError::InvalidEvent(message))) => Err(CallFailure::new(
                FailureCause::Raised,
                "InvalidEventError",
                message,
            )),
            Ok(Err(StepError::Context(error))) => Err(CallFailure::context(error)),
            Err(trap) => {
                if let Some(suspension) = trap.downcast_ref::<Suspension>() {
                    return Ok(CallEnd::Waiting(suspension.clone()));
                }
                let state = self.store.data_mut();
                if let Some(limit) = state.limiter.exceeded.take() {
                    return Err(limit);
                }
                if let Some(wasmtime::Trap::OutOfFuel) = trap.downcast_ref::<wasmtime::Trap>() {
                    return Err(CallFailure::new(
                        FailureCause::Limit,
                        "FuelExhausted",
                        format!(
                            "step `{step_name}` burned all of its fuel ({} units, limits.fuel)",
                            limits.fuel.unwrap_or(u64::MAX)
                        ),
                    ));
                }
                if let Some(limit) = trap.downcast_ref::<LimitTrap>() {
                    return Err(CallFailure::run_limit(limit.0.clone()));
                }
                let stderr = state.stderr_tail();
                let mut message = trap_summary(&trap);
                if !stderr.is_empty() {
                    message.push_str(&format!(" (guest stderr: {stderr})"));
                }
                Err(CallFailure::new(FailureCause::Trap, "WasmTrap", message))
            }
        }
    }
}

/// Awaits `call` unless it runs for longer than `limit`, not counting the
/// time it spends suspended (`clock`): `None` when it ran out of time.
async fn within_running_time<T>(
    call: impl std::future::Future<Output = T>,
    limit: Duration,
    clock: &SuspendClock,
) -> Option<T> {
    let started = tokio::time::Instant::now();
    let mut call = std::pin::pin!(call);
    let mut check_at = started + limit;
    loop {
        tokio::select! {
            outcome = &mut call => return Some(outcome),
            () = tokio::time::sleep_until(check_at) => {
                let now = tokio::time::Instant::now();
                let running = clock.running(started, now);
                if running >= limit {
                    return None;
                }
                check_at = now + (limit - running);
            }
        }
    }
}

/// The failure of a call that got no instance slot in time.
fn no_slot(step: &str, limits: &Limits, usage: SlotUsage) -> CallFailure {
    let whose = match limits.max_instances {
        Some(cap) if usage.held >= cap => format!(
            "this workflow holds {} instances, its limit (limits.max_instances)",
            usage.held
        ),
        _ => format!(
            "{} of the runtime's {} slots are in use, {} of them by this workflow",
            usage.in_use, usage.total, usage.held
        ),
    };
    CallFailure::new(
        FailureCause::Limit,
        "InstanceUnavailable",
        format!(
            "step `{step}` got no instance slot within {} (limits.instance_wait): {whose}",
            humantime::format_duration(limits.instance_wait)
        ),
    )
}

/// Preopens the granted directories and sets the granted environment.
fn apply_grants(builder: &mut WasiCtxBuilder, grants: &Grants) -> Result<(), String> {
    for dir in &grants.dirs {
        let perms = match dir.mode {
            DirMode::ReadOnly => FsPerms::ReadOnly,
            DirMode::ReadWrite => FsPerms::ReadWrite,
        };
        builder
            .preopened_dir(&dir.host_path, &dir.guest_path, perms)
            .map_err(|err| {
                format!(
                    "cannot open granted directory {}: {err:#}",
                    dir.host_path.display()
                )
            })?;
    }
    for (key, value) in &grants.env {
        builder.env(key, value);
    }
    Ok(())
}

fn trap_summary(err: &wasmtime::Error) -> String {
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{err:#}"),
    }
}
