//! Guests that never stop: step and run timeouts end them, fuel meters them,
//! and they do not hold up other runs.

use std::time::Duration;

use serde_json::json;
use wflow_core::{FailureCause, LimitsSpec};
use wflow_tests::{step_failure, workflow};

use crate::{assert_error, assert_failure, attack, error_of, output_of, with_limits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_is_stopped_by_its_step_timeout() {
    let err = attack("infinite_loop", 30.0).await;
    assert_failure(
        &err,
        "spin",
        "StepTimeoutError",
        "step `spin` did not finish within 200ms",
        FailureCause::Timeout,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_does_not_hold_up_a_hundred_other_runs() {
    let hostile = workflow("hostile").await;
    let joke = workflow("joke").await;
    let spin = hostile.run(json!({"mode": "infinite_loop"})).unwrap();
    let jokes: Vec<_> = (0..100)
        .map(|i| joke.run(json!({"topic": format!("topic {i}")})).unwrap())
        .collect();
    for (i, handler) in jokes.iter().enumerate() {
        let result = handler.result().await.unwrap().result;
        assert!(result.as_str().unwrap().contains(&format!("topic {i}")));
    }
    let err = spin.result().await.unwrap_err();
    assert_eq!(step_failure(&err).0, "spin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_nobody_answers_ends_at_the_run_timeout() {
    let err = attack("wait_forever", 1.0).await;
    assert_error(
        &err,
        "WorkflowTimeoutError",
        // As in the reference, a step waiting for an answer is not active.
        "Operation timed out after 1.0 seconds. No steps active",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_meters_a_step_deterministically() {
    let hostile = with_limits(
        "hostile",
        LimitsSpec {
            fuel: Some(1_000_000),
            ..Default::default()
        },
    )
    .await;
    let err = error_of(&hostile, json!({"mode": "infinite_loop"})).await;
    assert_failure(
        &err,
        "spin",
        "FuelExhausted",
        "step `spin` burned all of its fuel (1000000 units, limits.fuel)",
        FailureCause::Limit,
    );
    // Well-behaved steps run within the same budget.
    let output = output_of(&hostile, json!({"mode": "env"})).await;
    assert_eq!(output, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_step_timeout_applies_to_steps_without_their_own() {
    let hostile = with_limits(
        "hostile",
        LimitsSpec {
            step_timeout: Some(Duration::from_millis(150)),
            ..Default::default()
        },
    )
    .await;
    let wait = hostile.steps().iter().find(|s| s.name == "wait").unwrap();
    assert_eq!(wait.timeout, Some(Duration::from_millis(150)));
    let spin = hostile.steps().iter().find(|s| s.name == "spin").unwrap();
    assert_eq!(
        spin.timeout,
        Some(Duration::from_millis(200)),
        "a step's own timeout wins"
    );
    // A wait does not count against it (the call ends at the wait, as in
    // the reference): a step that sleeps does.
    let ticker = with_limits(
        "ticker",
        LimitsSpec {
            step_timeout: Some(Duration::from_millis(150)),
            ..Default::default()
        },
    )
    .await;
    let err = error_of(&ticker, json!({"laps": 1, "pause_ms": 60_000})).await;
    assert_failure(
        &err,
        "tick",
        "StepTimeoutError",
        "step `tick` did not finish within 150ms",
        FailureCause::Timeout,
    );
}
