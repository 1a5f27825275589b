//! The wasm layer: the wasmtime engine wflow runs every component on, its
//! epoch ticker, its instance slots and its compiled-code cache. It knows
//! nothing of runs: idle instances are reclaimed through [`IdleInstances`].

use crate::sync::lock;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytesize::ByteSize;
use tokio::sync::oneshot;
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use crate::budget::default_memory_budget;
use crate::budget::{Charge, MemoryBudget};
use crate::cache::CompiledCache;
use crate::error::{Result, WorkflowError};
use crate::executor::RunExecutor;
use crate::slots::{InstanceSlots, InstanceUse, SlotOwner, SlotPermit, SlotUsage};
use crate::suspensions::{SuspensionTicket, Suspensions};

/// How often the engine's epoch advances. Guests yield to the async
/// executor at every tick, and step timeouts are checked at this
/// granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// How instances get their memory, tables and stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceAllocator {
    /// Map and initialise everything for each instance, on demand.
    OnDemand,
    /// Reserve slots for `max_instances` instances up front and reuse them
    /// (copy-on-write memory images, no per-instance mmap); instance
    /// creation waits for a free slot. Falls back to on-demand when the
    /// machine cannot reserve the address space.
    Pooling {
        /// Instances alive at once (component instances; core instances,
        /// memories and tables are sized from it).
        max_instances: u32,
        /// The largest linear memory one instance may have; step memory
        /// limits above it are refused at load.
        max_memory: ByteSize,
    },
}

impl Default for InstanceAllocator {
    fn default() -> Self {
        Self::Pooling {
            max_instances: 1000,
            max_memory: ByteSize::gib(1),
        }
    }
}

/// How often an instance waiting for a pool slot sweeps the idle instances
/// again (calls ending meanwhile give theirs back).
const SLOT_RETRY: Duration = Duration::from_millis(50);

/// How long loading a component waits for an instance slot to describe it.
const LOADER_SLOT_WAIT: Duration = Duration::from_secs(60);

/// Settings of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// How instances are allocated.
    pub allocator: InstanceAllocator,
    /// The memory all instances' linear memory and the events in flight
    /// inside runs (streamed and not read yet, queued for a step) may hold
    /// together (see [`default_memory_budget`]): past it a memory growth or
    /// an event is refused with `HostMemoryExhausted`.
    pub memory_budget: ByteSize,
    /// Runs go on a tokio runtime of their own with this many worker
    /// threads, so that busy guests never hold up the caller's tasks (a
    /// server's requests); `None` (the default) spawns runs on the
    /// caller's runtime.
    pub run_threads: Option<NonZeroUsize>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: default_cache_dir(),
            allocator: InstanceAllocator::default(),
            memory_budget: default_memory_budget(),
            run_threads: None,
        }
    }
}

/// The default compiled-component cache directory: `$WFLOW_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/wflow`, else `~/.cache/wflow`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WFLOW_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("wflow"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("wflow"))
}

/// Idle instances that a full allocator may reclaim (a workflow's pool).
pub(crate) trait IdleInstances: Send + Sync {
    /// Whose slots the instances hold.
    fn owner(&self) -> SlotOwner;
    /// Drops every idle instance, freeing their allocator slots.
    fn clear(&self);
}

