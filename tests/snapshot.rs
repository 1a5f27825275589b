//! Snapshots and resume: a run snapshotted at many points and resumed —
//! in a freshly loaded workflow, through JSON — ends exactly as an
//! uninterrupted run; human answers survive; tampered snapshots are refused;
//! a prompt is streamed only once the checkpoint recording it is saved.

use serde_json::{Value, json};
use wflow_core::{Event, Snapshot, Workflow, WorkflowError};
use wflow_tests::{runtime, workflow};

/// Loads `name` again, as another process would.
async fn reload(name: &str) -> Workflow {
    wflow_build::load_workflow(runtime(), &wflow_tests::component_path(name))
        .await
        .unwrap()
}

/// Starts a run, lets it go `yields` scheduler turns, snapshots it, stops
/// it, and resumes the snapshot (through JSON) in a reloaded workflow.
/// Returns the result and whether a snapshot was taken mid-run.
async fn snapshot_and_resume(name: &str, input: Value, yields: usize) -> (Value, bool) {
    let original = workflow(name).await;
    let handler = original.run(input).unwrap();
    for _ in 0..yields {
        tokio::task::yield_now().await;
    }
    let snapshot = match handler.snapshot().await {
        Ok(snapshot) => snapshot,
        // The run finished before the snapshot: nothing to resume.
        Err(_) => return (handler.result().await.unwrap().result, false),
    };
    handler.cancel();
    let text = snapshot.to_json().unwrap();
    let restored = Snapshot::from_json(&text).unwrap();
    assert_eq!(restored, snapshot);
    let resumed = reload(name).await.resume(restored).unwrap();
    (resumed.result().await.unwrap().result, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_resumed_from_snapshots_at_many_points_end_as_uninterrupted_ones() {
    let cases = [
        (
            "fanout",
            json!({"n": 200}),
            json!({"sum": 19_900, "count": 200}),
        ),
        ("state", json!({"n": 150}), json!({"count": 150})),
        (
            "loop-example",
            json!({"target": 40}),
            json!({"value": 40, "laps": 40}),
        ),
        ("chain", json!({"n": 1}), json!(11)),
    ];
    for (name, input, expected) in cases {
        let uninterrupted = workflow(name)
            .await
            .run(input.clone())
            .unwrap()
            .result()
            .await
            .unwrap();
        assert_eq!(uninterrupted.result, expected, "{name} uninterrupted");
        let mut resumed_runs = 0;
        for yields in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 21, 34, 55] {
            let (result, resumed) = snapshot_and_resume(name, input.clone(), yields).await;
            assert_eq!(result, expected, "{name} resumed after {yields} yields");
            resumed_runs += usize::from(resumed);
        }
        assert!(
            resumed_runs >= 3,
            "{name}: only {resumed_runs} snapshots were taken mid-run"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_human_prompt_survives_a_snapshot_and_is_not_asked_twice() {
    let hitl = workflow("hitl").await;
    let handler = hitl.run(json!({})).unwrap();
    let mut stream = handler.stream_events().unwrap();
    assert_eq!(stream.next().await.unwrap().name, "InputRequiredEvent");
    let snapshot = handler.snapshot().await.unwrap();
    assert_eq!(
        snapshot.in_progress["ask_name"].len(),
        1,
        "the waiting call is re-run on resume"
    );
    assert_eq!(snapshot.waiters.pending[0].id, "name");
    assert_eq!(snapshot.stream_position, 1);
    handler.cancel();

    let text = snapshot.to_json().unwrap();
    let resumed = reload("hitl")
        .await
        .resume(Snapshot::from_json(&text).unwrap())
        .unwrap();
    let mut stream = resumed.stream_events().unwrap();
    resumed
        .send_event(Event::new("HumanResponseEvent", &json!({"response": "Ada"})).unwrap())
        .unwrap();
    assert_eq!(resumed.result().await.unwrap().result, json!("Hello, Ada!"));
    assert_eq!(
        stream.next().await.unwrap().name,
        "StopEvent",
        "the prompt was streamed before the snapshot and is not streamed again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_can_arrive_before_the_resumed_step_asks_again() {
    let handler = workflow("hitl").await.run(json!({})).unwrap();
    let mut stream = handler.stream_events().unwrap();
    stream.next().await.unwrap();
    let snapshot = handler.snapshot().await.unwrap();
    handler.cancel();
    for _ in 0..10 {
        let resumed = reload("hitl").await.resume(snapshot.clone()).unwrap();
        // Sent at once: the re-run step may not have asked again yet.
        resumed
            .send_event(Event::new("HumanResponseEvent", &json!({"response": "Grace"})).unwrap())
            .unwrap();
        assert_eq!(
            resumed.result().await.unwrap().result,
            json!("Hello, Grace!")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_snapshots_are_refused_naming_the_problem() {
    let handler = workflow("hitl").await.run(json!({})).unwrap();
    handler.stream_events().unwrap().next().await.unwrap();
    let snapshot = handler.snapshot().await.unwrap();
    handler.cancel();
    let text = snapshot.to_json().unwrap();
    let serde_error = |result: Result<Snapshot, WorkflowError>| -> String {
        match result {
            Err(err @ WorkflowError::ContextSerde(_)) => err.to_string(),
            other => panic!("expected a ContextSerdeError, got {other:?}"),
        }
    };

    // Another workflow.
    let err = workflow("joke")
        .await
        .resume(snapshot.clone())
        .err()
        .unwrap();
    assert_eq!(err.kind(), "ContextSerdeError");
    assert_eq!(
        err.to_string(),
        "the snapshot belongs to workflow \"hitl\", not \"joke\""
    );
    // Other components under the same name.
    let mut forged = snapshot.clone();
    forged.workflow.components = vec!["0".repeat(64)];
    let err = workflow("hitl").await.resume(forged).err().unwrap();
    assert!(
        err.to_string().contains("taken with other components"),
        "{err}"
    );
    // An unknown format version.
    let mut value: Value = serde_json::from_str(&text).unwrap();
    value["version"] = json!(99);
    let message = serde_error(Snapshot::from_json(&value.to_string()));
    assert_eq!(
        message,
        "snapshot format version 99 is not supported (this host reads version 1)"
    );
    // Not a snapshot at all.
    value["format"] = json!("something-else");
    assert!(
        serde_error(Snapshot::from_json(&value.to_string())).starts_with("not a wflow snapshot")
    );
    // Truncated JSON.
    let message = serde_error(Snapshot::from_json(&text[..text.len() / 2]));
    assert!(
        message.starts_with("the snapshot is not valid JSON"),
        "{message}"
    );
    // A missing field.
    let mut value: Value = serde_json::from_str(&text).unwrap();
    value.as_object_mut().unwrap().remove("queues");
    let message = serde_error(Snapshot::from_json(&value.to_string()));
    assert!(
        message.starts_with("the snapshot is incomplete or damaged"),
        "{message}"
    );
    assert!(message.contains("queues"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_carries_state_across_runs_and_processes_through_json() {
    let retry = workflow("retry").await;
    let ctx = wflow_core::Context::new(&retry);
    let start = || Event::new("StartEvent", &json!({"fail_times": 0})).unwrap();
    let first = retry.run_event(start(), Some(&ctx)).unwrap();
    assert_eq!(first.result().await.unwrap().result["attempts"], 1);
    let text = ctx.to_json().unwrap();
    // As if in another process.
    let reloaded = reload("retry").await;
    let restored = wflow_core::Context::from_json(&reloaded, &text).unwrap();
    let second = reloaded.run_event(start(), Some(&restored)).unwrap();
    assert_eq!(second.result().await.unwrap().result["attempts"], 2);
    let err = wflow_core::Context::from_json(&workflow("joke").await, &text).unwrap_err();
    assert_eq!(err.kind(), "ContextSerdeError");
    assert!(
        err.to_string().contains("belongs to workflow \"retry\""),
        "{err}"
    );
    let err = wflow_core::Context::from_json(&reloaded, &text[..20]).unwrap_err();
    assert_eq!(err.kind(), "ContextSerdeError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpointed_run_takes_answers_while_idle_and_records_its_outcome() {
    use std::sync::Arc;
    use wflow_core::{CheckpointStore, FileCheckpoint, RunOptions, SnapshotOutcome};
    let path = std::env::temp_dir().join(format!("wflow-idle-{}.json", std::process::id()));
    let store = FileCheckpoint::new(&path);
    let waits = workflow("waits").await;
    let options = RunOptions {
        checkpoint: Some(Arc::new(store.clone()) as Arc<dyn CheckpointStore>),
        ..RunOptions::default()
    };
    let start = Event::new("StartEvent", &json!({"mode": "ask"})).unwrap();
    let handler = waits.run_with(start, options).unwrap();
    let mut stream = handler.stream_events().unwrap();
    assert_eq!(stream.next().await.unwrap().name, "InputRequiredEvent");
    // Nothing is in flight now: the run waits for the answer as an event.
    handler
        .send_event(Event::new("HumanResponseEvent", &json!({"response": "42"})).unwrap())
        .unwrap();
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(20), handler.result())
        .await
        .expect("the checkpointed run must not stall");
    assert_eq!(outcome.unwrap().result, json!("answered: 42"));
    let last = store.load().unwrap();
    assert!(
        matches!(&last.outcome, Some(SnapshotOutcome::Completed { stop_event }) if stop_event.data.contains("answered: 42")),
        "{:?}",
        last.outcome
    );
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_runs_of_one_process_checkpoint_at_once() {
    use std::sync::Arc;
    use wflow_core::{CheckpointStore, FileCheckpoint, RunOptions, SnapshotOutcome};
    let dir = std::env::temp_dir().join(format!("wflow-many-checkpoints-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fanout = workflow("fanout").await;
    // 32 runs, each checkpointing into its own file, and 8 more sharing one
    // file: saves of one process never collide on a temporary file.
    let shared = FileCheckpoint::new(dir.join("shared.json"));
    let mut handlers = Vec::new();
    for run in 0..40 {
        let store = if run < 32 {
            FileCheckpoint::new(dir.join(format!("run-{run}.json")))
        } else {
            shared.clone()
        };
        let options = RunOptions {
            checkpoint: Some(Arc::new(store.clone()) as Arc<dyn CheckpointStore>),
            ..RunOptions::default()
        };
        let start = Event::new("StartEvent", &json!({"n": 50})).unwrap();
        handlers.push((store, fanout.run_with(start, options).unwrap()));
    }
    let mut own = 0;
    for (run, (store, handler)) in handlers.into_iter().enumerate() {
        let result = handler.result().await.unwrap().result;
        assert_eq!(result, json!({"sum": 1225, "count": 50}));
        if run >= 32 {
            // Another run may have saved into the shared file since.
            continue;
        }
        // The last checkpoint is saved before the run is reported finished.
        let last = store.load().unwrap();
        assert!(
            matches!(last.outcome, Some(SnapshotOutcome::Completed { .. })),
            "{:?}",
            last.outcome
        );
        own += 1;
    }
    assert_eq!(own, 32);
    // Every run sharing the file has ended: the last save was a final one.
    let last = shared.load().unwrap();
    assert!(
        matches!(last.outcome, Some(SnapshotOutcome::Completed { .. })),
        "{:?}",
        last.outcome
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A checkpoint store that keeps every save waiting until its gate opens,
/// and remembers what it saved.
struct GatedCheckpoints {
    gate: tokio::sync::Semaphore,
    saved: std::sync::Mutex<Vec<Snapshot>>,
}

impl Default for GatedCheckpoints {
    fn default() -> Self {
        Self {
            gate: tokio::sync::Semaphore::new(0),
            saved: std::sync::Mutex::default(),
        }
    }
}

impl wflow_core::CheckpointStore for GatedCheckpoints {
    fn save<'a>(
        &'a self,
        snapshot: &'a Snapshot,
    ) -> wflow_core::BoxFuture<'a, wflow_core::Result<()>> {
        Box::pin(async move {
            self.gate.acquire().await.unwrap().forget();
            self.saved.lock().unwrap().push(snapshot.clone());
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_reaches_readers_only_once_the_checkpoint_recording_it_is_saved() {
    use std::sync::Arc;
    use std::time::Duration;
    use wflow_core::{CheckpointStore, RunOptions};
    // hitl asks through wait_for_event; waits returns an InputRequiredEvent.
    let cases = [
        (
            "hitl",
            json!({}),
            json!({"response": "Ada"}),
            json!("Hello, Ada!"),
        ),
        (
            "waits",
            json!({"mode": "ask"}),
            json!({"response": "42"}),
            json!("answered: 42"),
        ),
    ];
    for (name, start, answer, expected) in cases {
        let store = Arc::new(GatedCheckpoints::default());
        let options = RunOptions {
            checkpoint: Some(store.clone() as Arc<dyn CheckpointStore>),
            ..RunOptions::default()
        };
        let start = Event::new("StartEvent", &start).unwrap();
        let handler = workflow(name).await.run_with(start, options).unwrap();
        let mut stream = handler.stream_events().unwrap();
        let early = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
        assert!(
            early.is_err(),
            "{name}: {early:?} was streamed before any checkpoint was saved"
        );
        store.gate.add_permits(1_000);
        let prompt = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("the prompt follows the checkpoint")
            .unwrap();
        assert_eq!(prompt.name, "InputRequiredEvent", "{name}");
        let holding: Vec<Snapshot> = store
            .saved
            .lock()
            .unwrap()
            .iter()
            .filter(|saved| saved.held_prompts.contains(&prompt))
            .cloned()
            .collect();
        assert!(
            !holding.is_empty(),
            "{name}: no saved checkpoint holds the prompt"
        );
        handler
            .send_event(Event::new("HumanResponseEvent", &answer).unwrap())
            .unwrap();
        assert_eq!(handler.result().await.unwrap().result, expected, "{name}");

        // A run resumed from the checkpoint that held the prompt streams it
        // first, and takes its answer.
        let resumed = reload(name).await.resume(holding[0].clone()).unwrap();
        let mut stream = resumed.stream_events().unwrap();
        assert_eq!(stream.next().await.unwrap(), prompt, "{name} resumed");
        resumed
            .send_event(Event::new("HumanResponseEvent", &answer).unwrap())
            .unwrap();
        assert_eq!(
            resumed.result().await.unwrap().result,
            expected,
            "{name} resumed"
        );
    }
}
