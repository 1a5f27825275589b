//! The app's builder, without a workflow: handlers of a workflow the server
//! does not serve are restored as stored.

use std::sync::Arc;

use wflow_api::{HandlerRecord, Status, now};
use wflow_core::Event;

use crate::{App, SqliteStore, Store};

fn record(id: &str, status: Status) -> HandlerRecord {
    HandlerRecord {
        handler_id: id.to_string(),
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