/// wflow's engine: a wasmtime engine set up for wflow (async, epoch
/// interruption, fuel, component model, pooling), the thread advancing its
/// epoch, the allocator's free slots and the compiled-code cache. Cheap to
/// clone.
#[derive(Clone)]
pub(crate) struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    wasm: wasmtime::Engine,
    ticker_stop: Arc<AtomicBool>,
    allocator: InstanceAllocator,
    /// The instance slots: the pooling allocator's, or unbounded ones on
    /// demand (where only `limits.max_instances` caps a workflow).
    slots: InstanceSlots,
    /// Every live instance pool, swept when an instance waits for a slot.
    pools: Mutex<PoolRegistry>,
    /// Step calls suspended in a wait, keeping their instances.
    suspensions: Suspensions,
    /// The host's memory budget: what all instances' linear memory and the
    /// events in flight inside runs hold together.
    memory: Arc<MemoryBudget>,
    /// The runtime runs go on, if they have one of their own.
    runs: Option<RunExecutor>,
    cache: Option<CompiledCache>,
    /// The fuel every step call so far burned, together.
    fuel_burned: AtomicU64,
    /// Events queued for steps in every run, together.
    queued_events: AtomicU64,
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Engine {
    /// An engine with `settings`; pooling falls back to on-demand
    /// allocation when the machine cannot reserve the address space.
    pub(crate) fn new(settings: &RuntimeConfig) -> Result<Self> {
        let (wasm, allocator) = match settings.allocator {
            InstanceAllocator::OnDemand => (build_engine(None)?, InstanceAllocator::OnDemand),
            pooling @ InstanceAllocator::Pooling { .. } => match build_engine(Some(pooling)) {
                Ok(engine) => (engine, pooling),
                Err(err) => {
                    tracing::warn!(
                        "the pooling allocator is unavailable, allocating on demand: {err}"
                    );
                    (build_engine(None)?, InstanceAllocator::OnDemand)
                }
            },
        };
        // A cache that cannot be set up only costs speed: go on without it.
        let cache = settings.cache_dir.as_deref().and_then(|dir| {
            CompiledCache::open(dir)
                .map_err(|err| tracing::warn!("compiled-component cache disabled: {err}"))
                .ok()
        });
        let runs = settings
            .run_threads
            .map(RunExecutor::new)
            .transpose()
            .map_err(|err| {
                WorkflowError::Runtime(format!("cannot start the runtime for runs: {err}"))
            })?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(wasm.clone(), ticker_stop.clone());
        let slots = match allocator {
            InstanceAllocator::Pooling { max_instances, .. } => InstanceSlots::new(max_instances),
            InstanceAllocator::OnDemand => InstanceSlots::new(u32::MAX),
        };
        Ok(Self {
            inner: Arc::new(EngineInner {
                wasm,
                ticker_stop,
                allocator,
                slots,
                pools: Mutex::default(),
                suspensions: Suspensions::default(),
                memory: Arc::new(MemoryBudget::new(settings.memory_budget)),
                runs,
                cache,
                fuel_burned: AtomicU64::new(0),
                queued_events: AtomicU64::new(0),
            }),
        })
    }

    /// The allocator in use.
    pub(crate) fn allocator(&self) -> InstanceAllocator {
        self.inner.allocator
    }

    /// A new owner of instance slots: a loaded workflow.
    pub(crate) fn slot_owner(&self) -> SlotOwner {
        self.inner.slots.new_owner()
    }

    /// An instance slot for `owner`, held for the instance's life. `owner`
    /// holds at most `cap` at once; slots are shared fairly between owners
    /// (see [`crate::slots`]). Waits up to `wait`, then fails with how the
    /// slots are used.
    pub(crate) async fn instance_slot(
        &self,
        owner: SlotOwner,
        cap: u32,
        wait: Duration,
    ) -> std::result::Result<SlotPermit, SlotUsage> {
        let slots = &self.inner.slots;
        let mut granted = match slots.acquire(owner, cap) {
            Ok(permit) => return Ok(permit),
            Err(receiver) => receiver,
        };
        // No slot for `owner`: drop idle instances to free some, and sweep
        // again now and then, since calls ending meanwhile give their
        // instances back to the pools. Other workflows' idle instances help
        // only an owner below its cap with every slot taken; otherwise it
        // gives up its own.
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            let usage = slots.usage(owner);
            let sweep = (usage.in_use < usage.total || usage.held >= cap).then_some(owner);
            self.sweep_idle_instances(sweep);
            match granted.try_recv() {
                Ok(permit) => return Ok(permit),
                Err(oneshot::error::TryRecvError::Closed) => return Err(slots.usage(owner)),
                // Still none: a call suspended in a wait lets go of one.
                Err(oneshot::error::TryRecvError::Empty) => {
                    self.inner.suspensions.let_go_oldest(sweep);
                }
            }
            tokio::select! {
                biased;
                permit = &mut granted => return permit.map_err(|_| slots.usage(owner)),
                () = &mut deadline => return Err(slots.usage(owner)),
                () = tokio::time::sleep(SLOT_RETRY) => {}
            }
        }
    }

    /// An instance slot to describe or probe a component at load (see
    /// [`Self::instance_slot`]).
    pub(crate) async fn loader_slot(&self) -> Result<SlotPermit> {
        self.instance_slot(SlotOwner::LOADER, u32::MAX, LOADER_SLOT_WAIT)
            .await
            .map_err(|usage| {
                WorkflowError::Load(format!(
                    "no instance slot came free within {}: all {} of the runtime's slots are in use",
                    humantime::format_duration(LOADER_SLOT_WAIT),
                    usage.total
                ))
            })
    }

    /// Takes `bytes` (guest memory, or an event queued in a run) from the
    /// host's budget, dropping idle instances to make room if need be; on
    /// refusal, the bytes in use and the budget.
    pub(crate) fn take_memory(&self, bytes: u64) -> std::result::Result<(), (u64, ByteSize)> {
        let budget = &self.inner.memory;
        if budget.take(bytes).is_ok() {
            return Ok(());
        }
        self.sweep_idle_instances(None);
        budget.take(bytes).map_err(|in_use| (in_use, budget.cap()))
    }

    /// Takes `bytes` of an event in flight as [`Self::take_memory`] does,
    /// as a charge giving them back when dropped.
    pub(crate) fn charge_memory(&self, bytes: u64) -> std::result::Result<Charge, (u64, ByteSize)> {
        self.take_memory(bytes)?;
        Ok(self.inner.memory.charge_taken(bytes))
    }

    /// Counts `bytes` admitted before against the host's budget again, past
    /// its cap if need be.
    pub(crate) fn take_memory_anyway(&self, bytes: u64) {
        self.inner.memory.take_anyway(bytes);
    }

    /// Gives back what [`Self::take_memory`] took.
    pub(crate) fn give_back_memory(&self, bytes: u64) {
        self.inner.memory.give_back(bytes);
    }

    /// What the budget holds now (instances' memory, events in flight),
    /// and the budget.
    pub(crate) fn memory_in_use(&self) -> (ByteSize, ByteSize) {
        let budget = &self.inner.memory;
        (ByteSize::b(budget.in_use()), budget.cap())
    }

    /// The runtime runs go on, if they have one of their own.
    pub(crate) fn run_executor(&self) -> Option<&tokio::runtime::Handle> {
        self.inner.runs.as_ref().and_then(RunExecutor::handle)
    }

    /// Enters a call of `owner`'s suspended in a wait, keeping its
    /// instance, until the receiver says to let go of it (another call
    /// needs the slot); it leaves when the ticket drops.
    pub(crate) fn suspend_call(
        &self,
        owner: SlotOwner,
    ) -> (SuspensionTicket, oneshot::Receiver<()>) {
        self.inner.suspensions.enter(owner)
    }

    /// How many step calls are suspended in a wait now.
    pub(crate) fn calls_waiting_in_place(&self) -> usize {
        self.inner.suspensions.len()
    }

    /// A step call burned `units` of fuel.
    pub(crate) fn count_fuel(&self, units: u64) {
        self.inner.fuel_burned.fetch_add(units, Ordering::Relaxed);
    }

    /// The fuel every step call so far burned, together.
    pub(crate) fn fuel_burned(&self) -> u64 {
        self.inner.fuel_burned.load(Ordering::Relaxed)
    }

    /// `count` more events are queued for steps.
    pub(crate) fn count_queued_events(&self, count: u64) {
        self.inner.queued_events.fetch_add(count, Ordering::Relaxed);
    }

    /// `count` events left the queues.
    pub(crate) fn uncount_queued_events(&self, count: u64) {
        let _ =
            self.inner
                .queued_events
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
                    Some(queued.saturating_sub(count))
                });
    }

    /// Events queued for steps in every run now.
    pub(crate) fn queued_events(&self) -> u64 {
        self.inner.queued_events.load(Ordering::Relaxed)
    }

    /// How the instance slots are used now.
    pub(crate) fn instance_use(&self) -> InstanceUse {
        self.inner.slots.report()
    }

    /// Registers `pool`, whose idle instances are dropped when the
    /// allocator runs out of slots.
    pub(crate) fn register_pool(&self, pool: Weak<dyn IdleInstances>) {
        lock(&self.inner.pools).register(pool);
    }

    /// Drops the idle instances of the live pools of `only`, or of every
    /// live pool.
    fn sweep_idle_instances(&self, only: Option<SlotOwner>) {
        let pools = lock(&self.inner.pools).live();
        for pool in pools {
            if only.is_none_or(|owner| pool.owner() == owner) {
                pool.clear();
            }
        }
    }

    /// The compiled-component cache, if enabled.
    pub(crate) fn cache(&self) -> Option<&CompiledCache> {
        self.inner.cache.as_ref()
    }

    /// The wasmtime engine.
    pub(crate) fn wasm(&self) -> &wasmtime::Engine {
        &self.inner.wasm
    }
}

