//! A workflow: steps gathered from one or more components, their event
//! types, and the routing table a run uses.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::bindings::WitEventKind;
use crate::component::StepComponent;
use crate::engine::Runtime;
use crate::error::{Result, WorkflowError};
use crate::event::{Event, EventKind, names};
use crate::grants::Grants;
use crate::limits::{Limits, StepLimits};
use crate::manifest::{Manifest, StepOverride};
use crate::retry::RetryPolicy;
use crate::run::pool::InstancePool;
use crate::schema::Schema;
use crate::state::StateType;

/// The seed's default run timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(45);

/// Settings of a workflow, as the seed's `Workflow(...)` arguments.
#[derive(Debug, Clone)]
pub struct WorkflowOptions {
    /// The workflow's name.
    pub name: String,
    /// The run timeout; `None` for none.
    pub timeout: Option<Duration>,
    /// Skip event-graph validation.
    pub disable_validation: bool,
    /// How many runs may go on at once; `None` for no limit.
    pub num_concurrent_runs: Option<usize>,
    /// Per-step overrides.
    pub step_overrides: BTreeMap<String, StepOverride>,
    /// The limits of every run and the default limits of every step.
    pub limits: Limits,
    /// What each step is granted, by step name.
    pub grants: BTreeMap<String, Grants>,
    /// Whether a step's idle instance may serve later runs of the workflow
    /// (the default, as the reference reuses its `Workflow` object). When
    /// false each run starts its steps on new instances, so no guest memory
    /// passes from one run to the next; instances are still reused within a
    /// run.
    pub reuse_instances: bool,
}

impl WorkflowOptions {
    /// Defaults for a workflow called `name`.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            timeout: Some(DEFAULT_TIMEOUT),
            disable_validation: false,
            num_concurrent_runs: None,
            step_overrides: BTreeMap::new(),
            limits: Limits::default(),
            grants: BTreeMap::new(),
            reuse_instances: true,
        }
    }
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

/// A loaded workflow, ready to run any number of times. Cheap to clone.
#[derive(Clone)]
pub struct Workflow {
    pub(crate) def: Arc<WorkflowDef>,
    /// The run timeout (the options' unless changed with `with_timeout`).
    pub(crate) timeout: Option<Duration>,
}

pub(crate) struct WorkflowDef {
    pub(crate) runtime: Runtime,
    pub(crate) options: WorkflowOptions,
    pub(crate) components: Vec<StepComponent>,
    pub(crate) steps: Vec<StepConfig>,
    pub(crate) step_index: HashMap<String, usize>,
    pub(crate) events: BTreeMap<String, EventTypeInfo>,
    /// Event type name -> the steps accepting it.
    pub(crate) routes: HashMap<String, Vec<usize>>,
    pub(crate) state_type: Option<StateType>,
    pub(crate) run_slots: Option<Arc<Semaphore>>,
    /// Idle instances shared by the runs, when instances are reused across
    /// runs.
    pub(crate) pool: Option<Arc<InstancePool>>,
}

impl WorkflowDef {
    /// The instance pool a new run uses: the workflow's, or a new one.
    pub(crate) fn run_pool(&self) -> Arc<InstancePool> {
        match &self.pool {
            Some(pool) => pool.clone(),
            None => self.new_pool(),
        }
    }

    fn new_pool(&self) -> Arc<InstancePool> {
        new_pool(&self.runtime, &self.steps)
    }
}

/// A pool keeping up to `num_workers` idle instances of each step,
/// registered with the runtime so that a full allocator can reclaim them.
fn new_pool(runtime: &Runtime, steps: &[StepConfig]) -> Arc<InstancePool> {
    let caps = steps
        .iter()
        .map(|step| step.num_workers.max(1) as usize)
        .collect();
    let pool = Arc::new(InstancePool::new(caps));
    runtime.register_pool(&pool);
    pool
}

impl std::fmt::Debug for Workflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflow")
            .field("name", &self.def.options.name)
            .field("steps", &self.def.steps)
            .finish_non_exhaustive()
    }
}

impl Workflow {
    /// Assembles the workflow a manifest describes from its components,
    /// loaded in the manifest's order. `file` is the manifest's path: grants
    /// resolve against its folder and errors name it; `default_name` names
    /// the workflow when the manifest does not.
    pub fn from_manifest(
        runtime: &Runtime,
        manifest: &Manifest,
        file: &Path,
        default_name: String,
        components: Vec<StepComponent>,
    ) -> Result<Self> {
        let base = file.parent().unwrap_or(Path::new("."));
        let timeout = manifest
            .run_timeout()
            .map_err(|err| WorkflowError::Configuration(format!("{}: {err}", file.display())))?;
        let step_names: Vec<String> = components
            .iter()
            .flat_map(|c| c.info.steps.iter().map(|s| s.name.clone()))
            .collect();
        let grants = crate::grants::resolve(&manifest.resources, base, &step_names).map_err(
            |err| match err {
                WorkflowError::Configuration(m) => {
                    WorkflowError::Configuration(format!("{}: {m}", file.display()))
                }
                other => other,
            },
        )?;
        let options = WorkflowOptions {
            name: manifest.name.clone().unwrap_or(default_name),
            timeout,
            disable_validation: manifest.disable_validation,
            num_concurrent_runs: manifest.num_concurrent_runs,
            step_overrides: manifest.steps.clone(),
            limits: manifest.limits.resolve(),
            grants,
            reuse_instances: manifest.reuse_instances.unwrap_or(true),
        };
        Self::from_components(runtime, components, options)
    }

