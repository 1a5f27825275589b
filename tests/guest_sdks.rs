//! Steps written in Python and JavaScript, and workflows mixing them with
//! Rust: the guests are built from their source folders by the host itself
//! (componentize-py, componentize-js), then run through the engine.

use serde_json::{Value, json};
use wflow_core::{Event, WorkflowError, WorkflowHandler};
use wflow_tests::{component_path, runtime, source_workflow, step_failure};

/// Runs `handler` to its end, answering every `InputRequiredEvent` with
/// `answer`; returns the result.
async fn answer_prompts(handler: &WorkflowHandler, answer: &str) -> wflow_core::Result<Value> {
    let mut stream = handler.stream_events().expect("first stream");
    while let Some(event) = stream.next().await {
        if event.name == "InputRequiredEvent" {
            handler
                .send_event(
                    Event::new("HumanResponseEvent", &json!({ "response": answer })).unwrap(),
                )
                .unwrap();
        }
    }
    handler.result().await.map(|output| output.result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_javascript_jokes_mention_the_topic() {
    for name in ["joke-py", "joke-js"] {
        let workflow = source_workflow(name).await;
        let handler = workflow.run(json!({"topic": "pirates"})).unwrap();
        let result = handler.result().await.unwrap().result;
        let text = result.as_str().unwrap_or_default();
        assert!(text.contains("pirates"), "{name}: {result}");
        assert_eq!(
            handler.store().get("topic").unwrap(),
            Some(json!("pirates")),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_gives_the_exact_sum_in_all_three_languages() {
    let rust = wflow_build::load_workflow(runtime(), &component_path("fanout"))
        .await
        .unwrap();
    let python = source_workflow("fanout-py").await;
    let javascript = source_workflow("fanout-js").await;
    for (language, workflow) in [
        ("rust", rust),
        ("python", python),
        ("javascript", javascript),
    ] {
        let handler = workflow.run(json!({"n": 1000})).unwrap();
        let result = handler.result().await.unwrap().result;
        assert_eq!(result, json!({"sum": 499500, "count": 1000}), "{language}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_step_that_raises_is_retried_on_fresh_instances() {
    let workflow = source_workflow("retry-py").await;

    // Two ValueErrors, then success: three attempts, each on a new instance.
    let result = workflow.run(json!({})).unwrap().result().await.unwrap();
    assert_eq!(
        result.result,
        json!({"attempts": 3, "calls_on_this_instance": 1})
    );

    // Three ValueErrors exhaust the policy: the run fails with the last one.
    let err = workflow
        .run(json!({"fail_times": 3}))
        .unwrap()
        .result()
        .await
        .unwrap_err();
    let (step, message) = step_failure(&err);
    assert_eq!(step, "flaky");
    assert!(
        message.starts_with("ValueError: attempt 3 failed"),
        "{message}"
    );

    // A TypeError is not among the errors the policy retries.
    let handler = workflow.run(json!({"error": "TypeError"})).unwrap();
    let err = handler.result().await.unwrap_err();
    assert!(
        err.to_string().contains("TypeError: attempt 1 failed"),
        "{err}"
    );
    assert_eq!(handler.store().get("attempts").unwrap(), Some(json!(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_typed_state_and_human_prompts_work_through_the_host() {
    let state = source_workflow("testing/state-py").await;
    let result = state
        .run(json!({"n": 200}))
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(result.result["count"], json!(200), "{}", result.result);

    let hitl = source_workflow("testing/hitl-py").await;
    let handler = hitl.run(json!({})).unwrap();
    assert_eq!(
        answer_prompts(&handler, "Ada").await.unwrap(),
        json!("Hello, Ada!")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_asyncio_and_javascript_timers_sleep_on_the_hosts_clock() {
    let cases = [
        ("testing/async-py", json!(["fast", "slow", "task"])),
        ("testing/async-js", json!(["fast", "slow"])),
    ];
    for (guest, order) in cases {
        let workflow = source_workflow(guest).await;
        let result = workflow.run(json!({"pause": 0.2})).unwrap().result().await;
        let result = result.unwrap().result;
        // The shorter sleep, started second, ended first: both were pending
        // at once. The race against a timeout was lost; in Python a task
        // ran and the store answered under asyncio.timeout.
        assert_eq!(result["order"], order, "{guest}: {result}");
        assert_eq!(result["both"], json!(["slow", "fast"]), "{guest}");
        assert_eq!(result["timed_out"], json!(true), "{guest}");

        // A sleep past the step's timeout is stopped by it.
        let err = workflow
            .run(json!({"oversleep": true}))
            .unwrap()
            .result()
            .await
            .unwrap_err();
        let (step, message) = step_failure(&err);
        assert_eq!(step, "run", "{guest}");
        assert!(
            message.starts_with("StepTimeoutError"),
            "{guest}: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pydantic_fields_convert_and_constrain_as_in_the_reference() {
    let workflow = source_workflow("testing/fields-py").await;
    // `{"qty": "2"}` for `qty: int` runs, as pydantic's lax mode gives 2;
    // nested fields and booleans convert too.
    let start = json!({"qty": "3", "rush": "yes", "line": {"sku": "a", "price": "1.5"}});
    let result = workflow.run(start).unwrap().result().await.unwrap().result;
    assert_eq!(result, json!({"total": 9.0, "check": 5, "orders": 1}));
    // Constraints are checked by the host, from the published schema.
    for (start, problem) in [
        (
            json!({"qty": -1}),
            "at /qty: -1 is less than the minimum of 0",
        ),
        (
            json!({"qty": "x"}),
            "at /qty: \"x\" is not of type \"integer\"",
        ),
        (
            json!({"qty": 1, "line": {"sku": "", "price": 1}}),
            "at /line/sku: \"\" is shorter than 1 character",
        ),
    ] {
        match workflow.run(start.clone()) {
            Err(WorkflowError::InvalidEvent(message)) => {
                assert!(message.contains(problem), "{start}: {message}")
            }
            other => panic!("{start}: expected a refusal, got {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_mixing_rust_python_and_javascript_steps_runs_with_a_human_answer() {
    let workflow = source_workflow("polyglot").await;
    let languages: Vec<String> = workflow
        .components()
        .iter()
        .map(|c| c.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(languages, ["rust", "python", "js"]);
    let handler = workflow.run(json!({})).unwrap();
    let result = answer_prompts(&handler, "Ada").await.unwrap();
    assert_eq!(result["answer"], json!("Ada"), "{result}");
    assert_eq!(
        result["ran"],
        json!(["rust", "python", "javascript"]),
        "{result}"
    );
    for (language, step) in [
        ("rust", "greet"),
        ("python", "ask"),
        ("javascript", "finish"),
    ] {
        assert_eq!(
            result["languages"][language]["step"],
            json!(step),
            "{result}"
        );
    }
    // The typed state is the Rust component's: a write from outside that
    // breaks it is refused.
    assert!(
        handler
            .store()
            .set("ran", json!("not a list"))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_crossing_languages_is_checked_against_the_consumers_schema() {
    // Rust's `write_joke` emits Joke{text: string}; the Python component
    // beside it declares Joke{text: integer}.
    let workflow = source_workflow("testing/mismatch").await;
    let err = workflow
        .run(json!({"topic": "x"}))
        .unwrap()
        .result()
        .await
        .unwrap_err();
    let (step, message) = step_failure(&err);
    assert_eq!(step, "write_joke");
    assert!(
        message.starts_with("InvalidEventError: the Joke does not match the schema")
            && message.contains("mismatch/py")
            && message.contains("is not of type \"integer\""),
        "{message}"
    );

    // An event sent in from outside must match every component's schema
    // for its type: this Joke suits the Rust one, not the Python one.
    // (`admit_event` is the check `send_event` makes, without a run that
    // may already have ended.)
    let refused = workflow.admit_event(Event::new("Joke", &json!({"text": "a pun"})).unwrap());
    match refused {
        Err(WorkflowError::InvalidEvent(message)) => {
            assert!(message.contains("not of type \"integer\""), "{message}")
        }
        other => panic!("expected the Joke to be refused, got {other:?}"),
    }
}

/// Runs `program args` in `dir`; panics with its output unless it succeeds.
fn run_unit_tests(dir: &std::path::Path, program: &str, args: &[&str]) {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_python_sdk_unit_tests_pass_in_plain_cpython() {
    let sdk = wflow_tests::repo_root().join("guest-sdk/python");
    run_unit_tests(
        &sdk,
        "python3",
        &["-m", "unittest", "discover", "-s", "tests"],
    );
}

#[test]
fn the_javascript_sdk_unit_tests_pass_in_plain_node() {
    let sdk = wflow_tests::repo_root().join("guest-sdk/js");
    run_unit_tests(&sdk, "node", &["--test", "test/"]);
}
