use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::params;
use tempfile::TempDir;

use super::SqliteStore;
use super::queries::failed;
use crate::testing;
use crate::{Store, StoreError};

/// A store in a fresh file; keep the folder alive as long as the store.
fn fresh() -> (TempDir, PathBuf, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).expect("the store opens");
    (dir, path, Arc::new(store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_conformance_suite_on_one_file() {
    let (_dir, _, store) = fresh();
    testing::conformance(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_conformance_suite_in_memory() {
    let store = SqliteStore::open(":memory:".as_ref()).expect("opens");
    assert!(
        store.reader.is_none(),
        "the writer's thread serves the reads"
    );
    testing::conformance(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_round_trip() {
    let (_dir, _, store) = fresh();
    testing::records_round_trip(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn running_and_single_handlers_load() {
    let (_dir, _, store) = fresh();
    testing::running_and_single_handlers_load(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_failing_on_its_second_statement_leaves_nothing() {
    let (_dir, _, store) = fresh();
    testing::failing_write_leaves_nothing(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_land() {
    let (_dir, _, store) = fresh();
    testing::concurrent_writers_all_land(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finishing_stores_the_record_and_the_terminal_event_together() {
    let (_dir, _, store) = fresh();
    testing::finishing_stores_the_record_and_the_terminal_event_together(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_removes_everything() {
    let (_dir, _, store) = fresh();
    testing::delete_removes_everything(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_runs_checkpoint_at_once() {
    let (_dir, _, store) = fresh();
    testing::concurrent_snapshots(store).await;
}

#[tokio::test(flavor = "current_thread")]
async fn works_on_a_single_threaded_runtime() {
    let (_dir, _, store) = fresh();
    testing::concurrent_writers_all_land(store).await;
}

/// Inserts event `sequence` of handler `h`, then fails when `fail`.
fn event_then(
    sequence: i64,
    fail: bool,
) -> impl Fn(&rusqlite::Connection) -> Result<(), StoreError> {
    move |connection| {
        connection
            .execute(
                "INSERT INTO events (handler_id, sequence, envelope) VALUES ('h', ?1, '{}')",
                params![sequence],
            )
            .map_err(failed("cannot store an event"))?;
        if fail {
            connection
                .execute("INSERT INTO nowhere VALUES (1)", [])
                .map_err(failed("cannot write"))?;
        }
        Ok(())
    }
}

async fn stored_sequences(store: &SqliteStore) -> Vec<i64> {
    store
        .read(|connection| {
            let mut select = connection
                .prepare("SELECT sequence FROM events WHERE handler_id = 'h' ORDER BY sequence")
                .map_err(failed("cannot read"))?;
            let rows = select
                .query_map([], |row| row.get(0))
                .map_err(failed("cannot read"))?;
            rows.collect::<Result<Vec<i64>, _>>()
                .map_err(failed("cannot read"))
        })
        .await
        .expect("reads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_write_is_rolled_back_to_its_savepoint_and_fails_alone() {
    let (_dir, _, store) = fresh();
    // Many writes at once, so that they share transactions; every third
    // fails after its first statement.
    let writes = (0..60).map(|sequence| {
        let store = store.clone();
        tokio::spawn(async move { store.write(event_then(sequence, sequence % 3 == 0)).await })
    });
    let outcomes = futures_join(writes).await;
    for (sequence, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Err(StoreError::Database { cause, .. }) if sequence % 3 == 0 => {
                assert!(cause.to_string().contains("nowhere"), "{cause}");
            }
            Ok(()) if sequence % 3 != 0 => {}
            other => panic!("write {sequence}: {other:?}"),
        }
    }
    let expected: Vec<i64> = (0..60).filter(|sequence| sequence % 3 != 0).collect();
    assert_eq!(stored_sequences(&store).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_others_are_written_again_when_a_failure_rolls_the_transaction_back() {
    let (_dir, _, store) = fresh();
    // A write that loses the whole transaction, as SQLite does on a full
    // disk or an I/O error, among writes that succeed.
    let writes = (0..40).map(|sequence| {
        let store = store.clone();
        tokio::spawn(async move {
            if sequence == 20 {
                store
                    .write(|connection| {
                        let _ = connection.execute_batch("ROLLBACK");
                        Err(StoreError::Database {
                            action: "cannot write",
                            cause: "the disk is full".into(),
                        })
                    })
                    .await
            } else {
                store.write(event_then(sequence, false)).await
            }
        })
    });
    let outcomes = futures_join(writes).await;
    for (sequence, outcome) in outcomes.iter().enumerate() {
        assert_eq!(
            outcome.is_ok(),
            sequence != 20,
            "write {sequence}: {outcome:?}"
        );
    }
    let expected: Vec<i64> = (0..40).filter(|sequence| *sequence != 20).collect();
    assert_eq!(stored_sequences(&store).await, expected);
}

async fn futures_join(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<Result<(), StoreError>>>,
) -> Vec<Result<(), StoreError>> {
    let mut outcomes = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        outcomes.push(task.await.expect("a writer"));
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_write_survives_closing_and_opening_again() {
    let (_dir, path, store) = fresh();
    testing::concurrent_writers_all_land(store.clone()).await;
    let before = store.records().await.expect("records");
    // Dropping the last handle ends the threads and closes the file.
    drop(store);
    let store = SqliteStore::open(&path).expect("opens again");
    let after = store.records().await.expect("records");
    assert_eq!(after.len(), before.len());
    assert_eq!(
        store.load_running().await.expect("load_running").len(),
        before.iter().filter(|r| !r.status.is_terminal()).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_answers_closed() {
    let (_dir, _, store) = fresh();
    let mut store = Arc::try_unwrap(store).unwrap_or_else(|_| panic!("one handle"));
    // As when the thread has ended: its channel is gone.
    store.reader = None;
    store.writer = super::thread::Worker::closed();
    assert!(matches!(store.records().await, Err(StoreError::Closed)));
    assert!(matches!(
        store.delete_handler("h").await,
        Err(StoreError::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployments_round_trip() {
    let (_dir, _path, store) = fresh();
    testing::deployments_round_trip(&*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenants_round_trip() {
    let (_dir, _path, store) = fresh();
    testing::tenants_round_trip(&*store).await;
}
