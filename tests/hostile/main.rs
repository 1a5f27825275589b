//! The hostile-guest suite: each attack of `examples-guests/hostile` runs
//! beside a well-behaved run of `joke`. The attack's run must end with an
//! error naming the cause, the host must stay up, and the joke must come out
//! right. One test binary, a module per job; the helpers every module uses
//! are here.
//!
//! - `traps`: guests that crash: stack overflow, `unreachable`, a panic.
//! - `runaway`: guests that never stop: step and run timeouts, fuel, and
//!   fairness to other runs.
//! - `protocol`: guests that break the step protocol: undeclared or malformed
//!   events, sends to a missing step.
//! - `limits`: guests that take too much: memory, event size, stream buffer,
//!   state size, events per run, collect buffers.
//! - `sandbox`: what a guest can reach (files, directories, configuration,
//!   environment) and where its output goes.

mod limits;
mod protocol;
mod runaway;
mod sandbox;
mod traps;

use serde_json::json;
use wflow_core::{FailureCause, LimitsSpec, Workflow, WorkflowError, WorkflowOptions};
use wflow_tests::workflow;

/// Runs `mode` beside a joke run; returns the hostile run's error.
pub async fn attack(mode: &str, timeout_secs: f64) -> WorkflowError {
    let hostile = workflow("hostile")
        .await
        .with_timeout(Some(std::time::Duration::from_secs_f64(timeout_secs)));
    let joke = workflow("joke").await;
    let attack = hostile.run(json!({ "mode": mode })).unwrap();
    let neighbour = joke
        .run(json!({"topic": format!("{mode} neighbours")}))
        .unwrap();
    let result = neighbour
        .result()
        .await
        .expect("the well-behaved run completes");
    assert!(
        result
            .result
            .as_str()
            .unwrap()
            .contains(&format!("{mode} neighbours"))
    );
    attack.result().await.expect_err("the attack must fail")
}

pub use wflow_tests::{error_of, output_of};

/// Guest `name` as a workflow with other run limits.
pub async fn with_limits(name: &str, limits: LimitsSpec) -> Workflow {
    let mut options = WorkflowOptions::named(name);
    options.limits = limits.resolve();
    wflow_tests::workflow_with(name, options).await.unwrap()
}

/// Asserts that `err` is of `kind` and reads `message`.
pub fn assert_error(err: &WorkflowError, kind: &str, message: &str) {
    assert_eq!(err.kind(), kind);
    assert_eq!(err.to_string(), message);
}

/// Asserts that `err` is step `step` failing with an error of `kind` saying
/// `message`, for `cause`.
pub fn assert_failure(
    err: &WorkflowError,
    step: &str,
    kind: &str,
    message: &str,
    cause: FailureCause,
) {
    let failure = wflow_tests::failure(err);
    assert_eq!(
        (
            failure.step.as_str(),
            failure.kind.as_str(),
            failure.message.as_str(),
            failure.cause
        ),
        (step, kind, message, cause)
    );
}
