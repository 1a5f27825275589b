//! The host's behaviours, driven through real compiled guests: routing,
//! fan-out and collect, human in the loop, state, retries, loops, streams,
//! contexts across runs.

use serde_json::json;
use wflow_core::{Backoff, Context, Event, EventKind, StateError, WorkflowError, WorkflowOptions};
use wflow_tests::{component_path, runtime, workflow, workflow_with};

async fn drain(handler: &wflow_core::WorkflowHandler) -> Vec<Event> {
    let mut stream = handler.stream_events().expect("first stream");
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event);
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joke_result_mentions_the_topic_and_the_stream_ends_with_the_stop_event() {
    let joke = workflow("joke").await;
    assert_eq!(joke.start_event(), "StartEvent");
    let handler = joke.run(json!({"topic": "pirates"})).unwrap();
    let events = drain(&handler).await;
    let last = events.last().expect("the stop event is streamed");
    assert_eq!(last.name, "StopEvent");
    let output = handler.result().await.unwrap();
    assert!(
        output.result.as_str().unwrap().contains("pirates"),
        "{}",
        output.result
    );
    assert_eq!(output.event, *last);
    assert!(handler.is_done());
    assert_eq!(
        handler.store().get("topic").unwrap(),
        Some(json!("pirates"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_stream_is_an_error() {
    let handler = workflow("joke").await.run(json!({"topic": "x"})).unwrap();
    let _first = handler.stream_events().unwrap();
    let Err(err) = handler.stream_events() else {
        panic!("a second stream must fail");
    };
    assert!(matches!(err, WorkflowError::Runtime(_)));
    assert_eq!(
        err.to_string(),
        "All the streamed events have already been consumed."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_collects_every_event_exactly_once() {
    let handler = workflow("fanout").await.run(json!({"n": 1000})).unwrap();
    let output = handler.result().await.unwrap();
    assert_eq!(output.result, json!({"sum": 499_500, "count": 1000}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hitl_streams_the_prompt_once_and_resumes_with_the_answer() {
    let hitl = workflow("hitl").await;
    let handler = hitl.run(json!({})).unwrap();
    let mut stream = handler.stream_events().unwrap();
    let prompt = stream.next().await.unwrap();
    assert_eq!(prompt.name, "InputRequiredEvent");
    assert_eq!(prompt.payload().unwrap()["prefix"], "What's your name? ");
    // As in the reference, a step waiting for its answer is not running
    // (its call is suspended in the wait, and goes on once answered).
    let released = async {
        while !handler.running_steps().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), released)
        .await
        .expect("the waiting step's call ends");
    handler
        .send_event(Event::new("HumanResponseEvent", &json!({"response": "Ada"})).unwrap())
        .unwrap();
    let next = stream.next().await.unwrap();
    assert_eq!(next.name, "StopEvent", "the prompt is streamed once");
    assert_eq!(handler.result().await.unwrap().result, json!("Hello, Ada!"));
    assert!(stream.next().await.is_none());
}

fn approval(user: &str) -> Event {
    Event::new("Approval", &json!({"user": user, "ok": user == "ada"})).unwrap()
}

/// Runs `waits` in its `count` mode with `limits`, answers the prompt
/// after `answer_after` (Bob first, whose approval the waiter does not
/// take, then Ada), and returns the result.
async fn count_before_the_wait(
    limits: impl FnOnce(&mut wflow_core::Limits),
    answer_after: std::time::Duration,
) -> serde_json::Value {
    let mut options = WorkflowOptions::named("waits");
    limits(&mut options.limits);
    let waits = workflow_with("waits", options).await.unwrap();
    let handler = waits.run(json!({"mode": "count"})).unwrap();
    let mut stream = handler.stream_events().unwrap();
    assert_eq!(stream.next().await.unwrap().name, "InputRequiredEvent");
    tokio::time::sleep(answer_after).await;
    handler.send_event(approval("bob")).unwrap();
    handler.send_event(approval("ada")).unwrap();
    handler.result().await.unwrap().result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_answered_while_it_waits_goes_on_from_its_wait() {
    // Unlike the reference, which runs the step again from the top, what
    // ran before the wait ran once.
    let result = count_before_the_wait(|_| {}, std::time::Duration::ZERO).await;
    assert_eq!(result, json!({"ran_before_the_wait": 1, "user": "ada"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_may_keep_no_instance_runs_again_from_the_start() {
    let result = count_before_the_wait(
        |limits| limits.wait_in_place = std::time::Duration::ZERO,
        std::time::Duration::ZERO,
    )
    .await;
    assert_eq!(result, json!({"ran_before_the_wait": 2, "user": "ada"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_waiting_past_wait_in_place_lets_go_and_runs_again_from_the_start() {
    let result = count_before_the_wait(
        |limits| limits.wait_in_place = std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(2),
    )
    .await;
    assert_eq!(result, json!({"ran_before_the_wait": 2, "user": "ada"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_spent_waiting_does_not_count_against_the_step_timeout() {
    let result = count_before_the_wait(
        |limits| limits.step_timeout = Some(std::time::Duration::from_millis(300)),
        std::time::Duration::from_secs(1),
    )
    .await;
    assert_eq!(result, json!({"ran_before_the_wait": 1, "user": "ada"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_input_required_is_answered_by_a_step_accepting_the_response() {
    let handler = workflow("waits").await.run(json!({"mode": "ask"})).unwrap();
    let mut stream = handler.stream_events().unwrap();
    let prompt = stream.next().await.unwrap();
    assert_eq!(prompt.name, "InputRequiredEvent");
    handler
        .send_event(Event::new("HumanResponseEvent", &json!({"response": "42"})).unwrap())
        .unwrap();
    assert_eq!(
        handler.result().await.unwrap().result,
        json!("answered: 42")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_event_requirements_filter_on_payload_fields() {
    let waits = workflow("waits").await;
    assert_eq!(waits.events()["Approval"].kind, EventKind::HumanResponse);
    let handler = waits.run(json!({"mode": "require"})).unwrap();
    let mut stream = handler.stream_events().unwrap();
    assert_eq!(stream.next().await.unwrap().name, "InputRequiredEvent");
    let approval =
        |user: &str, ok: bool| Event::new("Approval", &json!({"user": user, "ok": ok})).unwrap();
    handler.send_event(approval("bob", false)).unwrap();
    handler.send_event(approval("ada", true)).unwrap();
    assert_eq!(
        handler.result().await.unwrap().result,
        json!({"user": "ada", "ok": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_sent_from_outside_are_checked_against_their_schema() {
    let handler = workflow("waits")
        .await
        .run(json!({"mode": "require"}))
        .unwrap();
    let mut stream = handler.stream_events().unwrap();
    assert_eq!(stream.next().await.unwrap().name, "InputRequiredEvent");
    let bad = Event::new("Approval", &json!({"user": 7})).unwrap();
    let err = handler.send_event(bad).unwrap_err();
    assert!(matches!(err, WorkflowError::InvalidEvent(_)), "{err}");
    assert!(
        err.to_string().contains("does not match its schema"),
        "{err}"
    );
    let unknown = Event::new("Nobody", &json!({})).unwrap();
    let err = handler.send_event(unknown).unwrap_err();
    assert!(
        err.to_string()
            .contains("no step of workflow waits accepts a Nobody event"),
        "{err}"
    );
    handler.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_event_times_out() {
    let handler = workflow("waits")
        .await
        .run(json!({"mode": "timeout", "ms": 50}))
        .unwrap();
    let err = handler.result().await.unwrap_err();
    let failure = wflow_tests::failure(&err);
    assert_eq!(failure.step, "wait_timeout");
    assert_eq!(failure.kind, "TimeoutError");
    assert_eq!(failure.message, "Timed out waiting for Approval");
    assert_eq!(failure.cause, wflow_core::FailureCause::Context);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_state_edits_lose_no_update() {
    let state = workflow("state").await;
    assert!(
        state.state_schema().is_some(),
        "the typed state's schema is published"
    );
    let handler = state.run(json!({"n": 400})).unwrap();
    assert_eq!(
        handler.result().await.unwrap().result,
        json!({"count": 400})
    );
    assert_eq!(handler.store().get("count").unwrap(), Some(json!(400)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_state_refuses_a_field_its_type_does_not_have() {
    // As the reference's pydantic state model: `Counter {count, n}` has no
    // `note`, so setting one is an error and the state stays as it was.
    let state = workflow("state").await;
    let ctx = Context::new(&state);
    let err = ctx
        .store()
        .set("note.by", json!("another step"))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::SchemaViolation(_)), "{err}");
    assert!(err.to_string().contains("'note' was unexpected"), "{err}");
    assert_eq!(*ctx.store().snapshot(), json!({"count": 0, "n": 0}));
    let start = Event::new("StartEvent", &json!({"n": 50})).unwrap();
    let handler = state.run_event(start, Some(&ctx)).unwrap();
    assert_eq!(handler.result().await.unwrap().result, json!({"count": 50}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_state_rejects_a_set_that_breaks_its_schema_and_clears_to_defaults() {
    let state = workflow("state").await;
    let ctx = Context::new(&state);
    assert_eq!(*ctx.store().snapshot(), json!({"count": 0, "n": 0}));
    let err = ctx.store().set("count", json!("many")).await.unwrap_err();
    assert!(matches!(err, StateError::SchemaViolation(_)), "{err}");
    ctx.store().set("count", json!(9)).await.unwrap();
    ctx.store().clear().await.unwrap();
    assert_eq!(ctx.store().get("count").unwrap(), Some(json!(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_on_fresh_instances_until_the_step_succeeds() {
    let handler = workflow("retry")
        .await
        .run(json!({"fail_times": 2}))
        .unwrap();
    let output = handler.result().await.unwrap();
    assert_eq!(
        output.result,
        json!({"attempts": 3, "calls_on_this_instance": 1})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_serves_the_next_run_of_the_same_workflow() {
    let retry = workflow("retry").await;
    let calls = |output: wflow_core::StopOutput| output.result["calls_on_this_instance"].clone();
    let first = retry.run(json!({"fail_times": 0})).unwrap();
    assert_eq!(calls(first.result().await.unwrap()), json!(1));
    assert_eq!(retry.idle_instances(), 1);
    // The second run's call lands on the first run's instance.
    let second = retry.run(json!({"fail_times": 0})).unwrap();
    assert_eq!(calls(second.result().await.unwrap()), json!(2));
    // A failed call drops its instance; the retry gets a new one.
    let third = retry.run(json!({"fail_times": 1})).unwrap();
    assert_eq!(
        third.result().await.unwrap().result,
        json!({"attempts": 2, "calls_on_this_instance": 1})
    );
    assert_eq!(retry.idle_instances(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_with_instances_of_its_own_never_gets_the_originals() {
    // What a server gives each tenant: the same compiled code, no instance
    // in common.
    let retry = workflow("retry").await;
    let calls = |output: wflow_core::StopOutput| output.result["calls_on_this_instance"].clone();
    let first = retry.run(json!({"fail_times": 0})).unwrap();
    assert_eq!(calls(first.result().await.unwrap()), json!(1));
    let copy = retry.with_own_instances();
    assert_eq!(
        copy.idle_instances(),
        0,
        "the original's idle instance stays its own"
    );
    let on_copy = copy.run(json!({"fail_times": 0})).unwrap();
    assert_eq!(
        calls(on_copy.result().await.unwrap()),
        json!(1),
        "a new instance"
    );
    let again = retry.run(json!({"fail_times": 0})).unwrap();
    assert_eq!(
        calls(again.result().await.unwrap()),
        json!(2),
        "the original's own"
    );
    let capped = retry.with_capped_limits(&wflow_core::LimitCaps::default());
    assert_eq!(capped.idle_instances(), 0, "a capped copy has its own too");
    assert_eq!(
        retry.components()[0].digest,
        copy.components()[0].digest,
        "the compiled component is shared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_instance_reuse_every_run_starts_on_new_instances() {
    let mut options = WorkflowOptions::named("retry");
    options.reuse_instances = false;
    let retry = workflow_with("retry", options).await.unwrap();
    for _ in 0..3 {
        let handler = retry.run(json!({"fail_times": 0})).unwrap();
        let output = handler.result().await.unwrap();
        assert_eq!(output.result["calls_on_this_instance"], json!(1));
    }
    assert_eq!(retry.idle_instances(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_fail_the_run_with_the_step_error() {
    let handler = workflow("retry")
        .await
        .run(json!({"fail_times": 5}))
        .unwrap();
    let err = handler.result().await.unwrap_err();
    assert_eq!(err.kind(), "WorkflowStepError");
    assert_eq!(
        err.to_string(),
        "step `flaky` failed: TransientError: attempt 3 failed (after 3 attempts)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_back_to_an_earlier_step_and_branches_on_event_type() {
    let handler = workflow("loop-example")
        .await
        .run(json!({"target": 7}))
        .unwrap();
    assert_eq!(
        handler.result().await.unwrap().result,
        json!({"value": 7, "laps": 7})
    );
    let handler = workflow("loop-example")
        .await
        .run(json!({"start": 9, "target": 3}))
        .unwrap();
    assert_eq!(
        handler.result().await.unwrap().result,
        json!({"value": 9, "laps": 0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_carries_state_across_runs() {
    let retry = workflow("retry").await;
    let ctx = Context::new(&retry);
    let start =
        |fail_times: u32| Event::new("StartEvent", &json!({"fail_times": fail_times})).unwrap();
    let first = retry.run_event(start(0), Some(&ctx)).unwrap();
    assert_eq!(first.result().await.unwrap().result["attempts"], 1);
    let second = retry.run_event(start(0), Some(&ctx)).unwrap();
    assert_eq!(second.result().await.unwrap().result["attempts"], 2);
    assert_eq!(ctx.store().get("attempts").unwrap(), Some(json!(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ten_step_chain_passes_its_event_through_every_step() {
    let chain = workflow("chain").await;
    assert_eq!(chain.steps().len(), 10);
    let output = chain.run(json!({"n": 5})).unwrap().result().await.unwrap();
    assert_eq!(output.result, json!(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn num_concurrent_runs_queues_runs_beyond_the_limit() {
    let mut options = WorkflowOptions::named("faulty");
    options.num_concurrent_runs = Some(1);
    let faulty = workflow_with("faulty", options).await.unwrap();
    let slow = json!({"mode": "slow", "ms": 300});
    let first = faulty.run(slow.clone()).unwrap();
    let second = faulty.run(slow).unwrap();
    // Whichever run gets the one slot first, the other can only start once
    // it has ended, and then needs 300 ms more.
    let (winner, other) = tokio::select! {
        outcome = first.result() => (outcome, &second),
        outcome = second.result() => (outcome, &first),
    };
    winner.unwrap();
    assert!(!other.is_done());
    assert_eq!(other.result().await.unwrap().result, json!("slow done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_broadcast_to_every_accepting_step_and_a_custom_stop_is_the_result() {
    let broadcast = workflow("broadcast").await;
    assert_eq!(broadcast.start_event(), "Go");
    let output = broadcast
        .run(json!({"x": 5}))
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(output.event.name, "Joined");
    assert_eq!(
        output.result,
        json!({"left": 10, "right": 15, "order": ["Right", "Left"]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_event_that_breaks_its_schema_is_refused() {
    let broadcast = workflow("broadcast").await;
    let Err(err) = broadcast.run(json!({"x": "five"})) else {
        panic!("a bad start event must be refused");
    };
    assert_eq!(err.kind(), "WorkflowEventValidationError");
    assert!(
        err.to_string()
            .starts_with("the Go does not match its schema"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_step_gets_its_kept_answer_without_asking_twice() {
    let handler = workflow("waits")
        .await
        .run(json!({"mode": "ask_twice"}))
        .unwrap();
    let mut stream = handler.stream_events().unwrap();
    assert_eq!(stream.next().await.unwrap().name, "InputRequiredEvent");
    handler
        .send_event(Event::new("HumanResponseEvent", &json!({"response": "yes"})).unwrap())
        .unwrap();
    assert_eq!(
        handler.result().await.unwrap().result,
        json!({"answer": "yes", "attempt": 2})
    );
    let after = stream.next().await.unwrap();
    assert_eq!(
        after.name, "StopEvent",
        "no second prompt before the stop event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_assembles_components_and_applies_overrides() {
    let dir = std::env::temp_dir().join(format!("wflow-manifest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("workflow.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
            name = "split"
            timeout = "30s"
            [[components]]
            path = "{}"
            [[components]]
            path = "{}"
            [steps.consume]
            num_workers = 3
            timeout = "2s"
            retry = {{ max_attempts = 4, delay = "10ms", backoff = "exponential" }}
            "#,
            component_path("split-a").display(),
            component_path("split-b").display()
        ),
    )
    .unwrap();
    let split = wflow_build::load_workflow(runtime(), &manifest)
        .await
        .unwrap();
    assert_eq!(split.name(), "split");
    assert_eq!(split.timeout(), Some(std::time::Duration::from_secs(30)));
    let consume = split.steps().iter().find(|s| s.name == "consume").unwrap();
    assert_eq!(consume.num_workers, 3);
    assert_eq!(consume.timeout, Some(std::time::Duration::from_secs(2)));
    let retry = consume.retry.as_ref().unwrap();
    assert_eq!(
        (retry.max_attempts, retry.backoff),
        (Some(4), Backoff::Exponential)
    );
    let output = split.run(json!({"n": 21})).unwrap().result().await.unwrap();
    assert_eq!(output.result, json!(42));
    std::fs::remove_dir_all(&dir).unwrap();
}
