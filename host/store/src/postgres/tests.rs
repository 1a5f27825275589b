//! The store suite against a real PostgreSQL: the database named by
//! `WFLOW_TEST_POSTGRES` (a connection URL). Without it the tests say so
//! and pass, except in CI (`CI` set), where they fail: CI starts a
//! throwaway cluster for them (`.ci/run`).

use std::sync::Arc;

use super::PostgresStore;
use crate::testing;

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
