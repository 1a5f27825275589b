//! The store suite against a real PostgreSQL: the database named by
//! `WFLOW_TEST_POSTGRES` (a connection URL). Without it the tests say so
//! and pass, except in CI (`CI` set), where they fail: CI starts a
//! throwaway cluster for them (`.ci/run`).

use std::sync::Arc;
use std::time::Duration;

use wflow_api::Status;

use super::PostgresStore;
use crate::testing::fixtures::{envelope, numbers, record, snapshot, start};
use crate::{Cluster, Delivery, HostConfig, Notice, Store, StoreError, testing};

/// The store under test, or `None` (outside CI) when no database is given.
async fn store() -> Option<Arc<PostgresStore>> {
    let Ok(url) = std::env::var("WFLOW_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the PostgreSQL store's tests: set WFLOW_TEST_POSTGRES (.ci/run does)"
        );
        eprintln!("WFLOW_TEST_POSTGRES is not set: the PostgreSQL store is not tested here");
        return None;
    };
    Some(Arc::new(
        PostgresStore::connect(&url).await.expect("connects"),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_conformance_suite() {
    if let Some(store) = store().await {
        testing::conformance(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hosts_migrating_at_once_migrate_once() {
    let Ok(url) = std::env::var("WFLOW_TEST_POSTGRES") else {
        return;
    };
    let (a, b) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
    a.expect("the first connects");
    b.expect("the second connects");
}

/// A database of its own on the server `WFLOW_TEST_POSTGRES` names (a
/// key=value connection string), so that no other test's runs are there
/// to be claimed; `None` outside CI without one.
async fn fresh_database() -> Option<String> {
    let Ok(url) = std::env::var("WFLOW_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the PostgreSQL store's tests: set WFLOW_TEST_POSTGRES (.ci/run does)"
        );
        return None;
    };
    let name = format!("wflow_{}", fastrand::u64(..));
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("creates a database");
    Some(format!("{url} dbname={name}"))
}

fn host(id: &str, lease_ms: u64) -> HostConfig {
    HostConfig {
        id: id.to_string(),
        lease: Duration::from_millis(lease_ms),
    }
}

async fn save_running(store: &PostgresStore, id: &str) {
    store
        .save_handler(&record(id, Status::Running), &start(0))
        .await
        .expect("saves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_hosts_runs_are_claimed_after_their_lease_and_its_writes_are_fenced() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let a = PostgresStore::connect_as(&url, host("a", 800))
        .await
        .unwrap();
    let b = PostgresStore::connect_as(&url, host("b", 800))
        .await
        .unwrap();
    save_running(&a, "h1").await;
    a.append_event("h1", 0, &envelope("Tick", 0)).await.unwrap();
    assert!(
        b.claim(10).await.unwrap().is_empty(),
        "a live lease is not claimed"
    );
    assert_eq!(a.held(), 1);

    // A stops renewing: once its lease is over, B takes the run, whole.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let claimed = b.claim(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].record.handler_id, "h1");
    assert_eq!(numbers(&claimed[0]), [0]);
    assert!(b.claim(10).await.unwrap().is_empty(), "claimed once");

    // A wakes up: each of its writes is refused, none lands.
    let refused = a.append_event("h1", 1, &envelope("Tick", 1)).await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { ref handler_id }) if handler_id == "h1"),
        "{refused:?}"
    );
    assert_eq!(a.held(), 0, "a lost run is let go");
    b.append_event("h1", 1, &envelope("Tick", 1)).await.unwrap();
    let mut finished = record("h1", Status::Completed);
    finished.completed_at = Some("2025-01-01T00:00:09.000000+00:00".to_string());
    b.finish_handler(&finished, Some((2, &envelope("StopEvent", 2))))
        .await
        .unwrap();
    let stored = b.load_handler("h1").await.unwrap().unwrap();
    assert_eq!(numbers(&stored), [0, 1, 2]);
    assert_eq!(stored.record.status, Status::Completed);
    assert_eq!(b.held(), 0, "a finished run is let go");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewing_host_keeps_its_runs_and_renew_names_the_lost_ones() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let a = PostgresStore::connect_as(&url, host("a", 600))
        .await
        .unwrap();
    let b = PostgresStore::connect_as(&url, host("b", 600))
        .await
        .unwrap();
    save_running(&a, "kept").await;
    save_running(&a, "lost").await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(a.renew().await.unwrap().is_empty());
    }
    assert!(b.claim(10).await.unwrap().is_empty(), "renewed leases hold");

    // Another host with a's id (a restart) takes back a's runs at once;
    // the old one learns on its next renewal that they are gone.
    let again = PostgresStore::connect_as(&url, host("a", 600))
        .await
        .unwrap();
    let taken: Vec<String> = again
        .claim(1)
        .await
        .unwrap()
        .into_iter()
        .map(|stored| stored.record.handler_id)
        .collect();
    assert_eq!(taken, ["kept"], "oldest first, within the capacity asked");
    let mut lost = a.renew().await.unwrap();
    lost.sort();
    assert_eq!(lost, ["kept"]);
    assert_eq!(a.held(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_claiming_at_once_split_the_runs_between_them() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let a = PostgresStore::connect_as(&url, host("a", 10_000))
        .await
        .unwrap();
    for n in 0..40 {
        save_running(&a, &format!("r{n:02}")).await;
    }
    a.release_all().await.unwrap();
    assert_eq!(a.held(), 0);
    let hosts: Vec<Arc<PostgresStore>> = futures_util::future::join_all(
        (0..4).map(|n| PostgresStore::connect_as(&url, host(&format!("h{n}"), 10_000))),
    )
    .await
    .into_iter()
    .map(|store| Arc::new(store.unwrap()))
    .collect();
    let claims = futures_util::future::join_all(hosts.iter().map(|host| async move {
        let mut mine = Vec::new();
        loop {
            let claimed = host.claim(3).await.unwrap();
            if claimed.is_empty() {
                return mine;
            }
            mine.extend(claimed.into_iter().map(|stored| stored.record.handler_id));
        }
    }))
    .await;
    let mut all: Vec<String> = claims.iter().flatten().cloned().collect();
    all.sort();
    let expected: Vec<String> = (0..40).map(|n| format!("r{n:02}")).collect();
    assert_eq!(all, expected, "every run claimed by exactly one host");
    for (host, mine) in hosts.iter().zip(&claims) {
        assert_eq!(host.held(), mine.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_reach_the_owner_once_and_hosts_hear_each_others_writes() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let a = PostgresStore::connect_as(&url, host("a", 1000))
        .await
        .unwrap();
    let b = PostgresStore::connect_as(&url, host("b", 1000))
        .await
        .unwrap();
    let mut heard = b.notices();
    // The listener connects in the background: until it listens, notices
    // are not heard (that is what polling is for), so send until one is.
    save_running(&a, "h1").await;
    let answer = Delivery::Event {
        event: serde_json::json!({"type": "Answer", "value": {"text": "yes"}}),
        step: None,
    };
    let mut inbox_heard = false;
    for _ in 0..50 {
        assert!(b.deliver("h1", &answer).await.unwrap());
        if let Ok(Ok(notice)) = tokio::time::timeout(Duration::from_millis(100), heard.recv()).await
        {
            assert_eq!(notice, Notice::Inbox("h1".into()), "b hears its own");
            inbox_heard = true;
            break;
        }
    }
    assert!(inbox_heard, "the owner hears of a delivery");
    assert!(
        b.take_inbox().await.unwrap().is_empty(),
        "only the owner takes it"
    );
    let taken = a.take_inbox().await.unwrap();
    assert!(!taken.is_empty());
    assert!(
        taken
            .iter()
            .all(|taken| taken.handler_id == "h1" && taken.delivery == answer)
    );
    assert!(a.take_inbox().await.unwrap().is_empty(), "taken once");
    b.deliver("h1", &Delivery::Cancel).await.unwrap();
    let cancel = a.take_inbox().await.unwrap();
    assert_eq!(cancel.len(), 1);
    assert_eq!(cancel[0].delivery, Delivery::Cancel);

    // A checkpoint settles the answers it holds; the cancel is not held by
    // it. A stops renewing: B claims the run and takes what is unsettled.
    let rows: Vec<u64> = taken.iter().map(|taken| taken.row).collect();
    a.save_snapshot_settling("h1", &snapshot("h1", 1), &rows)
        .await
        .unwrap();
    assert!(a.take_inbox().await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(b.claim(10).await.unwrap().len(), 1);
    let again = b.take_inbox().await.unwrap();
    assert_eq!(again, cancel, "the unsettled delivery, taken again");
    assert!(b.take_inbox().await.unwrap().is_empty());
    let refused = a
        .save_snapshot_settling("h1", &snapshot("h1", 2), &[cancel[0].row])
        .await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { .. })),
        "{refused:?}"
    );
    // A stream written by one host is announced to the others.
    while heard.try_recv().is_ok() {}
    b.append_event("h1", 0, &envelope("Tick", 0)).await.unwrap();
    let notice = tokio::time::timeout(Duration::from_secs(5), heard.recv())
        .await
        .expect("heard in time")
        .unwrap();
    assert_eq!(notice, Notice::Events("h1".into()));
    let current = a.current("h1").await.unwrap().unwrap();
    assert_eq!(
        (current.record.status, current.last_sequence),
        (Status::Running, Some(0))
    );
    let record = current.record;

    // Nothing is left for a run that has ended.
    let mut finished = record.clone();
    finished.status = Status::Completed;
    b.finish_handler(&finished, None).await.unwrap();
    assert!(!a.deliver("h1", &Delivery::Cancel).await.unwrap());
    assert!(b.current("nobody").await.unwrap().is_none());
}
