//! The suite every [`Store`] implementation must pass (cargo feature
//! `testing`). An implementation's tests call [`conformance`] on a store,
//! or each check from its own test:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn a_failing_write_leaves_nothing_behind() {
//!     let store = Arc::new(MyStore::connect(..).await.unwrap());
//!     wflow_store::testing::failing_write_leaves_nothing(store).await;
//! }
//! ```
//!
//! Every check names its handlers with an id of its own, so the checks can
//! share one database (and run at once against it): they look only at the
//! handlers they wrote. They run tasks with `tokio::spawn`: call them within
//! a tokio runtime (multi-threaded, for writes that truly race). A check
//! that fails panics, naming what it expected.

use std::sync::Arc;

use tokio::sync::Barrier;
use tokio::task::JoinSet;

use wflow_api::{Envelope, HandlerResult, Status};
use wflow_core::CheckpointStore;

use crate::{HandlerCheckpoint, Store, StoreError, StoredHandler};

use self::fixtures::{
    assert_records, assert_same_record, envelope, expect_ok, load, numbers, record, snapshot,
    start, tag,
};

mod finish;
pub(crate) mod fixtures;

pub use self::finish::finishing_stores_the_record_and_the_terminal_event_together;

/// Runs every check on `store`, one after another.
pub async fn conformance(store: Arc<dyn Store>) {
    records_round_trip(&*store).await;
    running_and_single_handlers_load(&*store).await;
    failing_write_leaves_nothing(store.clone()).await;
    concurrent_writers_all_land(store.clone()).await;
    delete_removes_everything(&*store).await;
    sequences_come_back_as_stored(&*store).await;
    events_page_in_order(&*store).await;
    finishing_stores_the_record_and_the_terminal_event_together(&*store).await;
    concurrent_snapshots(store.clone()).await;
    deployments_round_trip(&*store).await;
    tenants_round_trip(&*store).await;
}

/// Deployment versions come back whole, in order, sharing bytes; a version
/// stored twice is a conflict that changes nothing; deleting one keeps the
/// bytes another version shares.
pub async fn deployments_round_trip(store: &dyn Store) {
    let tag = tag();
    let component = |name: &str, bytes: &[u8]| crate::DeployedComponent {
        file_name: name.to_string(),
        sha256: format!("{tag}-{}", bytes.len()),
        bytes: Arc::new(bytes.to_vec()),
    };
    let first = crate::StoredDeployment {
        tenant: tag.clone(),
        name: "joke".to_string(),
        version: 1,
        created_at: "2025-01-01T00:00:00.000000+00:00".to_string(),
        manifest: Some("[[components]]\npath = \"a.wasm\"\n".to_string()),
        components: vec![
            component("a.wasm", b"shared"),
            component("b.wasm", b"first!!"),
        ],
        deleted: false,
    };
    let second = crate::StoredDeployment {
        version: 2,
        manifest: None,
        components: vec![component("a.wasm", b"shared")],
        ..first.clone()
    };
    expect_ok(store.save_deployment(&first).await, "save_deployment");
    expect_ok(store.save_deployment(&second).await, "save_deployment");
    let again = store.save_deployment(&first).await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "a version stored twice is a conflict, got {again:?}"
    );
    let mine = |all: Vec<crate::StoredDeployment>| -> Vec<crate::StoredDeployment> {
        all.into_iter().filter(|d| d.tenant == tag).collect()
    };
    let stored = mine(expect_ok(store.deployments().await, "deployments"));
    let versions: Vec<(u64, Option<&str>)> = stored
        .iter()
        .map(|d| (d.version, d.manifest.as_deref()))
        .collect();
    assert_eq!(
        versions,
        [(1, first.manifest.as_deref()), (2, None)],
        "versions come back in order, with their manifests"
    );
    let files = |d: &crate::StoredDeployment| -> Vec<(String, Vec<u8>)> {
        d.components
            .iter()
            .map(|c| (c.file_name.clone(), c.bytes.to_vec()))
            .collect()
    };
    assert_eq!(
        files(&stored[0]),
        [
            ("a.wasm".to_string(), b"shared".to_vec()),
            ("b.wasm".to_string(), b"first!!".to_vec())
        ],
        "components come back whole, in order"
    );
    assert_eq!(
        files(&stored[1]),
        [("a.wasm".to_string(), b"shared".to_vec())]
    );
    assert!(expect_ok(
        store.delete_deployment(&tag, "joke", 1).await,
        "delete_deployment"
    ));
    assert!(
        !expect_ok(
            store.delete_deployment(&tag, "joke", 1).await,
            "delete_deployment"
        ),
        "a version deleted twice was not there the second time"
    );
    let stored = mine(expect_ok(store.deployments().await, "deployments"));
    assert_eq!(stored.len(), 2, "a deleted version keeps its number");
    assert!(stored[0].deleted && stored[0].components.is_empty());
    assert!(!stored[1].deleted);
    let again = store.save_deployment(&first).await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "a deleted version's number is not given again, got {again:?}"
    );
    assert_eq!(
        stored[1].components[0].bytes.as_slice(),
        b"shared",
        "bytes another version shares are kept"
    );
}