/// Weak references to the instance pools of a runtime's workflows and runs.
#[derive(Default)]
struct PoolRegistry {
    pools: Vec<Weak<dyn IdleInstances>>,
    /// The length at which dead references are pruned next.
    prune_at: usize,
}

impl PoolRegistry {
    fn register(&mut self, pool: Weak<dyn IdleInstances>) {
        if self.pools.len() >= self.prune_at {
            self.pools.retain(|pool| pool.strong_count() > 0);
            // Amortised: prune again once the list has doubled.
            self.prune_at = (self.pools.len() * 2).max(64);
        }
        self.pools.push(pool);
    }

    fn live(&self) -> Vec<Arc<dyn IdleInstances>> {
        self.pools.iter().filter_map(Weak::upgrade).collect()
    }
}

/// Creates the engine: component model, epoch interruption, fuel, and the
/// pooling allocator when asked.
fn build_engine(pooling: Option<InstanceAllocator>) -> Result<wasmtime::Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        // Fuel is metered only for steps given a fuel limit; the others get
        // an endless supply.
        .consume_fuel(true);
    if let Some(InstanceAllocator::Pooling {
        max_instances,
        max_memory,
    }) = pooling
    {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(max_instances)
            .total_core_instances(max_instances.saturating_mul(4))
            .total_memories(max_instances.saturating_mul(2))
            .total_tables(max_instances.saturating_mul(4))
            .total_stacks(max_instances)
            .table_elements(100_000)
            .linear_memory_keep_resident(64 * 1024)
            .table_keep_resident(16 * 1024)
            .max_memory_size(usize::try_from(max_memory.as_u64()).unwrap_or(usize::MAX));
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    wasmtime::Engine::new(&config)
        .map_err(|err| WorkflowError::Load(format!("cannot create the wasm engine: {err:#}")))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a thread of its own,
/// so a guest that never returns still yields and can be timed out, whatever
/// the async executor is doing.
fn spawn_epoch_ticker(engine: wasmtime::Engine, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("wflow-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    if let Err(err) = spawned {
        tracing::error!("cannot start the epoch ticker thread: {err}");
    }
}
