//! Loading a step component: compile it (through wasmtime's cache), link it
//! once into an `InstancePre`, and ask it what it holds.

use std::path::{Path, PathBuf};

use wasmtime::Store;
use wasmtime::component::Component;

use crate::bindings::{ComponentInfo, StepsPre};
use crate::error::{Result, WorkflowError};
use crate::files;
use crate::run::worker::WorkerState;
use crate::runtime::Runtime;

/// A compiled, pre-linked step component and its self-description.
pub struct StepComponent {
    /// Where it was loaded from.
    pub path: PathBuf,
    pub(crate) pre: StepsPre<WorkerState>,
    /// What `describe` returned.
    pub info: ComponentInfo,
    /// Whether the compiled code came from the cache.
    pub from_cache: bool,
    /// The SHA-256 of the component's bytes, hex.
    pub digest: String,
}

impl std::fmt::Debug for StepComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepComponent")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl StepComponent {
    /// Compiles and links the component at `path` and calls its `describe`.
    pub async fn load(runtime: &Runtime, path: &Path) -> Result<Self> {
        let owned = path.to_path_buf();
        let bytes = tokio::task::spawn_blocking(move || {
            files::read_regular_file(&owned, "the component", files::MAX_COMPONENT_BYTES)
        })
        .await
        .map_err(|err| WorkflowError::Load(format!("reading {}: {err}", path.display())))??;
        Self::from_bytes(runtime, path, bytes).await
    }

    /// Like [`load`](Self::load), from the component's bytes.
    pub async fn from_bytes(runtime: &Runtime, path: &Path, bytes: Vec<u8>) -> Result<Self> {
        let shown = path.display().to_string();
        let digest: String = {
            use sha2::Digest;
            sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        let engine = runtime.engine().clone();
        let cache = runtime.cache().cloned();
        let compile = move || {
            if let Some(cached) = cache.as_ref().and_then(|c| c.load(&engine, &bytes)) {
                return Ok((cached, true));
            }
            let compiled = Component::new(&engine, &bytes)?;
            if let Some(cache) = &cache
                && let Err(err) = cache.store(&engine, &bytes, &compiled)
            {
                tracing::warn!("cannot cache a compiled component: {err}");
            }
            Ok::<_, wasmtime::Error>((compiled, false))
        };
        let (component, from_cache) = tokio::task::spawn_blocking(compile)
            .await
            .map_err(|err| WorkflowError::Load(format!("{shown}: compilation panicked: {err}")))?
            .map_err(|err| {
                WorkflowError::Load(format!(
                    "{shown} is not a valid WebAssembly component: {err:#}"
                ))
            })?;
        let pre = runtime
            .linker()
            .instantiate_pre(&component)
            .map_err(|err| {
                WorkflowError::Load(format!(
                    "{shown} needs an import the host does not provide: {err:#}"
                ))
            })?;
        let pre = StepsPre::new(pre).map_err(|err| {
            if built_for_older_wit(&component, runtime.engine()) {
                WorkflowError::Load(format!(
                    "{shown} was built against an older wflow WIT (its `component-info` has no \
                     `workflow` field): build it again with this wflow's SDK (`wflow build`), \
                     then load or deploy the new component"
                ))
            } else {
                WorkflowError::Load(format!(
                    "{shown} does not export the wflow `steps` world (describe, handle): {err:#}"
                ))
            }
        })?;
        let _slot = runtime.core().loader_slot().await?;
        let mut store =
            scratch_store(runtime).map_err(|err| WorkflowError::Load(format!("{shown}: {err}")))?;
        let describe = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.call_describe(&mut store).await
        };
        let info = describe
            .await
            .map_err(|err| WorkflowError::Load(format!("{shown}: `describe` failed: {err:#}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            pre,
            info,
            from_cache,
            digest,
        })
    }

    /// Instantiates the component in a fresh, unconnected store and drops
    /// it: a health check of the component and the runtime, and what the
    /// instantiation benchmark measures.
    pub async fn probe_instantiate(&self, runtime: &Runtime) -> Result<()> {
        let _slot = runtime.core().loader_slot().await?;
        let mut store = scratch_store(runtime).map_err(WorkflowError::Load)?;
        self.pre
            .instantiate_async(&mut store)
            .await
            .map(drop)
            .map_err(|err| WorkflowError::Load(format!("{}: {err:#}", self.path.display())))
    }
}

/// Whether `component` is a steps component built against the WIT before
/// `component-info` gained its `workflow` field: its `describe` returns a
/// record of exactly `steps`, `events` and `state`. Read from the
/// component's type, so that loading it can say what to do.
fn built_for_older_wit(component: &Component, engine: &wasmtime::Engine) -> bool {
    use wasmtime::component::types::ComponentItem;
    use wasmtime::component::types::Type;

    let component_type = component.component_type();
    let export = component_type.get_export(engine, "describe");
    let Some(ComponentItem::ComponentFunc(describe)) = export.map(|export| export.ty) else {
        return false;
    };
    let Some(Type::Record(info)) = describe.results().next() else {
        return false;
    };
    info.fields()
        .map(|field| field.name)
        .eq(["steps", "events", "state"])
}

/// A store for an instance that is not part of a run (describing, probing):
/// no grants, the describe memory limit, a bounded time, unmetered fuel.
fn scratch_store(runtime: &Runtime) -> std::result::Result<Store<WorkerState>, String> {
    let mut store = Store::new(
        runtime.engine(),
        WorkerState::describing(runtime.core(), DESCRIBE_MEMORY)?,
    );
    WorkerState::limit(&mut store);
    store.set_epoch_deadline(DESCRIBE_TICKS);
    store.set_fuel(u64::MAX).map_err(|err| format!("{err:#}"))?;
    Ok(store)
}

/// How many epoch ticks `describe` may run for before it is stopped.
const DESCRIBE_TICKS: u64 = 2_000;

/// The memory an instance may use while it is described.
const DESCRIBE_MEMORY: usize = 512 * 1024 * 1024;