/// Tenants defined through the admin API come back as saved, a second
/// save replacing the first; a deleted one is gone.
pub async fn tenants_round_trip(store: &dyn Store) {
    let tag = tag();
    let tenant = |name: &str, definition: &str| crate::StoredTenant {
        name: format!("{tag}-{name}"),
        definition: definition.to_string(),
        updated_at: "2025-01-01T00:00:00.000000+00:00".to_string(),
    };
    let mine = |all: Vec<crate::StoredTenant>| -> Vec<crate::StoredTenant> {
        all.into_iter()
            .filter(|t| t.name.starts_with(&tag))
            .collect()
    };
    let acme = tenant("acme", r#"{"quotas":{}}"#);
    let globex = tenant("globex", r#"{"tokens":[]}"#);
    expect_ok(store.save_tenant(&globex).await, "save_tenant");
    expect_ok(store.save_tenant(&acme).await, "save_tenant");
    let stored = mine(expect_ok(store.tenants().await, "tenants"));
    assert_eq!(stored, [acme.clone(), globex.clone()], "by name, as saved");
    let changed = tenant("acme", r#"{"quotas":{"max_concurrent_runs":1}}"#);
    expect_ok(store.save_tenant(&changed).await, "save_tenant");
    assert!(expect_ok(
        store.delete_tenant(&globex.name).await,
        "delete_tenant"
    ));
    assert!(
        !expect_ok(store.delete_tenant(&globex.name).await, "delete_tenant"),
        "a tenant deleted twice was not there the second time"
    );
    let stored = mine(expect_ok(store.tenants().await, "tenants"));
    assert_eq!(stored, [changed], "a second save replaces the first");
}

/// Events come back with the sequences they were stored at: a sequence
/// never stored stays a gap, nothing is renumbered.
pub async fn sequences_come_back_as_stored(store: &dyn Store) {
    let tag = tag();
    let handler = record(&format!("{tag}-gap"), Status::Running);
    expect_ok(
        store.save_handler(&handler, &start(1)).await,
        "save_handler",
    );
    let events: Vec<(u64, Envelope)> = [0, 1, 4, 5]
        .into_iter()
        .map(|n| (n, envelope("Tick", n)))
        .collect();
    expect_ok(
        store.append_events(&handler.handler_id, &events).await,
        "append_events",
    );
    let stored = load(store, &handler.handler_id).await;
    let sequences: Vec<u64> = stored
        .events
        .iter()
        .map(|(sequence, _)| *sequence)
        .collect();
    assert_eq!(sequences, [0, 1, 4, 5], "sequences are kept, gaps and all");
    assert_eq!(numbers(&stored), [0, 1, 4, 5]);
}

/// A handler's events page in order from any cursor, gaps and all, and
/// only its own.
pub async fn events_page_in_order(store: &dyn Store) {
    let tag = tag();
    let handler = record(&format!("{tag}-pages"), Status::Running);
    let other = record(&format!("{tag}-other"), Status::Running);
    for saved in [&handler, &other] {
        expect_ok(store.save_handler(saved, &start(1)).await, "save_handler");
    }
    let events: Vec<(u64, Envelope)> = [0, 1, 2, 3, 5, 6]
        .into_iter()
        .map(|n| (n, envelope("Tick", n)))
        .collect();
    expect_ok(
        store.append_events(&handler.handler_id, &events).await,
        "append_events",
    );
    expect_ok(
        store
            .append_events(&other.handler_id, &[(4, envelope("Tick", 40))])
            .await,
        "append_events",
    );
    let id = handler.handler_id.as_str();
    let page = |after: i64, max: usize| async move {
        let events = store
            .events_after(id, after, max)
            .await
            .unwrap_or_else(|err| panic!("events_after failed: {err}"));
        events
            .into_iter()
            .map(|(sequence, envelope)| (sequence, envelope.value["n"].as_u64()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        page(-1, 3).await,
        [(0, Some(0)), (1, Some(1)), (2, Some(2))]
    );
    assert_eq!(
        page(2, 10).await,
        [(3, Some(3)), (5, Some(5)), (6, Some(6))],
        "a gap stays a gap; another handler's events are not read"
    );
    assert!(page(6, 10).await.is_empty());
    assert!(page(-1, 0).await.is_empty());
}

/// Records come back as saved and updated, oldest first; a reused id's
/// `save_handler` replaces its record and start event.
pub async fn records_round_trip(store: &dyn Store) {
    let tag = tag();
    let running = record(&format!("{tag}-running"), Status::Running);
    let mut completed = record(&format!("{tag}-completed"), Status::Completed);
    completed.run_id = Some("run-1".to_string());
    completed.result = Some(HandlerResult::Event(envelope("StopEvent", 7)));
    completed.updated_at = Some("2025-01-01T00:00:01.000000+00:00".to_string());
    completed.completed_at = Some("2025-01-01T00:00:02.000000+00:00".to_string());
    completed.tenant = "acme".to_string();
    completed.version = Some(3);
    completed.trace = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string());
    let mut failed = record(&format!("{tag}-failed"), Status::Failed);
    failed.error = Some("boom: it broke".to_string());
    failed.tenant = "globex".to_string();
    for saved in [&running, &completed, &failed] {
        expect_ok(store.save_handler(saved, &start(1)).await, "save_handler");
    }
    assert_records(store, &tag, &[&running, &completed, &failed]).await;
    for (tenant, expected) in [("acme", &completed), ("globex", &failed)] {
        let mine: Vec<String> = expect_ok(store.records_of(tenant).await, "records_of")
            .into_iter()
            .filter(|record| record.handler_id.starts_with(&tag))
            .map(|record| record.handler_id)
            .collect();
        assert_eq!(mine, [expected.handler_id.as_str()], "only {tenant}'s");
    }
    let counted = format!("{tag}-tenant");
    for n in 0..3 {
        let mut handler = record(&format!("{tag}-counted-{n}"), Status::Completed);
        handler.tenant = counted.clone();
        expect_ok(
            store.save_handler(&handler, &start(1)).await,
            "save_handler",
        );
    }
    let counts = expect_ok(store.handler_counts().await, "handler_counts");
    assert!(
        counts.contains(&(counted.clone(), 3)),
        "{counted} has 3 handlers: {counts:?}"
    );
    for n in 0..3 {
        let id = format!("{tag}-counted-{n}");
        expect_ok(store.delete_handler(&id).await, "delete_handler");
    }

    let mut finished = running.clone();
    finished.status = Status::Cancelled;
    finished.run_id = Some("run-2".to_string());
    finished.updated_at = Some("2025-01-01T00:00:03.000000+00:00".to_string());
    finished.completed_at = finished.updated_at.clone();
    expect_ok(store.update_handler(&finished).await, "update_handler");
    assert_records(store, &tag, &[&finished, &completed, &failed]).await;

    let mut again = failed.clone();
    again.status = Status::Running;
    again.error = None;
    expect_ok(store.save_handler(&again, &start(2)).await, "save_handler");
    let stored = load(store, &again.handler_id).await;
    assert_same_record(&stored.record, &again);
    assert_eq!(
        stored.start,
        start(2),
        "save_handler replaces the start event"
    );
}

/// `load_running` gives the running handlers, oldest first, each with its
/// start event, events in sequence order and last checkpoint; `load_handler`
/// gives any one handler, or `None`.
pub async fn running_and_single_handlers_load(store: &dyn Store) {
    let tag = tag();
    let first = record(&format!("{tag}-first"), Status::Running);
    let done = record(&format!("{tag}-done"), Status::Completed);
    let second = record(&format!("{tag}-second"), Status::Running);
    expect_ok(store.save_handler(&first, &start(1)).await, "save_handler");
    expect_ok(store.save_handler(&done, &start(2)).await, "save_handler");
    expect_ok(store.save_handler(&second, &start(3)).await, "save_handler");
    // Out of order, in two writes: read back by sequence.
    let later: Vec<(u64, Envelope)> = (2..4).map(|n| (n, envelope("Tick", n))).collect();
    let earlier: Vec<(u64, Envelope)> = (0..2).map(|n| (n, envelope("Tick", n))).collect();
    expect_ok(
        store.append_events(&first.handler_id, &later).await,
        "append_events",
    );
    expect_ok(
        store.append_events(&first.handler_id, &earlier).await,
        "append_events",
    );
    expect_ok(
        store
            .append_event(&done.handler_id, 0, &envelope("StopEvent", 9))
            .await,
        "append_event",
    );
    let checkpoint = snapshot("run-first", 1);
    expect_ok(
        store.save_snapshot(&first.handler_id, &checkpoint).await,
        "save_snapshot",
    );

    let running: Vec<StoredHandler> = expect_ok(store.load_running().await, "load_running")
        .into_iter()
        .filter(|stored| stored.record.handler_id.starts_with(&tag))
        .collect();
    let ids: Vec<&str> = running
        .iter()
        .map(|s| s.record.handler_id.as_str())
        .collect();
    assert_eq!(ids, [first.handler_id.as_str(), second.handler_id.as_str()]);
    assert_eq!(running[0].start, start(1));
    assert_eq!(numbers(&running[0]), [0, 1, 2, 3]);
    assert_eq!(running[0].snapshot.as_ref(), Some(&checkpoint));
    assert_eq!(running[1].start, start(3));
    assert!(running[1].events.is_empty() && running[1].snapshot.is_none());

    let finished = load(store, &done.handler_id).await;
    assert_same_record(&finished.record, &done);
    assert_eq!(finished.start, start(2));
    assert_eq!(numbers(&finished), [9]);
    let unknown = expect_ok(
        store.load_handler(&format!("{tag}-unknown")).await,
        "load_handler",
    );
    assert!(unknown.is_none(), "an unknown handler loads as None");
}

/// A write that fails on its second statement leaves nothing behind (its
/// first event is not stored), fails alone while many other writes are
/// committed at the same moment, and is a [`StoreError::Conflict`].
pub async fn failing_write_leaves_nothing(store: Arc<dyn Store>) {
    let tag = tag();
    let victim = format!("{tag}-victim");
    expect_ok(
        store
            .save_handler(&record(&victim, Status::Running), &start(0))
            .await,
        "save_handler",
    );
    expect_ok(
        store.append_event(&victim, 0, &envelope("Tick", 0)).await,
        "append_event",
    );
    const OTHERS: usize = 24;
    let barrier = Arc::new(Barrier::new(OTHERS + 1));
    let mut others = JoinSet::new();
    for writer in 0..OTHERS {
        let (store, barrier, id) = (store.clone(), barrier.clone(), format!("{tag}-{writer}"));
        others.spawn(async move {
            expect_ok(
                store
                    .save_handler(&record(&id, Status::Running), &start(0))
                    .await,
                "save_handler",
            );
            barrier.wait().await;
            for n in 0..4 {
                expect_ok(
                    store.append_event(&id, n, &envelope("Tick", n)).await,
                    "append_event beside a failing write",
                );
            }
        });
    }
    barrier.wait().await;
    // Sequence 1 is new, sequence 0 is taken: the second statement fails.
    let colliding = [(1, envelope("Tick", 1)), (0, envelope("Tick", 100))];
    let failure = store.append_events(&victim, &colliding).await;
    assert!(
        matches!(failure, Err(StoreError::Conflict { .. })),
        "a sequence already stored is a Conflict, got {failure:?}"
    );
    while let Some(joined) = others.join_next().await {
        joined.expect("a writer beside the failing write");
    }
    assert_eq!(numbers(&load(store.as_ref(), &victim).await), [0]);
    for writer in 0..OTHERS {
        let stored = load(store.as_ref(), &format!("{tag}-{writer}")).await;
        assert_eq!(numbers(&stored), [0, 1, 2, 3], "the other writes landed");
    }
    // The failed write took nothing with it: sequence 1 is still free.
    expect_ok(
        store.append_event(&victim, 1, &envelope("Tick", 1)).await,
        "append_event after a failed write",
    );
    assert_eq!(numbers(&load(store.as_ref(), &victim).await), [0, 1]);
}

/// Many tasks writing at once (records, events one by one, checkpoints,
/// updates): every write lands, each handler's events in sequence order.
pub async fn concurrent_writers_all_land(store: Arc<dyn Store>) {
    const WRITERS: u64 = 16;
    const EVENTS: u64 = 25;
    let tag = tag();
    let barrier = Arc::new(Barrier::new(WRITERS as usize));
    let mut writers = JoinSet::new();
    for writer in 0..WRITERS {
        let (store, barrier, tag) = (store.clone(), barrier.clone(), tag.clone());
        writers.spawn(async move {
            let id = format!("{tag}-{writer:02}");
            let mut saved = record(&id, Status::Running);
            barrier.wait().await;
            expect_ok(
                store.save_handler(&saved, &start(writer)).await,
                "save_handler",
            );
            for n in 0..EVENTS {
                expect_ok(
                    store.append_event(&id, n, &envelope("Tick", n)).await,
                    "append_event",
                );
            }
            let checkpoint = snapshot(&id, writer);
            expect_ok(store.save_snapshot(&id, &checkpoint).await, "save_snapshot");
            if writer % 2 == 0 {
                saved.status = Status::Completed;
                expect_ok(store.update_handler(&saved).await, "update_handler");
            }
        });
    }
    while let Some(joined) = writers.join_next().await {
        joined.expect("a concurrent writer");
    }
    for writer in 0..WRITERS {
        let stored = load(store.as_ref(), &format!("{tag}-{writer:02}")).await;
        assert_eq!(numbers(&stored), (0..EVENTS).collect::<Vec<_>>());
        assert_eq!(stored.start, start(writer));
        let expected = snapshot(&stored.record.handler_id, writer);
        assert_eq!(stored.snapshot.as_ref(), Some(&expected));
        let status = if writer % 2 == 0 {
            Status::Completed
        } else {
            Status::Running
        };
        assert_eq!(stored.record.status, status);
    }
    let running = expect_ok(store.load_running().await, "load_running");
    let mine = running
        .iter()
        .filter(|stored| stored.record.handler_id.starts_with(&tag))
        .count();
    assert_eq!(mine as u64, WRITERS / 2);
}

/// `delete_handler` forgets the record, the events and the checkpoint, and
/// only them: a reused id starts empty.
pub async fn delete_removes_everything(store: &dyn Store) {
    let tag = tag();
    let (gone, kept) = (format!("{tag}-gone"), format!("{tag}-kept"));
    for id in [&gone, &kept] {
        expect_ok(
            store
                .save_handler(&record(id, Status::Running), &start(1))
                .await,
            "save_handler",
        );
        let events: Vec<(u64, Envelope)> = (0..3).map(|n| (n, envelope("Tick", n))).collect();
        expect_ok(store.append_events(id, &events).await, "append_events");
        expect_ok(
            store.save_snapshot(id, &snapshot(id, 1)).await,
            "save_snapshot",
        );
    }
    expect_ok(store.delete_handler(&gone).await, "delete_handler");
    let loaded = expect_ok(store.load_handler(&gone).await, "load_handler");
    assert!(loaded.is_none(), "a deleted handler is gone");
    let records = expect_ok(store.records().await, "records");
    assert!(!records.iter().any(|r| r.handler_id == gone));
    let running = expect_ok(store.load_running().await, "load_running");
    assert!(!running.iter().any(|s| s.record.handler_id == gone));
    let other = load(store, &kept).await;
    assert_eq!(numbers(&other), [0, 1, 2]);
    assert!(
        other.snapshot.is_some(),
        "another handler keeps its checkpoint"
    );

    // The id again: no events, no checkpoint, sequences free.
    expect_ok(
        store
            .save_handler(&record(&gone, Status::Running), &start(2))
            .await,
        "save_handler",
    );
    let reused = load(store, &gone).await;
    assert!(reused.events.is_empty() && reused.snapshot.is_none());
    expect_ok(
        store.append_event(&gone, 0, &envelope("Tick", 5)).await,
        "append_event",
    );
    assert_eq!(numbers(&load(store, &gone).await), [5]);
}

/// Many handlers' runs checkpoint at once, directly and through
/// [`HandlerCheckpoint`] (as a run does): each handler keeps its last one.
pub async fn concurrent_snapshots(store: Arc<dyn Store>) {
    const HANDLERS: u64 = 32;
    const SAVES: u64 = 8;
    let tag = tag();
    let barrier = Arc::new(Barrier::new(HANDLERS as usize));
    let mut runs = JoinSet::new();
    for handler in 0..HANDLERS {
        let (store, barrier) = (store.clone(), barrier.clone());
        let id = format!("{tag}-{handler:02}");
        runs.spawn(async move {
            expect_ok(
                store
                    .save_handler(&record(&id, Status::Running), &start(handler))
                    .await,
                "save_handler",
            );
            let checkpoint = HandlerCheckpoint {
                store: store.clone(),
                handler_id: id.clone(),
            };
            barrier.wait().await;
            for save in 0..SAVES {
                let taken = snapshot(&id, handler * 100 + save);
                if save % 2 == 0 {
                    expect_ok(store.save_snapshot(&id, &taken).await, "save_snapshot");
                } else if let Err(err) = checkpoint.save(&taken).await {
                    panic!("HandlerCheckpoint::save: {err}");
                }
            }
        });
    }
    while let Some(joined) = runs.join_next().await {
        joined.expect("a checkpointing run");
    }
    let running = expect_ok(store.load_running().await, "load_running");
    for handler in 0..HANDLERS {
        let id = format!("{tag}-{handler:02}");
        let stored = running
            .iter()
            .find(|stored| stored.record.handler_id == id)
            .unwrap_or_else(|| panic!("{id} is running"));
        let last = snapshot(&id, handler * 100 + SAVES - 1);
        assert_eq!(
            stored.snapshot.as_ref(),
            Some(&last),
            "{id}'s last checkpoint"
        );
    }
}