    /// Assembles a workflow from loaded components, then validates it unless
    /// `options.disable_validation`.
    pub fn from_components(
        runtime: &Runtime,
        components: Vec<StepComponent>,
        options: WorkflowOptions,
    ) -> Result<Self> {
        let def = assemble(runtime.clone(), components, options)?;
        if !def.options.disable_validation {
            crate::validate::validate(&def)?;
        }
        let timeout = def.options.timeout;
        Ok(Self {
            def: Arc::new(def),
            timeout,
        })
    }

    /// The workflow's name.
    pub fn name(&self) -> &str {
        &self.def.options.name
    }

    /// The same workflow with another run timeout (`None` for none).
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The run timeout.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The workflow's settings.
    pub fn options(&self) -> &WorkflowOptions {
        &self.def.options
    }

    /// The steps, in declaration order.
    pub fn steps(&self) -> &[StepConfig] {
        &self.def.steps
    }

    /// The event types, by name.
    pub fn events(&self) -> &BTreeMap<String, EventTypeInfo> {
        &self.def.events
    }

    /// The components the steps come from.
    pub fn components(&self) -> &[StepComponent] {
        &self.def.components
    }

    /// The typed state's JSON Schema, if the workflow declares one.
    pub fn state_schema(&self) -> Option<&serde_json::Value> {
        self.def.state_type.as_ref().map(|t| t.schema.source())
    }

    /// The name of the start event type.
    pub fn start_event(&self) -> &str {
        self.def.start_event()
    }

    /// What identifies the workflow in a snapshot: its name and the SHA-256
    /// of each component.
    pub fn identity(&self) -> crate::snapshot::WorkflowIdentity {
        crate::snapshot::WorkflowIdentity {
            name: self.def.options.name.clone(),
            components: self
                .def
                .components
                .iter()
                .map(|c| c.digest.clone())
                .collect(),
        }
    }

    /// Checks an event as one sent in from outside would be: its payload
    /// must be a JSON object matching its type's schema.
    pub fn check_event(&self, event: &Event) -> Result<()> {
        self.def.check_payload(event)
    }

    /// Runs the graph validation again (it already ran at load unless
    /// disabled).
    pub fn validate(&self) -> Result<()> {
        crate::validate::validate(&self.def)
    }

