//! A context that outlives runs: its state store carries over from one run
//! to the next, and it serializes to JSON between processes.

use serde_json::Value;

use crate::error::{Result, WorkflowError};
use crate::snapshot::WorkflowIdentity;
use crate::state::StateStore;
use crate::workflow::Workflow;

/// A context that outlives runs: its state store carries over from one run
/// to the next, as the seed's `Context(workflow)` passed to `run(ctx=...)`.
#[derive(Debug, Clone)]
pub struct Context {
    state: StateStore,
    workflow: WorkflowIdentity,
}

/// The JSON form of a [`Context`] between runs.
#[derive(serde::Serialize, serde::Deserialize)]
struct ContextDocument {
    format: String,
    version: u32,
    workflow: WorkflowIdentity,
    state: Value,
}

/// The `format` field of a serialized context.
const CONTEXT_FORMAT: &str = "wflow-context";

impl Context {
    /// A fresh context for `workflow` (typed state starts at its defaults).
    pub fn new(workflow: &Workflow) -> Self {
        let def = &workflow.def;
        let state = StateStore::with_limit(
            def.state_type.clone(),
            def.options.limits.max_state_bytes.as_u64(),
        );
        Self {
            state,
            workflow: workflow.identity(),
        }
    }

    /// The state store.
    pub fn store(&self) -> &StateStore {
        &self.state
    }

    /// The context as JSON, between runs (the seed's `Context.to_dict`; a
    /// running run is captured with [`WorkflowHandler::snapshot`]).
    pub fn to_json(&self) -> Result<String> {
        let document = ContextDocument {
            format: CONTEXT_FORMAT.to_string(),
            version: crate::snapshot::SNAPSHOT_VERSION,
            workflow: self.workflow.clone(),
            state: (*self.state.snapshot()).clone(),
        };
        serde_json::to_string_pretty(&document).map_err(|err| {
            WorkflowError::ContextSerde(format!("cannot serialize the context: {err}"))
        })
    }

    /// A context restored from [`Context::to_json`] for `workflow` (the
    /// seed's `Context.from_dict`); another workflow's context, another
    /// format version or a damaged document is a `ContextSerdeError`.
    pub fn from_json(workflow: &Workflow, text: &str) -> Result<Self> {
        let document: ContextDocument = serde_json::from_str(text).map_err(|err| {
            WorkflowError::ContextSerde(format!("the context is not a valid wflow context: {err}"))
        })?;
        if document.format != CONTEXT_FORMAT {
            return Err(WorkflowError::ContextSerde(format!(
                "not a wflow context: format is {:?}, expected {CONTEXT_FORMAT:?}",
                document.format
            )));
        }
        if document.version != crate::snapshot::SNAPSHOT_VERSION {
            return Err(WorkflowError::ContextSerde(format!(
                "context format version {} is not supported (this host reads version {})",
                document.version,
                crate::snapshot::SNAPSHOT_VERSION
            )));
        }
        if document.workflow != workflow.identity() {
            return Err(WorkflowError::ContextSerde(format!(
                "the context belongs to workflow {:?} with other components or name than {:?}",
                document.workflow.name,
                workflow.name()
            )));
        }
        let context = Self::new(workflow);
        context
            .state
            .restore(document.state)
            .map_err(|err| WorkflowError::ContextSerde(format!("the context's state: {err}")))?;
        Ok(context)
    }
}
