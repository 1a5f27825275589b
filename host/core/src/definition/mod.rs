//! What a workflow is, as data: steps gathered from one or more components,
//! their event types, the routing table a run uses, and the checks of the
//! graph. Nothing here runs code.

mod assemble;
mod options;
pub(crate) mod validate;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Result, WorkflowError};
use crate::event::{Event, EventKind, names};
use crate::grants::Grants;
use crate::limits::StepLimits;
use crate::retry::RetryPolicy;
use crate::schema::Schema;
use crate::snapshot::WorkflowIdentity;
use crate::state::StateType;

pub(crate) use assemble::assemble;
pub use options::WorkflowOptions;

/// Where a component came from: what errors name and snapshots check.
#[derive(Debug, Clone)]
pub(crate) struct ComponentOrigin {
    /// The file or guest folder it was loaded from.
    pub(crate) path: PathBuf,
    /// The SHA-256 of its bytes, hex.
    pub(crate) digest: String,
}

/// One step, as declared by its component and adjusted by overrides.
#[derive(Debug, Clone, Serialize)]
pub struct StepConfig {
    /// The step's name.
    pub name: String,
    /// Index of the component implementing it.
    #[serde(skip)]
    pub(crate) component: usize,
    /// The event types it accepts.
    pub accepts: Vec<String>,
    /// The event types it may emit or send.
    pub emits: Vec<String>,
    /// Concurrent workers.
    pub num_workers: u32,
    /// Its retry policy.
    pub retry: Option<RetryPolicy>,
    /// The longest one call may take.
    pub timeout: Option<Duration>,
    /// Memory and fuel limits of its instances and calls.
    pub limits: StepLimits,
    /// What it may reach besides the context.
    pub grants: Grants,
}

/// An event type known to the workflow.
#[derive(Debug, Clone)]
pub struct EventTypeInfo {
    /// The type's name.
    pub name: String,
    /// Its role.
    pub kind: EventKind,
    /// The JSON Schema its owner published, if any.
    pub schema: Option<Arc<Schema>>,
    /// Every distinct schema published for the type, with the indices of the
    /// components publishing it. An event a step emits is checked against
    /// the schemas of the other components (those in another language, say)
    /// before any of their steps decode it.
    pub(crate) declared: Vec<(Vec<usize>, Arc<Schema>)>,
}

/// What a workflow is, as data: its steps, event types, routing table,
/// state type and options. Holds no code: [`crate::Workflow`] pairs it with
/// the loaded components.
#[derive(Clone)]
pub(crate) struct WorkflowDef {
    pub(crate) options: WorkflowOptions,
    /// The name the components give the workflow (its class in Python or
    /// JavaScript), when they give one and agree on it: what validation
    /// messages call it, as the reference calls a workflow by its class.
    pub(crate) declared_name: Option<String>,
    /// The components the steps come from, by index.
    pub(crate) components: Vec<ComponentOrigin>,
    pub(crate) steps: Vec<StepConfig>,
    pub(crate) step_index: HashMap<String, usize>,
    pub(crate) events: BTreeMap<String, EventTypeInfo>,
    /// Event type name -> the steps accepting it.
    pub(crate) routes: HashMap<String, Vec<usize>>,
    pub(crate) state_type: Option<StateType>,
}

/// The kind of event type `name`: as declared, else built-in, else plain.
pub(crate) fn kind_of(events: &BTreeMap<String, EventTypeInfo>, name: &str) -> EventKind {
    events
        .get(name)
        .map(|info| info.kind)
        .or_else(|| EventKind::of_builtin(name))
        .unwrap_or(EventKind::Plain)
}

/// Which steps accept each event type.
pub(crate) fn routes_of(steps: &[StepConfig]) -> HashMap<String, Vec<usize>> {
    let mut routes: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, step) in steps.iter().enumerate() {
        let mut seen = HashSet::new();
        for name in &step.accepts {
            if seen.insert(name) {
                routes.entry(name.clone()).or_default().push(index);
            }
        }
    }
    routes
}

impl WorkflowDef {
    pub(crate) fn kind_of(&self, name: &str) -> EventKind {
        kind_of(&self.events, name)
    }

