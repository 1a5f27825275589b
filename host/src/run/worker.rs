//! A step worker: one component instance in its own store, created on first
//! use from the component's pre-linked `InstancePre`.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::{StepError, Steps};
use crate::event::Event;

use super::RunShared;

/// How much of a guest's stderr is kept (it is shown when the step fails).
const STDERR_CAPACITY: usize = 16 * 1024;

/// The data of a worker's store: WASI (with nothing granted), the resource
/// table, and the run the worker belongs to.
pub struct WorkerState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// `None` while a component is only being described.
    pub(crate) run: Option<Arc<RunShared>>,
    /// The step this worker runs.
    pub(crate) step: usize,
    /// The id of the event being handled, for default waiter ids.
    pub(crate) work_item: u64,
    /// Whether the guest holds a state edit.
    pub(crate) editing: bool,
    stderr: MemoryOutputPipe,
}

impl WorkerState {
    fn new(run: Option<Arc<RunShared>>, step: usize) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // No preopened directory, no environment, no arguments, no network,
        // no stdin: a guest gets nothing it was not granted.
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            run,
            step,
            work_item: 0,
            editing: false,
            stderr,
        }
    }

    pub(crate) fn describing() -> Self {
        Self::new(None, 0)
    }

    fn stderr_tail(&self) -> String {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        text.trim().to_string()
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
}

impl Worker {
    /// Instantiates the step's component in a fresh store.
    pub(crate) async fn new(run: &Arc<RunShared>, step: usize) -> Result<Self, String> {
        let def = &run.def;
        let component = &def.components[def.steps[step].component];
        let mut store = Store::new(
            def.runtime.engine(),
            WorkerState::new(Some(run.clone()), step),
        );
        // Yield to the executor at every epoch tick: a guest that never
        // returns cannot stall other runs, and timeouts can fire.
        store.epoch_deadline_async_yield_and_update(1);
        let instance = component
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|err| format!("InstantiationError: {err:#}"))?;
        Ok(Self { store, instance })
    }

    /// Runs `step` on `event`. On error the worker must be dropped: a trap or
    /// a timeout leaves the instance unusable, and retries get a fresh one.
    pub(crate) async fn handle(
        &mut self,
        step_name: &str,
        event: &Event,
        work_item: u64,
        timeout: Option<Duration>,
    ) -> Result<Vec<Event>, String> {
        self.store.data_mut().work_item = work_item;
        let call = self.instance.call_handle(&mut self.store, step_name, event);
        let outcome = match timeout {
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(format!(
                        "StepTimeoutError: step `{step_name}` did not finish within {}",
                        humantime::format_duration(limit)
                    ));
                }
            },
            None => call.await,
        };
        match outcome {
            Ok(Ok(events)) => Ok(events),
            Ok(Err(error)) => Err(describe_step_error(error)),
            Err(trap) => {
                let stderr = self.store.data().stderr_tail();
                let mut message = format!("WasmTrap: {}", trap_summary(&trap));
                if !stderr.is_empty() {
                    message.push_str(&format!(" (guest stderr: {stderr})"));
                }
                Err(message)
            }
        }
    }
}

fn trap_summary(err: &wasmtime::Error) -> String {
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{err:#}"),
    }
}

fn describe_step_error(error: StepError) -> String {
    match error {
        StepError::Failed(message) => message,
        StepError::InvalidEvent(message) => format!("InvalidEventError: {message}"),
        StepError::Context(err) => crate::run::host::describe_context_error(&err),
    }
}
