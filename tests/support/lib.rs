//! Helpers of the end-to-end tests: build the guest components once, share
//! one runtime, load workflows.

pub mod props;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use wflow_core::{Runtime, StepComponent, StepFailure, Workflow, WorkflowError, WorkflowOptions};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds every guest in `examples-guests/` (once per test binary) and
/// returns the folder holding the components.
pub fn guests() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let guests = repo_root().join("examples-guests");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                wflow_build::GUEST_TARGET,
                "--workspace",
                "--manifest-path",
            ])
            .arg(guests.join("Cargo.toml"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the guest components failed");
        guests
            .join("target")
            .join(wflow_build::GUEST_TARGET)
            .join("release")
    })
}

/// The component built from guest crate `name`.
pub fn component_path(name: &str) -> PathBuf {
    guests().join(format!("{}.wasm", name.replace('-', "_")))
}

/// One runtime for the whole test binary.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("runtime"))
}

/// Loads the component built from guest crate `name`.
pub async fn component(name: &str) -> StepComponent {
    StepComponent::load(runtime(), &component_path(name))
        .await
        .unwrap_or_else(|err| panic!("loading {name}: {err}"))
}

/// Loads guest crate `name` as a one-component workflow.
pub async fn workflow(name: &str) -> Workflow {
    wflow_build::load_workflow(runtime(), &component_path(name))
        .await
        .unwrap_or_else(|err| panic!("loading {name}: {err}"))
}

/// Loads guest crate `name` with custom options.
pub async fn workflow_with(name: &str, options: WorkflowOptions) -> wflow_core::Result<Workflow> {
    Workflow::from_components(runtime(), vec![component(name).await], options)
}

/// The folder of example guest `name` (a source folder, any language).
pub fn example_dir(name: &str) -> PathBuf {
    repo_root().join("examples-guests").join(name)
}

/// Loads the guest source folder or manifest `examples-guests/<name>`,
/// building what it needs (Rust with cargo, Python with componentize-py,
/// JavaScript with componentize-js; cached between test runs).
pub async fn source_workflow(name: &str) -> Workflow {
    wflow_build::load_workflow(runtime(), &example_dir(name))
        .await
        .unwrap_or_else(|err| panic!("loading {name}: {err}"))
}

/// A step failure's step and its error as `Kind: message` (with `(after N
/// attempts)` past the first); panics on any other error.
pub fn step_failure(err: &WorkflowError) -> (&str, String) {
    let failure = failure(err);
    let mut text = format!("{}: {}", failure.kind, failure.message);
    if failure.attempts > 1 {
        text.push_str(&format!(" (after {} attempts)", failure.attempts));
    }
    (&failure.step, text)
}

/// The step failure `err` is; panics on any other error.
pub fn failure(err: &WorkflowError) -> &StepFailure {
    match err {
        WorkflowError::StepFailed(failure) => failure,
        other => panic!("expected a step failure, got {other:?}"),
    }
}

/// The result of a run of `workflow` on `input`, which must succeed.
pub async fn output_of(workflow: &Workflow, input: serde_json::Value) -> serde_json::Value {
    workflow.run(input).unwrap().result().await.unwrap().result
}

/// The error of a run of `workflow` on `input`, which must fail.
pub async fn error_of(workflow: &Workflow, input: serde_json::Value) -> WorkflowError {
    workflow.run(input).unwrap().result().await.unwrap_err()
}
