//! A loaded workflow: its definition and the components that run its steps.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::bindings::ComponentInfo;
use crate::component::StepComponent;
use crate::definition::validate::validate;
use crate::definition::{
    ComponentOrigin, EventTypeInfo, StepConfig, WorkflowDef, WorkflowOptions, assemble,
};
use crate::engine::InstanceAllocator;
use crate::error::{Result, WorkflowError};
use crate::event::Event;
use crate::limits::LimitCaps;
use crate::manifest::Manifest;
use crate::run::pool::InstancePool;
use crate::runtime::Runtime;
use crate::slots::SlotOwner;
use crate::snapshot::WorkflowIdentity;

/// A loaded workflow, ready to run any number of times. Cheap to clone.
#[derive(Clone)]
pub struct Workflow {
    pub(crate) def: Arc<WorkflowDef>,
    pub(crate) code: Arc<StepCode>,
    /// The run timeout (the options' unless changed with `with_timeout`).
    pub(crate) timeout: Option<Duration>,
}

/// What runs a workflow's steps: the runtime, the loaded components, the
/// idle instances its runs share and the concurrent-run limit.
pub(crate) struct StepCode {
    pub(crate) runtime: Runtime,
    pub(crate) components: Arc<[StepComponent]>,
    /// Free run slots, with `num_concurrent_runs`.
    pub(crate) run_slots: Option<Arc<Semaphore>>,
    /// Idle instances shared by the runs, when instances are reused across
    /// runs.
    shared_pool: Option<Arc<InstancePool>>,
    /// Whose instance slots the workflow's instances hold: one owner for
    /// all of its runs, whatever pool they use.
    slot_owner: SlotOwner,
}

impl StepCode {
    /// Code for `def`'s runs: an owner of instance slots of its own, its own
    /// concurrent-run slots and (when instances are reused) its own pool.
    fn new(runtime: &Runtime, components: Arc<[StepComponent]>, def: &WorkflowDef) -> Self {
        let run_slots = def
            .options
            .num_concurrent_runs
            .map(|n| Arc::new(Semaphore::new(n)));
        let mut code = Self {
            runtime: runtime.clone(),
            components,
            run_slots,
            shared_pool: None,
            slot_owner: runtime.core().slot_owner(),
        };
        if def.options.reuse_instances {
            code.shared_pool = Some(code.new_pool(def));
        }
        code
    }

    /// The instance pool a new run uses: the workflow's, or a new one.
    pub(crate) fn run_pool(&self, def: &WorkflowDef) -> Arc<InstancePool> {
        match &self.shared_pool {
            Some(pool) => pool.clone(),
            None => self.new_pool(def),
        }
    }

    /// A pool keeping up to `num_workers` idle instances of each step,
    /// registered with the engine so that a full allocator can reclaim
    /// them.
    fn new_pool(&self, def: &WorkflowDef) -> Arc<InstancePool> {
        let steps = def
            .steps
            .iter()
            .map(|step| {
                let pre = self.components[step.component].pre.clone();
                (pre, step.num_workers.max(1) as usize)
            })
            .collect();
        let pool = Arc::new(InstancePool::new(
            self.runtime.core().clone(),
            self.slot_owner,
            steps,
        ));
        let weak: Weak<InstancePool> = Arc::downgrade(&pool);
        self.runtime.core().register_pool(weak);
        pool
    }
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
            display_name: manifest.name.clone(),
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
        let origins: Vec<(ComponentOrigin, &ComponentInfo)> = components
            .iter()
            .map(|c| {
                let origin = ComponentOrigin {
                    path: c.path.clone(),
                    digest: c.digest.clone(),
                };
                (origin, &c.info)
            })
            .collect();
        let def = assemble(&origins, options)?;
        if !def.options.disable_validation {
            validate(&def)?;
        }
        if let InstanceAllocator::Pooling { max_memory, .. } = runtime.allocator()
            && let Some(step) = def.steps.iter().find(|s| s.limits.memory > max_memory)
        {
            return Err(WorkflowError::Configuration(format!(
                "step `{}` may use {} of memory, more than the runtime's pooling allocator gives an instance ({max_memory})",
                step.name, step.limits.memory
            )));
        }
        if def.options.limits.max_instances == Some(0) {
            return Err(WorkflowError::Configuration(
                "limits.max_instances is 0: no step could ever run (give at least 1)".into(),
            ));
        }
        let timeout = def.options.timeout;
        let code = StepCode::new(runtime, components.into(), &def);
        Ok(Self {
            def: Arc::new(def),
            code: Arc::new(code),
            timeout,
        })
    }

    /// The same workflow with instances of its own: the compiled components
    /// are shared, but no idle instance, instance slot or concurrent-run
    /// slot is. Its instances are never handed to the original's runs nor
    /// the original's to its runs, and the instance pool is shared fairly
    /// between the two as between any two workflows: a server gives each
    /// tenant such a copy.
    pub fn with_own_instances(&self) -> Self {
        let code = StepCode::new(&self.code.runtime, self.code.components.clone(), &self.def);
        Self {
            def: self.def.clone(),
            code: Arc::new(code),
            timeout: self.timeout,
        }
    }

    /// The same workflow within `caps`: each step's memory and fuel, and the
    /// event, state and instance limits, lowered to the caps where they are
    /// above them (a limit already below stays). The instances are the
    /// workflow's own (as [`Workflow::with_own_instances`]), so that none
    /// made under the old limits serves a run under the new ones.
    pub fn with_capped_limits(&self, caps: &LimitCaps) -> Self {
        let mut def = (*self.def).clone();
        def.options.limits = caps.cap(&def.options.limits);
        for step in &mut def.steps {
            step.limits = caps.cap_step(&step.limits);
            step.timeout = caps.cap_timeout(step.timeout);
        }
        let code = StepCode::new(&self.code.runtime, self.code.components.clone(), &def);
        Self {
            def: Arc::new(def),
            code: Arc::new(code),
            timeout: caps.cap_run_timeout(self.timeout),
        }
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
        &self.code.components
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
    pub fn identity(&self) -> WorkflowIdentity {
        self.def.identity()
    }

    /// Checks an event as one sent in from outside is checked: its payload
    /// must be a JSON object matching its type's schema, once converted as
    /// pydantic's lax mode converts input (`"2"` to 2 where an integer is
    /// wanted). The event as a run would take it.
    pub fn admit_event(&self, event: Event) -> Result<Event> {
        self.def.admit_payload(event)
    }

    /// Runs the graph validation again (it already ran at load unless
    /// disabled).
    pub fn validate(&self) -> Result<()> {
        validate(&self.def)
    }

    /// The runtime the workflow's steps run on.
    pub fn runtime(&self) -> &Runtime {
        &self.code.runtime
    }

    /// How many idle step instances the workflow keeps for its next calls
    /// (always 0 when `reuse_instances` is off: runs then keep their own).
    pub fn idle_instances(&self) -> usize {
        self.code.shared_pool.as_ref().map_or(0, |pool| pool.len())
    }
}
