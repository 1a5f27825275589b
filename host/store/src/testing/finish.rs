//! Finishing a handler: its record and its terminal event land together.

use wflow_api::{HandlerResult, Status};

use super::fixtures::{assert_same_record, envelope, expect_ok, load, numbers, record, start, tag};
use crate::{Store, StoreError};

/// `finish_handler` stores the final record and the terminal event in one
/// write; when the event cannot be stored (its sequence is taken), the
/// record is not updated either.
pub async fn finishing_stores_the_record_and_the_terminal_event_together(store: &dyn Store) {
    let tag = tag();
    let id = format!("{tag}-finished");
    let running = record(&id, Status::Running);
    expect_ok(
        store.save_handler(&running, &start(0)).await,
        "save_handler",
    );
    let earlier = [(0, envelope("Tick", 0)), (1, envelope("Tick", 1))];
    expect_ok(store.append_events(&id, &earlier).await, "append_events");

    let mut failed = running.clone();
    failed.status = Status::Failed;
    failed.error = Some("never stored".to_string());
    let taken = envelope("StopEvent", 100);
    let collision = store.finish_handler(&failed, Some((1, &taken))).await;
    assert!(
        matches!(collision, Err(StoreError::Conflict { .. })),
        "a taken sequence is a Conflict, got {collision:?}"
    );
    let stored = load(store, &id).await;
    assert_same_record(&stored.record, &running);
    assert_eq!(
        numbers(&stored),
        [0, 1],
        "nothing of the failed finish landed"
    );

    let stop = envelope("StopEvent", 9);
    let mut completed = running.clone();
    completed.status = Status::Completed;
    completed.result = Some(HandlerResult::Event(stop.clone()));
    completed.completed_at = Some("2025-01-01T00:00:02.000000+00:00".to_string());
    expect_ok(
        store.finish_handler(&completed, Some((2, &stop))).await,
        "finish_handler",
    );
    let stored = load(store, &id).await;
    assert_same_record(&stored.record, &completed);
    assert_eq!(numbers(&stored), [0, 1, 9]);

    // A run that ended with no terminal event (cancelled before it began).
    let quiet = format!("{tag}-quiet");
    expect_ok(
        store
            .save_handler(&record(&quiet, Status::Running), &start(0))
            .await,
        "save_handler",
    );
    let cancelled = record(&quiet, Status::Cancelled);
    expect_ok(
        store.finish_handler(&cancelled, None).await,
        "finish_handler",
    );
    let stored = load(store, &quiet).await;
    assert_same_record(&stored.record, &cancelled);
    assert!(stored.events.is_empty());
}
