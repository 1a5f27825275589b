//! wflow-core: runs LlamaIndex-style workflows whose steps are sandboxed
//! WebAssembly components.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wflow_core::WorkflowError> {
//! use wflow_core::{Runtime, StepComponent, Workflow, WorkflowOptions};
//!
//! let runtime = Runtime::new()?;
//! let component = StepComponent::load(&runtime, "joke.wasm".as_ref()).await?;
//! let workflow = Workflow::from_components(&runtime, vec![component], WorkflowOptions::named("joke"))?;
//! let handler = workflow.run(serde_json::json!({"topic": "pirates"}))?;
//! let mut events = handler.stream_events()?;
//! while let Some(event) = events.next().await {
//!     println!("{}: {}", event.name, event.data);
//! }
//! println!("{}", handler.result().await?.result);
//! # Ok(()) }
//! ```
//!
//! The pieces: a [`Runtime`] (the wasmtime engine and linker, one per
//! process), a [`Workflow`] (steps gathered from components, validated), a
//! [`WorkflowHandler`] per run, and the [`StateStore`] shared by a run's
//! steps. Errors are [`WorkflowError`], whose variants are the seed's error
//! kinds.

mod bindings;
mod budget;
mod cache;
mod component;
mod context;
mod definition;
mod engine;
mod error;
mod event;
mod executor;
pub mod files;
mod grants;
mod handler;
mod limits;
mod manifest;
mod retry;
mod run;
mod runtime;
mod schema;
mod slots;
mod snapshot;
mod state;
mod suspensions;
pub mod sync;
mod workflow;

pub use cache::{CacheError, CompiledCache, clear_dir as clear_cache_dir};
pub use component::StepComponent;
pub use context::Context;
pub use definition::{EventTypeInfo, StepConfig, WorkflowOptions};
pub use engine::{
    EPOCH_TICK, InstanceAllocator, RuntimeConfig, default_cache_dir, default_memory_budget,
};
pub use error::{FailureCause, Result, StepFailure, WorkflowError};
pub use event::{Event, EventKind, names};
pub use grants::{DirGrant, DirMode, Grants, ResourceSpec};
pub use handler::{EventStream, RunOptions, WorkflowHandler};
pub use limits::{DEFAULT_TIMEOUT, LimitCaps, Limits, LimitsSpec, StepLimits};
pub use manifest::{ComponentRef, Manifest, RetrySpec, StepOverride};
pub use retry::{Backoff, RetryPolicy};
pub use run::outcome::{RunOutcome, StopOutput};
pub use run::output::{LogEntry, LogStream};
pub use runtime::Runtime;
pub use schema::Schema;
pub use slots::InstanceUse;
pub use snapshot::{
    BoxFuture, CheckpointStore, CollectBufferSnapshot, FileCheckpoint, QueuedEvent,
    SNAPSHOT_FORMAT, SNAPSHOT_VERSION, Snapshot, SnapshotOutcome, TimedOutWaiter, WaiterSnapshot,
    WaitersSnapshot, WorkflowIdentity,
};
pub use state::{EditGuard, StateError, StateStore, StateType};
pub use workflow::Workflow;
