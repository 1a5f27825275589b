//! `workflow.toml`: a workflow assembled from one or more components, with
//! per-step overrides.
//!
//! ```toml
//! name = "joke"
//! timeout = "60s"              # or "none"; 45s when unset, as in the seed
//! num_concurrent_runs = 4      # optional
//! disable_validation = false   # optional
//! reuse_instances = true       # optional: idle step instances serve later runs
//!
//! [[components]]
//! path = "joke.wasm"           # a component, or a Rust guest crate folder
//!
//! [steps.critique]             # overrides of what the component declares
//! num_workers = 2
//! timeout = "5s"
//! retry = { max_attempts = 3, delay = "100ms", backoff = "exponential", jitter = 0.1 }
//! memory = "512MiB"            # this step's instances (limits.memory otherwise)
//! fuel = 1_000_000_000         # per call (limits.fuel otherwise)
//!
//! [limits]                     # every key optional; defaults in `Limits`
//! memory = "256MiB"
//! max_event_bytes = "16MiB"
//! max_events_per_run = 1_000_000
//! stream_buffer = 100_000
//! max_state_bytes = "16MiB"
//! max_collect_buffer = 100_000
//! max_stream_bytes = "256MiB"  # streamed by the steps, over a run's life
//! max_queued_bytes = "256MiB"  # sent and not yet taken by a step
//! max_instances = 100          # this workflow's instances alive at once
//! instance_wait = "30s"        # a call's wait for an instance slot
//! wait_in_place = "5m"         # a wait_for_event keeps its instance this long
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

use crate::error::{Result, WorkflowError};
use crate::grants::ResourceSpec;
use crate::limits::LimitsSpec;
use crate::retry::{Backoff, RetryPolicy};

/// A parsed `workflow.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The workflow's name (the folder's name when unset).
    pub name: Option<String>,
    /// The run timeout: a duration such as `"60s"`, or `"none"`.
    pub timeout: Option<String>,
    /// How many runs of the workflow may go on at once.
    pub num_concurrent_runs: Option<usize>,
    /// Skip the event-graph validation.
    #[serde(default)]
    pub disable_validation: bool,
    /// Whether idle step instances may serve later runs (true when unset);
    /// false gives every run new instances.
    pub reuse_instances: Option<bool>,
    /// The components whose steps make up the workflow.
    pub components: Vec<ComponentRef>,
    /// Per-step overrides, by step name.
    #[serde(default)]
    pub steps: BTreeMap<String, StepOverride>,
    /// Limits of every run and default limits of every step.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Capabilities granted to steps: directories, configuration, environment.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceSpec>,
}

/// A component of a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentRef {
    /// A `.wasm` component or a Rust guest crate folder, relative to the
    /// manifest.
    pub path: PathBuf,
}

/// Overrides of one step's declared settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepOverride {
    /// Concurrent workers.
    pub num_workers: Option<u32>,
    /// The longest one call may take, e.g. `"5s"`.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// The retry policy.
    pub retry: Option<RetrySpec>,
    /// The memory limit of the step's instances, e.g. `"512MiB"`.
    pub memory: Option<ByteSize>,
    /// The fuel limit of each call of the step.
    pub fuel: Option<u64>,
}

/// A retry policy as written in a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all (3 when unset).
    pub max_attempts: Option<u32>,
    /// Delay before the first retry (`"1s"` when unset).
    #[serde(default, with = "humantime_serde")]
    pub delay: Option<Duration>,
    /// `constant` (default) or `exponential`.
    #[serde(default)]
    pub backoff: Backoff,
    /// Growth factor of exponential backoff (2 when unset).
    pub multiplier: Option<f64>,
    /// Cap on every delay.
    #[serde(default, with = "humantime_serde")]
    pub max_delay: Option<Duration>,
    /// Stop retrying once this much time passed.
    #[serde(default, with = "humantime_serde")]
    pub max_elapsed: Option<Duration>,
    /// Randomise delays by up to this fraction.
    #[serde(default)]
    pub jitter: f64,
    /// Retry only errors of these kinds (error type names) ...
    #[serde(default)]
    pub retry_on: Vec<String>,
    /// ... or whose message contains one of these strings.
    #[serde(default)]
    pub retry_on_message: Vec<String>,
}

impl From<RetrySpec> for RetryPolicy {
    fn from(spec: RetrySpec) -> Self {
        Self {
            max_attempts: Some(spec.max_attempts.unwrap_or(3)),
            max_elapsed: spec.max_elapsed,
            delay: spec.delay.unwrap_or(Duration::from_secs(1)),
            backoff: spec.backoff,
            multiplier: spec.multiplier.unwrap_or(2.0),
            max_delay: spec.max_delay,
            jitter: spec.jitter.clamp(0.0, 1.0),
            retry_on: spec.retry_on,
            retry_on_message: spec.retry_on_message,
        }
    }
}

impl Manifest {
    /// Reads and parses a manifest file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::files::read_regular_text(
            path,
            "the manifest",
            crate::files::MAX_MANIFEST_BYTES,
        )?;
        Self::parse(&text)
            .map_err(|err| WorkflowError::Configuration(format!("{}: {err}", path.display())))
    }

    /// Parses a manifest's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|err| err.to_string())?;
        if manifest.components.is_empty() {
            return Err("a workflow needs at least one [[components]] entry".into());
        }
        manifest.run_timeout()?;
        Ok(manifest)
    }

    /// The run timeout: `Ok(None)` for `"none"`, the seed's 45 s when unset.
    pub fn run_timeout(&self) -> Result<Option<Duration>, String> {
        parse_timeout(self.timeout.as_deref())
    }
}

/// Parses a run timeout: a duration, `"none"`, or unset (45 s).
pub fn parse_timeout(text: Option<&str>) -> Result<Option<Duration>, String> {
    match text {
        None => Ok(Some(crate::limits::DEFAULT_TIMEOUT)),
        Some("none") => Ok(None),
        Some(text) => humantime::parse_duration(text)
            .map(Some)
            .map_err(|err| format!("timeout = {text:?}: {err} (write e.g. \"60s\" or \"none\")")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_manifest() {
        let manifest = Manifest::parse(
            r#"
            name = "joke"
            timeout = "60s"
            [[components]]
            path = "joke.wasm"
            [steps.critique]
            num_workers = 2
            timeout = "5s"
            retry = { max_attempts = 4, delay = "100ms", backoff = "exponential", jitter = 0.1 }
            "#,
        )
        .unwrap();
        assert_eq!(manifest.name.as_deref(), Some("joke"));
        assert_eq!(
            manifest.run_timeout().unwrap(),
            Some(Duration::from_secs(60))
        );
        let critique = &manifest.steps["critique"];
        assert_eq!(critique.num_workers, Some(2));
        let retry: RetryPolicy = critique.retry.clone().unwrap().into();
        assert_eq!(retry.max_attempts, Some(4));
        assert_eq!(retry.backoff, Backoff::Exponential);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let err = Manifest::parse("nme = \"x\"\n[[components]]\npath = \"a.wasm\"").unwrap_err();
        assert!(err.contains("unknown field `nme`"), "{err}");
        let err =
            Manifest::parse("timeout = \"soon\"\n[[components]]\npath = \"a.wasm\"").unwrap_err();
        assert!(err.contains("timeout = \"soon\""), "{err}");
        let err = Manifest::parse("name = \"x\"").unwrap_err();
        assert!(err.contains("components"), "{err}");
    }
}
