//! The failure paths: validation errors, bad input, timeouts, cancel,
//! traps, bad sends, deadlocks, bad components and manifests. Each asserts
//! the error kind and message, and that the host keeps serving other runs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use wflow_core::{StepComponent, StepOverride, Workflow, WorkflowError, WorkflowOptions};
use wflow_tests::{component, component_path, runtime, step_failure, workflow, workflow_with};

async fn faulty_run(input: serde_json::Value) -> WorkflowError {
    workflow("faulty")
        .await
        .run(input)
        .unwrap()
        .result()
        .await
        .unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_nobody_accepts_fails_validation_naming_it() {
    let err = wflow_build::load_workflow(runtime(), &component_path("invalid"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowValidationError");
    assert_eq!(
        err.to_string(),
        "The following events are produced but never consumed: Orphan"
    );
    // disable_validation skips the check.
    let mut options = WorkflowOptions::named("invalid");
    options.disable_validation = true;
    assert!(workflow_with("invalid", options).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_step_names_across_components_are_refused() {
    let components = vec![component("joke").await, component("joke").await];
    let err = Workflow::from_components(runtime(), components, WorkflowOptions::named("twice"))
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowValidationError");
    assert!(
        err.to_string()
            .starts_with("A step write_joke is already part of this workflow"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_are_checked_num_workers_below_one_and_unknown_steps() {
    let mut options = WorkflowOptions::named("fanout");
    options.step_overrides = BTreeMap::from([(
        "work".to_string(),
        StepOverride {
            num_workers: Some(0),
            ..Default::default()
        },
    )]);
    let err = workflow_with("fanout", options).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Step 'work': num_workers must be an integer greater than 0"
    );

    let mut options = WorkflowOptions::named("fanout");
    options.step_overrides = BTreeMap::from([("nope".to_string(), StepOverride::default())]);
    let err = workflow_with("fanout", options).await.unwrap_err();
    assert_eq!(err.kind(), "WorkflowConfigurationError");
    assert!(err.to_string().contains("overrides step `nope`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_is_not_wasm_is_refused_with_a_clear_error() {
    let err = StepComponent::from_bytes(runtime(), "junk.wasm".as_ref(), b"not wasm".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowLoadError");
    assert!(
        err.to_string()
            .contains("junk.wasm is not a valid WebAssembly component"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_payloads_are_refused_before_the_run() {
    let joke = workflow("joke").await;
    let err = joke.run(json!(["not", "an", "object"])).err().unwrap();
    assert_eq!(err.kind(), "WorkflowEventValidationError");
    assert!(err.to_string().contains("must be a JSON object"), "{err}");
    // A start event missing a field the step needs fails the step, naming it.
    let err = joke.run(json!({})).unwrap().result().await.unwrap_err();
    let (step, message) = step_failure(&err);
    assert_eq!(step, "write_joke");
    assert_eq!(
        message,
        "InvalidEventError: StartEvent has no field `topic`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_timeout_ends_the_run_naming_the_active_steps() {
    let faulty = workflow("faulty")
        .await
        .with_timeout(Some(Duration::from_secs(1)));
    let handler = faulty.run(json!({"mode": "slow", "ms": 5000})).unwrap();
    let err = handler.result().await.unwrap_err();
    assert_eq!(err.kind(), "WorkflowTimeoutError");
    assert_eq!(
        err.to_string(),
        "Operation timed out after 1.0 seconds. Currently active steps: slow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_the_run_and_the_stream() {
    let handler = workflow("faulty")
        .await
        .run(json!({"mode": "slow", "ms": 5000}))
        .unwrap();
    let mut stream = handler.stream_events().unwrap();
    handler.cancel();
    let err = handler.result().await.unwrap_err();
    assert_eq!(err.kind(), "WorkflowCancelledByUser");
    assert_eq!(stream.next().await.unwrap().name, "WorkflowCancelledEvent");
    assert!(stream.next().await.is_none());
    let late = wflow_core::Event::new("OkReq", &json!({"ms": 0})).unwrap();
    assert!(
        handler.send_event(late).is_err(),
        "a finished run takes no events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_step_is_stopped_by_its_step_timeout() {
    let err = faulty_run(json!({"mode": "spin"})).await;
    let (step, message) = step_failure(&err);
    assert_eq!(step, "spin");
    assert_eq!(
        message,
        "StepTimeoutError: step `spin` did not finish within 200ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_guest_fails_its_run_while_other_runs_complete() {
    let faulty = workflow("faulty").await;
    let joke = workflow("joke").await;
    let trap = faulty.run(json!({"mode": "trap"})).unwrap();
    let spin = faulty.run(json!({"mode": "spin"})).unwrap();
    let good: Vec<_> = (0..10)
        .map(|i| joke.run(json!({"topic": format!("t{i}")})).unwrap())
        .collect();
    let err = trap.result().await.unwrap_err();
    let (step, message) = step_failure(&err);
    assert_eq!(step, "trap");
    assert!(message.starts_with("WasmTrap: "), "{message}");
    assert!(
        message.contains("the guest panicked on purpose"),
        "the guest's panic message is kept: {message}"
    );
    for (i, handler) in good.iter().enumerate() {
        let result = handler.result().await.unwrap().result;
        assert!(result.as_str().unwrap().contains(&format!("t{i}")));
    }
    assert!(spin.result().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_is_retried_then_fails_the_run_with_its_error() {
    let err = faulty_run(json!({"mode": "fail"})).await;
    let (step, message) = step_failure(&err);
    assert_eq!(step, "fail");
    assert_eq!(message, "ValueError: boom on attempt 3 (after 3 attempts)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targeted_send_to_a_missing_or_unwilling_step_is_an_error() {
    let err = faulty_run(json!({"mode": "send_wrong", "target": "nope"})).await;
    assert_eq!(
        step_failure(&err).1,
        "WorkflowRuntimeError: Step nope does not exist"
    );
    let err = faulty_run(json!({"mode": "send_wrong", "target": "trap"})).await;
    assert_eq!(
        step_failure(&err).1,
        "WorkflowRuntimeError: Step trap does not accept event of type OkReq"
    );
    let handler = workflow("faulty")
        .await
        .run(json!({"mode": "slow", "ms": 2000}))
        .unwrap();
    let ok = wflow_core::Event::new("OkReq", &json!({"ms": 0})).unwrap();
    let err = handler.send_event_to(ok.clone(), "nope").unwrap_err();
    assert_eq!(err.kind(), "WorkflowStepDoesNotExistError");
    let err = handler.send_event_to(ok, "slow").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Step slow does not accept event of type OkReq"
    );
    handler.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_an_undeclared_event_type_is_refused() {
    let err = faulty_run(json!({"mode": "send_undeclared"})).await;
    assert_eq!(
        step_failure(&err).1,
        "WorkflowRuntimeError: step send_undeclared sent a Stray event, which it does not declare among the events it emits (StopEvent)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_run_waits_for_an_event_until_its_timeout_naming_what_waits() {
    // Nothing queued, running or awaited: as the reference's, the run
    // idles (streaming a WorkflowIdleEvent) until its timeout, and the
    // timeout says no step was active and what the steps hold.
    let options = WorkflowOptions {
        timeout: Some(Duration::from_millis(300)),
        ..WorkflowOptions::named("faulty")
    };
    let workflow = workflow_with("faulty", options).await.unwrap();
    let run = wflow_core::RunOptions {
        internal_events: true,
        ..wflow_core::RunOptions::default()
    };
    let start = wflow_core::Event::new("StartEvent", &json!({"mode": "stuck"})).unwrap();
    let handler = workflow.run_with(start, run).unwrap();
    let mut stream = handler.stream_events().unwrap();
    let mut idle = 0;
    while let Some(event) = stream.next().await {
        idle += usize::from(event.name == "WorkflowIdleEvent");
    }
    let err = handler.result().await.unwrap_err();
    assert_eq!(err.kind(), "WorkflowTimeoutError");
    assert!(
        err.to_string()
            .starts_with("Operation timed out after 0.3 seconds. No steps active"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("step `stuck` holds 1 event(s) in collect buffer `default`"),
        "{err}"
    );
    assert_eq!(idle, 1, "one WorkflowIdleEvent");

    // Without a timeout it would wait forever: it fails at once instead.
    let options = WorkflowOptions {
        timeout: None,
        ..WorkflowOptions::named("faulty")
    };
    let workflow = workflow_with("faulty", options).await.unwrap();
    let err = workflow
        .run(json!({"mode": "stuck"}))
        .unwrap()
        .result()
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("The workflow is stuck"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_missing_state_path_without_a_default_is_an_error() {
    let err = faulty_run(json!({"mode": "missing_state"})).await;
    assert_eq!(
        step_failure(&err).1,
        "ValueError: Path 'no.such.path' not found in state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_inside_an_edit_is_refused_and_the_edit_is_discarded() {
    let faulty = workflow("faulty").await;
    let handler = faulty.run(json!({"mode": "write_in_edit"})).unwrap();
    let err = handler.result().await.unwrap_err();
    assert_eq!(
        step_failure(&err).1,
        "RuntimeError: writer called inside edit_state: mutate the yielded state instead"
    );
    let state = handler.store().snapshot();
    assert_eq!(
        state.get("inside"),
        None,
        "the uncommitted edit is discarded"
    );
    assert_eq!(state.get("sneaky"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_built_against_the_older_wit_is_told_to_build_again() {
    let path = component_path("older-wit");
    let err = wflow_build::load_workflow(runtime(), &path)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowLoadError");
    assert_eq!(
        err.to_string(),
        format!(
            "{} was built against an older wflow WIT (its `component-info` has no `workflow` \
             field): build it again with this wflow's SDK (`wflow build`), then load or deploy \
             the new component",
            path.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_importing_what_the_host_lacks_is_refused_naming_the_import() {
    let err = wflow_build::load_workflow(runtime(), &component_path("alien"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowLoadError");
    let message = err.to_string();
    assert!(
        message.contains("needs an import the host does not provide"),
        "{message}"
    );
    assert!(message.contains("alien:net/socket"), "{message}");
}
