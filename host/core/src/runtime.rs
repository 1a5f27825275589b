//! The runtime a process shares: wflow's engine and the linker that gives
//! step components their (deliberately small) set of imports: WASI p2, with
//! nothing granted unless a manifest says so, and the wflow `context`.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::cache::CompiledCache;
use crate::engine::{Engine, InstanceAllocator, RuntimeConfig};
use crate::error::{Result, WorkflowError};
use crate::run::worker::WorkerState;

/// The wasmtime engine and the linker holding the host's imports. Create
/// one per process and share it: it is cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<WorkerState>,
}

impl Runtime {
    /// A runtime with the default settings.
    pub fn new() -> Result<Self> {
        Self::with_config(RuntimeConfig::default())
    }

    /// A runtime with the given settings.
    pub fn with_config(settings: RuntimeConfig) -> Result<Self> {
        let engine = Engine::new(&settings)?;
        let mut linker = Linker::new(engine.wasm());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|err| WorkflowError::Load(format!("cannot link WASI: {err:#}")))?;
        crate::bindings::wflow::workflow::context::add_to_linker::<_, HasSelf<WorkerState>>(
            &mut linker,
            |state| state,
        )
        .map_err(|err| WorkflowError::Load(format!("cannot link the wflow context: {err:#}")))?;
        Ok(Self {
            inner: Arc::new(RuntimeInner { engine, linker }),
        })
    }

    /// The allocator in use (on-demand if pooling was asked for but could
    /// not be set up).
    pub fn allocator(&self) -> InstanceAllocator {
        self.inner.engine.allocator()
    }

    /// What the host's memory budget ([`RuntimeConfig::memory_budget`])
    /// holds now (every live instance's linear memory and the events in
    /// flight inside runs), and the budget.
    pub fn memory_in_use(&self) -> (bytesize::ByteSize, bytesize::ByteSize) {
        self.inner.engine.memory_in_use()
    }

    /// How many step calls are suspended in `wait_for_event` now, each
    /// keeping its instance (see `limits.wait_in_place`).
    pub fn calls_waiting_in_place(&self) -> usize {
        self.inner.engine.calls_waiting_in_place()
    }

    /// The fuel every step call so far burned, together (unmetered calls
    /// count too: fuel is always measured).
    pub fn fuel_burned(&self) -> u64 {
        self.inner.engine.fuel_burned()
    }

    /// Events queued for steps now, in every run together: sent or
    /// emitted, and not yet taken by a step.
    pub fn queued_events(&self) -> u64 {
        self.inner.engine.queued_events()
    }

    /// How the instance slots are used now.
    pub fn instance_use(&self) -> crate::InstanceUse {
        self.inner.engine.instance_use()
    }

    /// The compiled-component cache, if enabled.
    pub fn cache(&self) -> Option<&CompiledCache> {
        self.inner.engine.cache()
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &wasmtime::Engine {
        self.inner.engine.wasm()
    }

    /// wflow's engine: slots, idle-instance sweeping, the epoch.
    pub(crate) fn core(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn linker(&self) -> &Linker<WorkerState> {
        &self.inner.linker
    }
}
