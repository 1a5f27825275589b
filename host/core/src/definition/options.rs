//! A workflow's settings, as the seed's `Workflow(...)` arguments.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::grants::Grants;
use crate::limits::{DEFAULT_TIMEOUT, Limits};
use crate::manifest::StepOverride;

/// Settings of a workflow, as the seed's `Workflow(...)` arguments.
#[derive(Debug, Clone)]
pub struct WorkflowOptions {
    /// The workflow's name.
    pub name: String,
    /// What messages about the workflow's shape call it, when the name is
    /// chosen for the whole workflow (a manifest's `name`). `None` calls it
    /// by the name its components declare (a Python or JavaScript class,
    /// as the reference calls a workflow by its class), else by `name`.
    pub display_name: Option<String>,
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
            display_name: None,
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
