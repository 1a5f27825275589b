//! The wasmtime engine wflow runs every component on, and the linker that
//! gives components their (deliberately small) set of imports.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Cache, CacheConfig, Config, Engine};

use crate::error::{Result, WorkflowError};
use crate::run::worker::WorkerState;

/// How often the engine's epoch advances. Guests yield to the async
/// executor at every tick, and step timeouts are checked at this
/// granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Settings of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where wasmtime caches compiled components; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: default_cache_dir(),
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

/// A wasmtime engine set up for wflow (async, epoch interruption, component
/// model, compiled-code cache) and the linker holding the host's imports.
/// Create one per process and share it: it is cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<WorkerState>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// A runtime with the default settings.
    pub fn new() -> Result<Self> {
        Self::with_config(RuntimeConfig::default())
    }

    /// A runtime with the given settings.
    pub fn with_config(settings: RuntimeConfig) -> Result<Self> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            // Fuel is metered only for steps given a fuel limit; the others
            // get an endless supply.
            .consume_fuel(true);
        if let Some(dir) = &settings.cache_dir {
            // A cache that cannot be set up only costs speed: go on without it.
            let mut cache_config = CacheConfig::new();
            cache_config.with_directory(dir);
            match Cache::new(cache_config) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(err) => tracing::warn!("compiled-component cache disabled: {err:#}"),
            }
        }
        let engine = Engine::new(&config).map_err(|err| {
            WorkflowError::Load(format!("cannot create the wasm engine: {err:#}"))
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|err| WorkflowError::Load(format!("cannot link WASI: {err:#}")))?;
        crate::bindings::wflow::workflow::context::add_to_linker::<_, HasSelf<WorkerState>>(
            &mut linker,
            |state| state,
        )
        .map_err(|err| WorkflowError::Load(format!("cannot link the wflow context: {err:#}")))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone());
        Ok(Self {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                ticker_stop,
            }),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn linker(&self) -> &Linker<WorkerState> {
        &self.inner.linker
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a thread of its own,
/// so a guest that never returns still yields and can be timed out, whatever
/// the async executor is doing.
fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) {
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