    /// How many idle step instances the workflow keeps for its next calls
    /// (always 0 when `reuse_instances` is off: runs then keep their own).
    pub fn idle_instances(&self) -> usize {
        self.def.pool.as_ref().map_or(0, |pool| pool.len())
    }
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
    /// run) against every schema published for its type.
    pub(crate) fn check_payload(&self, event: &Event) -> Result<()> {
        let payload = event.payload()?;
        if !payload.is_object() {
            return Err(WorkflowError::InvalidEvent(format!(
                "the payload of a {} must be a JSON object",
                event.name
            )));
        }
        let declared = self.events.get(&event.name).map(|info| &info.declared);
        for (_, schema) in declared.into_iter().flatten() {
            schema.check(&payload).map_err(|problems| {
                WorkflowError::InvalidEvent(format!(
                    "the {} does not match its schema: {problems}",
                    event.name
                ))
            })?;
        }
        Ok(())
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
}

fn kind_from_wit(kind: WitEventKind) -> EventKind {
    match kind {
        WitEventKind::Plain => EventKind::Plain,
        WitEventKind::Start => EventKind::Start,
        WitEventKind::Stop => EventKind::Stop,
        WitEventKind::InputRequired => EventKind::InputRequired,
        WitEventKind::HumanResponse => EventKind::HumanResponse,
    }
}

fn assemble(
    runtime: Runtime,
    components: Vec<StepComponent>,
    options: WorkflowOptions,
) -> Result<WorkflowDef> {
    let mut steps = Vec::new();
    let mut step_index = HashMap::new();
    let mut events: BTreeMap<String, EventTypeInfo> = BTreeMap::new();
    let mut state_type: Option<(StateType, String)> = None;

    for (index, component) in components.iter().enumerate() {
        let origin = component.path.display().to_string();
        for event in &component.info.events {
            let kind = kind_from_wit(event.kind);
            if let Some(builtin) = EventKind::of_builtin(&event.name)
                && builtin != kind
            {
                return Err(WorkflowError::Configuration(format!(
                    "{origin} declares the built-in event {} as {kind:?}",
                    event.name
                )));
            }
            let schema = serde_json::from_str(&event.schema)
                .map_err(|err| err.to_string())
                .and_then(|schema| Schema::compile(&format!("event {}", event.name), &schema))
                .map_err(|err| WorkflowError::Load(format!("{origin}: {err}")))?;
            match events.get_mut(&event.name) {
                Some(known) if known.kind != kind => {
                    return Err(WorkflowError::Configuration(format!(
                        "event {} is declared as {:?} by one component and as {kind:?} by {origin}",
                        event.name, known.kind
                    )));
                }
                Some(known) => {
                    match known
                        .declared
                        .iter_mut()
                        .find(|(_, same)| same.source() == schema.source())
                    {
                        Some((owners, _)) => owners.push(index),
                        None => known.declared.push((vec![index], Arc::new(schema))),
                    }
                }
                None => {
                    let schema = Arc::new(schema);
                    events.insert(
                        event.name.clone(),
                        EventTypeInfo {
                            name: event.name.clone(),
                            kind,
                            schema: Some(schema.clone()),
                            declared: vec![(vec![index], schema)],
                        },
                    );
                }
            }
        }
        if let Some(spec) = &component.info.state {
            let parse = |what: &str, text: &str| {
                serde_json::from_str(text).map_err(|err| {
                    WorkflowError::Load(format!("{origin}: the state {what} is not JSON: {err}"))
                })
            };
            let declared = StateType::new(
                parse("schema", &spec.schema)?,
                parse("defaults", &spec.defaults)?,
            )
            .map_err(|err| WorkflowError::Load(format!("{origin}: {err}")))?;
            match &state_type {
                Some((existing, first)) if existing.schema.source() != declared.schema.source() => {
                    return Err(WorkflowError::Configuration(format!(
                        "{first} and {origin} declare different state types; a workflow has one state"
                    )));
                }
                Some(_) => {}
                None => state_type = Some((declared, origin.clone())),
            }
        }
        for spec in &component.info.steps {
            if step_index.contains_key(&spec.name) {
                return Err(WorkflowError::Validation(format!(
                    "A step {} is already part of this workflow, please choose another name. ({origin} declares it again)",
                    spec.name
                )));
            }
            step_index.insert(spec.name.clone(), steps.len());
            steps.push(StepConfig {
                name: spec.name.clone(),
                component: index,
                accepts: spec.accepts.clone(),
                emits: spec.emits.clone(),
                num_workers: spec.num_workers,
                retry: spec.retry.clone().map(RetryPolicy::from),
                timeout: spec
                    .timeout_ms
                    .map(Duration::from_millis)
                    .or(options.limits.step_timeout),
                limits: StepLimits {
                    memory: options.limits.memory,
                    fuel: options.limits.fuel,
                },
                grants: options.grants.get(&spec.name).cloned().unwrap_or_default(),
            });
        }
    }

    if let Some(unknown) = options
        .grants
        .keys()
        .find(|name| !step_index.contains_key(*name))
    {
        return Err(WorkflowError::Configuration(format!(
            "grants are given to step `{unknown}`, which no component declares"
        )));
    }
    for (name, step_override) in &options.step_overrides {
        let Some(&index) = step_index.get(name) else {
            let known: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
            return Err(WorkflowError::Configuration(format!(
                "the manifest overrides step `{name}`, which no component declares (steps: {})",
                known.join(", ")
            )));
        };
        let step = &mut steps[index];
        if let Some(n) = step_override.num_workers {
            step.num_workers = n;
        }
        if let Some(timeout) = step_override.timeout {
            step.timeout = Some(timeout);
        }
        if let Some(retry) = &step_override.retry {
            step.retry = Some(retry.clone().into());
        }
        if let Some(memory) = step_override.memory {
            step.limits.memory = memory;
        }
        if let Some(fuel) = step_override.fuel {
            step.limits.fuel = Some(fuel);
        }
    }

    for step in &steps {
        for name in step.accepts.iter().chain(&step.emits) {
            if !events.contains_key(name) {
                events.insert(
                    name.clone(),
                    EventTypeInfo {
                        name: name.clone(),
                        kind: EventKind::of_builtin(name).unwrap_or(EventKind::Plain),
                        schema: None,
                        declared: Vec::new(),
                    },
                );
            }
        }
    }

    let routes = routes_of(&steps);

    if let crate::engine::InstanceAllocator::Pooling { max_memory, .. } = runtime.allocator()
        && let Some(step) = steps.iter().find(|s| s.limits.memory > max_memory)
    {
        return Err(WorkflowError::Configuration(format!(
            "step `{}` may use {} of memory, more than the runtime's pooling allocator gives an instance ({max_memory})",
            step.name, step.limits.memory
        )));
    }
    if let Some(0) = options.num_concurrent_runs {
        return Err(WorkflowError::Validation(
            "num_concurrent_runs must be an integer greater than 0 or None".into(),
        ));
    }
    let run_slots = options
        .num_concurrent_runs
        .map(|n| Arc::new(Semaphore::new(n)));
    let pool = options.reuse_instances.then(|| new_pool(&runtime, &steps));
    Ok(WorkflowDef {
        pool,
        runtime,
        options,
        components,
        steps,
        step_index,
        events,
        routes,
        state_type: state_type.map(|(t, _)| t),
        run_slots,
    })
}
