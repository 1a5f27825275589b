//! The hostile-guest suite: each attack of `examples-guests/hostile` runs
//! beside a well-behaved run of `joke`. The attack's run must end with an
//! error naming the cause, the host must stay up, and the joke must come out
//! right.

use serde_json::json;
use wflow_core::{FailureCause, WorkflowError};
use wflow_tests::{step_failure, workflow};

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
async fn a_stack_overflow_traps() {
    let err = attack("stack_overflow", 30.0).await;
    assert_failure(
        &err,
        "attack",
        "WasmTrap",
        "wasm trap: call stack exhausted",
        FailureCause::Trap,
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
    assert_failure(
        &err,
        "attack",
        "WasmTrap",
        "wasm trap: wasm `unreachable` instruction executed",
        FailureCause::Trap,
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
    let err = attack("wait_forever", 1.0).await;
    assert_eq!(err.kind(), "WorkflowTimeoutError");
    assert_eq!(
        err.to_string(),
        "Operation timed out after 1.0 seconds. Currently active steps: wait"
    );
}

/// A temporary folder with a granted `data/` directory, a secret beside it,
/// a symlink from inside `data/` to the secret, and a manifest granting
/// `data/` read-only to step `attack` (plus configuration and environment).
struct Sandbox {
    root: std::path::PathBuf,
}

impl Sandbox {
    fn new(name: &str, mode: &str) -> Self {
        let root = std::env::temp_dir().join(format!("wflow-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/ok.txt"), "granted").unwrap();
        std::fs::write(root.join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(root.join("secret.txt"), root.join("data/link")).unwrap();
        std::fs::write(
            root.join("workflow.toml"),
            format!(
                r#"
                name = "sandboxed"
                [[components]]
                path = "{}"
                [resources.data]
                dir = "data"
                mode = "{mode}"
                guest_path = "/data"
                steps = ["attack"]
                [resources.settings]
                config = {{ model = "small" }}
                steps = ["attack"]
                [resources.secrets]
                env = {{ API_KEY = "k-123" }}
                steps = ["attack"]
                "#,
                wflow_tests::component_path("hostile").display()
            ),
        )
        .unwrap();
        Self { root }
    }

    async fn workflow(&self) -> wflow_core::Workflow {
        wflow_build::load_workflow(wflow_tests::runtime(), &self.root.join("workflow.toml"))
            .await
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_directory_is_readable_and_nothing_outside_it_is() {
    let sandbox = Sandbox::new("read", "read-only");
    let workflow = sandbox.workflow().await;
    let secret = sandbox.root.join("secret.txt").display().to_string();
    let paths = [
        "/data/ok.txt",
        "/data/../secret.txt",
        "/data/link",
        secret.as_str(),
        "/etc/passwd",
    ];
    let output = workflow
        .run(json!({"mode": "read_paths", "paths": paths}))
        .unwrap()
        .result()
        .await
        .unwrap();
    let results: Vec<&str> = output
        .result
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(results[0], "/data/ok.txt: READ 7 bytes");
    for escaped in &results[1..] {
        assert!(
            !escaped.contains("READ"),
            "escaped the granted directory: {escaped}"
        );
    }
    assert!(
        results[1].contains("Operation not permitted") || results[1].contains("No such file"),
        "{}",
        results[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_grant_refuses_writes_and_a_read_write_grant_allows_them() {
    let sandbox = Sandbox::new("ro", "read-only");
    let output = sandbox
        .workflow()
        .await
        .run(json!({"mode": "write_paths", "paths": ["/data/new.txt", "/data/../escape.txt"]}))
        .unwrap()
        .result()
        .await
        .unwrap();
    for result in output.result.as_array().unwrap() {
        assert!(!result.as_str().unwrap().contains("WROTE"), "{result}");
    }
    assert!(!sandbox.root.join("data/new.txt").exists());
    assert!(!sandbox.root.join("escape.txt").exists());

    let sandbox = Sandbox::new("rw", "read-write");
    let output = sandbox
        .workflow()
        .await
        .run(json!({"mode": "write_paths", "paths": ["/data/new.txt", "/data/../escape.txt"]}))
        .unwrap()
        .result()
        .await
        .unwrap();
    let results = output.result.as_array().unwrap();
    assert_eq!(results[0], "/data/new.txt: WROTE");
    assert!(
        !results[1].as_str().unwrap().contains("WROTE"),
        "{}",
        results[1]
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.root.join("data/new.txt")).unwrap(),
        "written by a guest"
    );
    assert!(!sandbox.root.join("escape.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_and_environment_reach_only_the_granted_step() {
    let sandbox = Sandbox::new("config", "read-only");
    let output = sandbox
        .workflow()
        .await
        .run(json!({"mode": "config"}))
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(
        output.result,
        json!({"model": "small", "missing": null, "env": [["API_KEY", "k-123"]]})
    );
    // Without the manifest, the same step sees nothing.
    let output = workflow("hostile")
        .await
        .run(json!({"mode": "config"}))
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(
        output.result,
        json!({"model": null, "missing": null, "env": []})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_for_an_unknown_step_or_a_missing_directory_is_refused() {
    let sandbox = Sandbox::new("bad", "read-only");
    let manifest = sandbox.root.join("workflow.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("dir = \"data\"", "dir = \"nope\"")).unwrap();
    let err = wflow_build::load_workflow(wflow_tests::runtime(), &manifest)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowConfigurationError");
    assert!(
        err.to_string().contains("resource `data`: directory"),
        "{err}"
    );
    std::fs::write(
        &manifest,
        text.replacen("steps = [\"attack\"]", "steps = [\"ghost\"]", 1),
    )
    .unwrap();
    let err = wflow_build::load_workflow(wflow_tests::runtime(), &manifest)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("grants step `ghost`, which no component declares"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_output_is_captured_with_the_step_name() {
    let handler = workflow("hostile")
        .await
        .run(json!({"mode": "print"}))
        .unwrap();
    handler.result().await.unwrap();
    let (entries, dropped) = handler.logs();
    assert_eq!(dropped, 0);
    let texts: Vec<(String, wflow_core::LogStream, String)> = entries
        .into_iter()
        .map(|e| (e.step, e.stream, e.text))
        .collect();
    assert!(
        texts.contains(&(
            "attack".into(),
            wflow_core::LogStream::Stdout,
            "hello from the guest\n".into()
        )),
        "{texts:?}"
    );
    assert!(
        texts.contains(&(
            "attack".into(),
            wflow_core::LogStream::Stderr,
            "a warning from the guest\n".into()
        )),
        "{texts:?}"
    );
}

/// The hostile workflow with other run limits.
async fn hostile_with(limits: wflow_core::LimitsSpec) -> wflow_core::Workflow {
    let mut options = wflow_core::WorkflowOptions::named("hostile");
    options.limits = limits.resolve();
    wflow_tests::workflow_with("hostile", options)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_meters_a_step_deterministically() {
    let hostile = hostile_with(wflow_core::LimitsSpec {
        fuel: Some(1_000_000),
        ..Default::default()
    })
    .await;
    let err = hostile
        .run(json!({"mode": "infinite_loop"}))
        .unwrap()
        .result()
        .await
        .unwrap_err();
    assert_failure(
        &err,
        "spin",
        "FuelExhausted",
        "step `spin` burned all of its fuel (1000000 units, limits.fuel)",
        FailureCause::Limit,
    );
    // Well-behaved steps run within the same budget.
    let output = hostile
        .run(json!({"mode": "env"}))
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(output.result, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_streamed_events_hits_the_stream_buffer() {
    let hostile = hostile_with(wflow_core::LimitsSpec {
        stream_buffer: Some(10),
        ..Default::default()
    })
    .await;
    let err = hostile
        .run(json!({"mode": "flood_stream"}))
        .unwrap()
        .result()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowLimitError");
    assert_eq!(
        err.to_string(),
        "StreamBufferFull: 10 streamed events wait unread (limits.stream_buffer)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_state_fails_the_run() {
    let hostile = hostile_with(wflow_core::LimitsSpec {
        max_state_bytes: Some(bytesize::ByteSize::kib(64)),
        ..Default::default()
    })
    .await;
    let err = hostile
        .run(json!({"mode": "big_state"}))
        .unwrap()
        .result()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowLimitError");
    assert!(
        err.to_string()
            .starts_with("StateTooLarge: the state would take 1.0 MiB serialized"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_per_run_and_collect_buffers_are_bounded() {
    let mut options = wflow_core::WorkflowOptions::named("fanout");
    options.limits = wflow_core::LimitsSpec {
        max_events_per_run: Some(50),
        ..Default::default()
    }
    .resolve();
    let fanout = wflow_tests::workflow_with("fanout", options).await.unwrap();
    let err = fanout
        .run(json!({"n": 100}))
        .unwrap()
        .result()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "TooManyEvents: the run routed more than 50 events (limits.max_events_per_run)"
    );

    let mut options = wflow_core::WorkflowOptions::named("fanout");
    options.limits = wflow_core::LimitsSpec {
        max_collect_buffer: Some(10),
        ..Default::default()
    }
    .resolve();
    let fanout = wflow_tests::workflow_with("fanout", options).await.unwrap();
    let err = fanout
        .run(json!({"n": 100}))
        .unwrap()
        .result()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowLimitError");
    assert_eq!(
        err.to_string(),
        "CollectBufferFull: collect buffer `default` already holds 10 events (limits.max_collect_buffer)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_step_timeout_applies_to_steps_without_their_own() {
    let hostile = hostile_with(wflow_core::LimitsSpec {
        step_timeout: Some(std::time::Duration::from_millis(150)),
        ..Default::default()
    })
    .await;
    let wait = hostile.steps().iter().find(|s| s.name == "wait").unwrap();
    assert_eq!(wait.timeout, Some(std::time::Duration::from_millis(150)));
    let spin = hostile.steps().iter().find(|s| s.name == "spin").unwrap();
    assert_eq!(
        spin.timeout,
        Some(std::time::Duration::from_millis(200)),
        "a step's own timeout wins"
    );
    let err = hostile
        .run(json!({"mode": "wait_forever"}))
        .unwrap()
        .result()
        .await
        .unwrap_err();
    assert_failure(
        &err,
        "wait",
        "StepTimeoutError",
        "step `wait` did not finish within 150ms",
        FailureCause::Timeout,
    );
}

/// Asserts that `err` is step `step` failing with an error of `kind` saying
/// `message`, for `cause`.
fn assert_failure(err: &WorkflowError, step: &str, kind: &str, message: &str, cause: FailureCause) {
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
