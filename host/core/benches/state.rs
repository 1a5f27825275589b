//! The state store's paths and run snapshots.
//!
//! `cargo bench -p wflow-host --bench state`.
//!
//! - `state/get_path`, `state/set_path`: a dotted path three levels deep in
//!   an untyped state of ~100 keys; `state/set_path_typed` the same set on a
//!   typed state, whose schema is checked on every commit.
//! - `state/edit`: a transactional edit (writer lock, clone, commit).
//! - `snapshot/{to,from}_json_{small,large}`: a run waiting for a human
//!   (small), and the same with 10,000 entries in its state (large).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use wflow_core::{Snapshot, StateStore, StateType, names};

fn sample_state() -> Value {
    let mut users = serde_json::Map::new();
    for i in 0..100 {
        users.insert(
            format!("u{i}"),
            json!({"profile": {"name": format!("user {i}"), "age": i}, "tags": ["a", "b"]}),
        );
    }
    json!({"count": 0, "users": users})
}

fn bench_state(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let untyped = StateStore::new();
    runtime
        .block_on(untyped.set_state(sample_state()))
        .expect("state set");
    let schema = json!({
        "type": "object",
        "properties": {"count": {"type": "integer"}, "users": {"type": "object"}},
        "required": ["count"]
    });
    let typed = StateStore::typed(StateType::new(schema, sample_state()).expect("state type"));

    let mut group = c.benchmark_group("state");
    group.bench_function("get_path", |b| {
        b.iter(|| untyped.get("users.u42.profile.name").expect("path"))
    });
    group.bench_function("set_path", |b| {
        b.to_async(&runtime).iter(|| async {
            untyped
                .set("users.u42.profile.age", json!(43))
                .await
                .expect("set")
        })
    });
    group.bench_function("set_path_typed", |b| {
        b.to_async(&runtime).iter(|| async {
            typed
                .set("users.u42.profile.age", json!(43))
                .await
                .expect("set")
        })
    });
    group.bench_function("edit", |b| {
        b.to_async(&runtime).iter(|| async {
            untyped
                .edit(|state| {
                    let count = state["count"].as_u64().unwrap_or(0);
                    state["count"] = json!(count + 1);
                })
                .await
                .expect("edit")
        })
    });
    group.finish();
}

fn bench_snapshot(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let workflow = runtime.block_on(wflow_tests::workflow("bench-ask"));
    let snapshot_of = |state: Option<Value>| {
        runtime.block_on(async {
            let handler = workflow.run(json!({"user": 1})).expect("run starts");
            let mut stream = handler.stream_events().expect("stream");
            while let Some(event) = stream.next().await {
                if event.name == names::INPUT_REQUIRED {
                    break;
                }
            }
            if let Some(state) = state {
                handler.store().set("big", state).await.expect("state set");
            }
            let snapshot = handler.snapshot().await.expect("snapshot");
            handler.cancel();
            snapshot
        })
    };
    let entries: Vec<Value> = (0..10_000)
        .map(|i| json!({"id": i, "name": format!("item {i}")}))
        .collect();
    let small = snapshot_of(None);
    let large = snapshot_of(Some(Value::Array(entries)));

    let mut group = c.benchmark_group("snapshot");
    for (name, snapshot) in [("small", &small), ("large", &large)] {
        let text = snapshot.to_json().expect("to_json");
        group.bench_function(format!("to_json_{name}"), |b| {
            b.iter(|| snapshot.to_json().expect("to_json"))
        });
        group.bench_function(format!("from_json_{name}"), |b| {
            b.iter_batched(
                || text.clone(),
                |text| Snapshot::from_json(&text).expect("from_json"),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_state, bench_snapshot);
criterion_main!(benches);
