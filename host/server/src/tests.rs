//! The app's builder, without a workflow: handlers of a workflow the server
//! does not serve are restored as stored.

use std::sync::Arc;

use wflow_api::{HandlerRecord, Status, now};
use wflow_core::Event;

use crate::{App, SqliteStore, Store};

fn record(id: &str, status: Status) -> HandlerRecord {
    HandlerRecord {
        handler_id: id.to_string(),
        tenant: String::new(),
        version: None,
        trace: None,
        workflow_name: "served-elsewhere".to_string(),
        run_id: None,
        error: None,
        result: None,
        result_unreadable: false,
        status,
        started_at: now(),
        updated_at: None,
        completed_at: None,
    }
}

/// A store holding two unfinished handlers and one finished.
async fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let store = SqliteStore::open(&dir.path().join("handlers.db")).expect("the store opens");
    let start = Event {
        name: "StartEvent".to_string(),
        data: "{}".to_string(),
    };
    for (id, status) in [
        ("first", Status::Running),
        ("done", Status::Completed),
        ("second", Status::Running),
    ] {
        store
            .save_handler(&record(id, status), &start)
            .await
            .expect("saves");
    }
    Arc::new(store)
}

fn in_memory(app: &App) -> Vec<String> {
    let mut ids: Vec<String> = app
        .handlers
        .all()
        .iter()
        .map(|entry| entry.record().handler_id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_finished_and_with_store_may_come_in_either_order() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = store(&dir).await;
    let store_first = App::new(Vec::new())
        .expect("an app")
        .with_store(store.clone())
        .await
        .expect("restores")
        .with_keep_finished(1);
    let keep_first = App::new(Vec::new())
        .expect("an app")
        .with_keep_finished(1)
        .with_store(store)
        .await
        .expect("restores");
    for app in [&store_first, &keep_first] {
        assert_eq!(in_memory(app), ["first", "second"]);
        // The limit holds either way: of three finished handlers, one stays.
        for id in ["old", "older", "newest"] {
            app.handlers
                .restore(record(id, Status::Failed), Vec::new(), None, None);
        }
        assert_eq!(in_memory(app), ["first", "newest", "second"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_handler_is_reported_failed_and_the_rest_start() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("handlers.db");
    let store = store(&dir).await;
    let envelope = wflow_api::Envelope {
        value: serde_json::json!({}),
        qualified_name: None,
        type_name: "Progress".to_string(),
        types: None,
    };
    for id in ["first", "second"] {
        store.append_event(id, 0, &envelope).await.expect("appends");
    }
    drop(store);
    // Damage one event of `first`, as a torn or tampered file would.
    let connection = rusqlite::Connection::open(&path).expect("opens");
    let changed = connection
        .execute(
            "UPDATE events SET envelope = 'not json' WHERE handler_id = 'first'",
            [],
        )
        .expect("damages");
    assert_eq!(changed, 1);
    drop(connection);

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("opens again"));
    let app = App::new(Vec::new())
        .expect("an app")
        .with_store(store.clone())
        .await
        .expect("a damaged handler does not stop the server");
    let first = app.handlers.get("first").expect("first is listed").record();
    assert_eq!(first.status, Status::Failed);
    let error = first.error.unwrap_or_default();
    assert!(
        error.contains("damaged") && error.contains("event 0 is not valid"),
        "{error}"
    );
    let second = app
        .handlers
        .get("second")
        .expect("second is listed")
        .record();
    assert_eq!(second.status, Status::Running, "the whole one is untouched");
    // The verdict is stored: the next start does not retry the damaged run.
    let stored = store
        .load_handler("first")
        .await
        .expect("reads")
        .expect("kept");
    assert_eq!(stored.record.status, Status::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_checkpoint_fails_its_handler_and_the_rest_start() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("handlers.db");
    drop(store(&dir).await);
    // A checkpoint of `second` that is not a snapshot at all.
    let connection = rusqlite::Connection::open(&path).expect("opens");
    connection
        .execute(
            "INSERT INTO snapshots (handler_id, snapshot) VALUES ('second', '{\"format\": 7, garbage')",
            [],
        )
        .expect("damages");
    drop(connection);

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("opens again"));
    let app = App::new(Vec::new())
        .expect("an app")
        .with_store(store)
        .await
        .expect("a garbage checkpoint does not stop the server");
    let second = app.handlers.get("second").expect("listed").record();
    assert_eq!(second.status, Status::Failed);
    let error = second.error.unwrap_or_default();
    assert!(
        error.contains("damaged") && error.contains("its checkpoint is not valid"),
        "{error}"
    );
    let first = app.handlers.get("first").expect("listed").record();
    assert_eq!(first.status, Status::Running, "the whole one is untouched");
}
