//! The hostile-guest suite: each attack of `examples-guests/hostile` runs
//! beside a well-behaved run of `joke`. The attack's run must end with an
//! error naming the cause, the host must stay up, and the joke must come out
//! right.

use serde_json::json;
use wflow_host::WorkflowError;
use wflow_tests::workflow;

/// Runs `mode` beside a joke run; returns the hostile run's error.
async fn attack(mode: &str, timeout_secs: f64) -> WorkflowError {
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

fn step_failure(err: &WorkflowError) -> (&str, &str) {
    match err {
        WorkflowError::StepFailed { step, message } => (step, message),
        other => panic!("expected a step failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_is_stopped_by_its_step_timeout() {
    let err = attack("infinite_loop", 30.0).await;
    assert_eq!(
        step_failure(&err),
        (
            "spin",
            "StepTimeoutError: step `spin` did not finish within 200ms"
        )
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
async fn a_stack_overflow_traps() {
    let err = attack("stack_overflow", 30.0).await;
    assert_eq!(
        step_failure(&err),
        ("attack", "WasmTrap: wasm trap: call stack exhausted")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_hits_the_memory_limit() {
    let err = attack("memory_bomb", 30.0).await;
    let (step, message) = step_failure(&err);
    assert_eq!(step, "attack");
    assert!(
        message.starts_with("MemoryLimitExceeded: the instance tried to grow its memory to "),
        "{message}"
    );
    assert!(
        message.ends_with("over its limit of 256.0 MiB (limits.memory)"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_traps() {
    let err = attack("unreachable", 30.0).await;
    assert_eq!(
        step_failure(&err),
        (
            "attack",
            "WasmTrap: wasm trap: wasm `unreachable` instruction executed"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_traps_and_its_message_is_kept() {
    let err = attack("panic", 30.0).await;
    let (step, message) = step_failure(&err);
    assert_eq!(step, "attack");
    assert!(
        message.starts_with("WasmTrap: wasm trap: wasm `unreachable` instruction executed"),
        "{message}"
    );
    assert!(message.contains("hostile guest panics"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_event_type_is_refused() {
    let err = attack("undeclared", 30.0).await;
    assert_eq!(
        step_failure(&err).1,
        "UndeclaredEventError: step `attack` emitted a Ghost event, which it does not declare (it emits: StopEvent, Attack)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_in_an_event_is_refused() {
    let err = attack("malformed_json", 30.0).await;
    let message = step_failure(&err).1;
    assert!(
        message.starts_with("InvalidEventError: the payload of a StopEvent must be a JSON object:"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_event_exceeds_the_event_size_limit() {
    let err = attack("huge_event", 30.0).await;
    assert_eq!(err.kind(), "WorkflowLimitError");
    assert_eq!(
        err.to_string(),
        "EventTooLarge: a StopEvent event of 100.0 MiB exceeds limits.max_event_bytes (16.0 MiB)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_environment_are_out_of_reach_without_a_grant() {
    let hostile = workflow("hostile").await;
    let output = hostile
        .run(json!({"mode": "read_files"}))
        .unwrap()
        .result()
        .await
        .unwrap();
    let attempts = output.result.as_array().unwrap();
    assert_eq!(attempts.len(), 5);
    for attempt in attempts {
        let text = attempt.as_str().unwrap();
        assert!(!text.contains("READ"), "a file was read: {text}");
        assert!(text.contains("No such file or directory"), "{text}");
    }
    let output = hostile
        .run(json!({"mode": "env"}))
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(output.result, json!([]), "no environment variable leaks in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_a_missing_step_fails_the_step() {
    let err = attack("send_nowhere", 30.0).await;
    assert_eq!(
        step_failure(&err).1,
        "WorkflowRuntimeError: Step nowhere does not exist"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_nobody_answers_ends_at_the_run_timeout() {
    let err = attack("wait_forever", 0.5).await;
    assert_eq!(err.kind(), "WorkflowTimeoutError");
    assert_eq!(
        err.to_string(),
        "Operation timed out after 0.5 seconds. Currently active steps: wait"
    );
}