    /// Checks an event from outside (a start event, an event sent into a
    /// run) against every schema published for its type, converting what
    /// pydantic's lax mode converts (`"2"` to 2 where an integer is
    /// wanted): the event as the run takes it.
    pub(crate) fn admit_payload(&self, event: Event) -> Result<Event> {
        let mut payload = event.payload()?;
        if !payload.is_object() {
            return Err(WorkflowError::InvalidEvent(format!(
                "the payload of a {} must be a JSON object",
                event.name
            )));
        }
        let declared = self.events.get(&event.name).map(|info| &info.declared);
        let mut converted = false;
        for (_, schema) in declared.into_iter().flatten() {
            match schema.admit(&payload) {
                Ok(None) => {}
                Ok(Some(lax)) => {
                    payload = lax;
                    converted = true;
                }
                Err(problems) => {
                    return Err(WorkflowError::InvalidEvent(format!(
                        "the {} does not match its schema: {problems}",
                        event.name
                    )));
                }
            }
        }
        if !converted {
            return Ok(event);
        }
        // A conversion for one schema must still suit the others.
        for (_, schema) in declared.into_iter().flatten() {
            schema.check(&payload).map_err(|problems| {
                WorkflowError::InvalidEvent(format!(
                    "the {} does not match its schema: {problems}",
                    event.name
                ))
            })?;
        }
        Event::new(event.name, &payload)
    }

    /// Whether an event of type `name` emitted by a step of component
    /// `component` is checked against schemas of other components (what may
    /// cost more than a glance: see [`Self::check_foreign_schemas`]).
    pub(crate) fn crosses_schemas(&self, component: usize, name: &str) -> bool {
        self.events.get(name).is_some_and(|info| {
            info.declared
                .iter()
                .any(|(owners, _)| !owners.contains(&component))
        })
    }

    /// Checks an event emitted by a step of component `component` against
    /// the schemas other components publish for its type: the boundary
    /// between components (and languages) is where a payload may stop
    /// matching what its consumers decode. Events staying within one
    /// component are not re-checked.
    pub(crate) fn check_foreign_schemas(
        &self,
        component: usize,
        event: &Event,
    ) -> std::result::Result<(), String> {
        let Some(info) = self.events.get(&event.name) else {
            return Ok(());
        };
        let mut foreign = info
            .declared
            .iter()
            .filter(|(owners, _)| !owners.contains(&component))
            .peekable();
        if foreign.peek().is_none() {
            return Ok(());
        }
        let payload = event.payload().map_err(|err| err.to_string())?;
        for (owners, schema) in foreign {
            schema.check(&payload).map_err(|problems| {
                let owner = owners
                    .first()
                    .and_then(|&i| self.components.get(i))
                    .map(|c| c.path.display().to_string())
                    .unwrap_or_default();
                format!(
                    "the {} does not match the schema {owner} declares for it: {problems}",
                    event.name
                )
            })?;
        }
        Ok(())
    }

    pub(crate) fn start_event(&self) -> &str {
        self.events
            .values()
            .find(|info| {
                info.kind == EventKind::Start
                    && self.routes.get(&info.name).is_some_and(|s| !s.is_empty())
            })
            .map(|info| info.name.as_str())
            .unwrap_or(names::START)
    }

    /// What messages about the workflow's shape call it: the name chosen
    /// for the whole workflow, else the one its components declare, else
    /// the name it runs under.
    pub(crate) fn display_name(&self) -> &str {
        self.options
            .display_name
            .as_deref()
            .or(self.declared_name.as_deref())
            .unwrap_or(&self.options.name)
    }

    /// What identifies the workflow in a snapshot: its name and the SHA-256
    /// of each component.
    pub(crate) fn identity(&self) -> WorkflowIdentity {
        WorkflowIdentity {
            name: self.options.name.clone(),
            components: self.components.iter().map(|c| c.digest.clone()).collect(),
        }
    }

    /// Checks an event that step `step` returns or sends: a type it
    /// declares among those it emits, a JSON object payload, matching the
    /// schemas other components declare for the type.
    pub(crate) fn check_emitted(
        &self,
        step: usize,
        event: &Event,
    ) -> std::result::Result<(), EmitError> {
        let config = &self.steps[step];
        if !config.emits.contains(&event.name) {
            return Err(EmitError::Undeclared(config.emits.join(", ")));
        }
        event
            .check_object()
            .map_err(|err| EmitError::NotAnObject(err.to_string()))?;
        self.check_foreign_schemas(config.component, event)
            .map_err(EmitError::SchemaViolation)
    }
}

/// Why a step may not emit an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EmitError {
    /// The step does not declare the type; the types it declares.
    Undeclared(String),
    /// The payload is no JSON object.
    NotAnObject(String),
    /// The payload does not match a schema another component declares.
    SchemaViolation(String),
}
