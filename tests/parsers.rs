//! Property tests of the parsers that read what the host is handed or finds
//! on disk: the manifest (`workflow.toml`), the snapshot (a checkpoint file or
//! a stored checkpoint) and the stored event envelope. Each gets random text
//! and valid documents with random damage; none may panic, every refusal must
//! say something, and a damaged snapshot that still parses must resume into a
//! run that ends (or is refused) cleanly.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};
use wflow_api::envelope::Envelope;
use wflow_core::{Event, Manifest, Snapshot};
use wflow_tests::props::{damaged, damaged_json, json_damage, runner, text_damage};
use wflow_tests::workflow;

/// A manifest using every table.
const MANIFEST: &str = r#"
name = "joke"
timeout = "60s"
reuse_instances = true
[[components]]
path = "joke.wasm"
[limits]
memory = "64MiB"
max_event_bytes = "1MiB"
instance_wait = "5s"
max_instances = 4
[steps.critique]
num_workers = 2
timeout = "5s"
retry = { max_attempts = 4, delay = "100ms", backoff = "exponential", jitter = 0.1 }
[resources.settings]
config = { model = "small" }
steps = ["critique"]
"#;

#[test]
fn the_manifest_parser_refuses_damage_with_a_reason_and_never_panics() {
    assert!(
        Manifest::parse(MANIFEST).is_ok(),
        "the seed document parses"
    );
    let mut runner = runner(2_000);
    runner
        .run(&".{0,200}", |text| {
            if let Err(err) = Manifest::parse(&text) {
                prop_assert!(!err.is_empty());
            }
            Ok(())
        })
        .unwrap();
    runner
        .run(&prop::collection::vec(text_damage(), 1..4), |damage| {
            let text = damage
                .iter()
                .fold(MANIFEST.to_string(), |text, d| damaged(&text, d));
            if let Err(err) = Manifest::parse(&text) {
                prop_assert!(!err.is_empty());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_envelope_parser_refuses_damage_and_never_panics() {
    let seed = json!({
        "value": {"_data": {"prefix": "What's your name? "}, "user": "ada"},
        "qualified_name": "workflows.events.InputRequiredEvent",
        "type": "InputRequiredEvent",
        "types": ["InputRequiredEvent", "Event"],
    });
    let envelope: Envelope = serde_json::from_value(seed.clone()).unwrap();
    assert!(envelope.to_event().is_ok(), "the seed envelope converts");
    let mut runner = runner(2_000);
    runner
        .run(&json_damage(), |damage| {
            let doc = damaged_json(&seed, &damage);
            // As the store reads one back: from text.
            if let Ok(envelope) = serde_json::from_str::<Envelope>(&doc.to_string()) {
                let _ = envelope.is_terminal();
                let _ = envelope.result();
                if let Err(err) = envelope.to_event() {
                    prop_assert!(!err.to_string().is_empty());
                }
            }
            Ok(())
        })
        .unwrap();
    runner
        .run(&".{0,200}", |text| {
            let _ = serde_json::from_str::<Envelope>(&text);
            Ok(())
        })
        .unwrap();
}

/// A snapshot of a `waits` run waiting for Ada's approval: queues, a waiter,
/// state and a held position, all of it in play.
async fn waiting_snapshot() -> (wflow_core::Workflow, Value) {
    let waits = workflow("waits").await;
    let handler = waits.run(json!({"mode": "require"})).unwrap();
    let mut stream = handler.stream_events().unwrap();
    assert_eq!(stream.next().await.unwrap().name, "InputRequiredEvent");
    let snapshot = handler.snapshot().await.unwrap();
    handler.cancel();
    let text = snapshot.to_json().unwrap();
    (waits, serde_json::from_str(&text).unwrap())
}

#[test]
fn a_damaged_snapshot_is_refused_or_resumes_into_a_run_that_ends() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (waits, seed) = tokio.block_on(waiting_snapshot());
    let intact = Snapshot::from_json(&seed.to_string()).unwrap();
    tokio.block_on(async {
        let handler = waits.resume(intact).expect("the intact snapshot resumes");
        handler.cancel();
        let _ = handler.result().await;
    });
    let approval = Event::new("Approval", &json!({"user": "ada", "ok": true})).unwrap();
    // Runs start on this runtime.
    let _inside = tokio.enter();
    let resumed = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = runner(200);
    runner
        .run(&prop::collection::vec(json_damage(), 1..3), |damage| {
            let doc = damage
                .iter()
                .fold(seed.clone(), |doc, d| damaged_json(&doc, d));
            let snapshot = match Snapshot::from_json(&doc.to_string()) {
                Ok(snapshot) => snapshot,
                Err(err) => {
                    prop_assert!(!err.to_string().is_empty());
                    return Ok(());
                }
            };
            let handler = match waits.resume(snapshot) {
                Ok(handler) => handler,
                Err(err) => {
                    prop_assert!(!err.to_string().is_empty());
                    return Ok(());
                }
            };
            resumed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Whatever the damage, the run takes its answer or ends: answer,
            // give it a moment, then cancel; it must report an outcome.
            let _ = handler.send_event(approval.clone());
            let ended = tokio.block_on(async {
                let _ = tokio::time::timeout(Duration::from_millis(100), handler.result()).await;
                handler.cancel();
                tokio::time::timeout(Duration::from_secs(30), handler.result()).await
            });
            prop_assert!(ended.is_ok(), "a resumed run did not end after a cancel");
            Ok(())
        })
        .unwrap();
    assert!(
        resumed.into_inner() > 0,
        "no damaged snapshot resumed: the test tests nothing"
    );
    let text_cases = runner.run(&".{0,300}", |text| {
        if let Err(err) = Snapshot::from_json(&text) {
            prop_assert!(!err.to_string().is_empty());
        }
        Ok(())
    });
    text_cases.unwrap();
}
