//! Guests that take too much: memory, event size, the stream buffer, state
//! size, events per run and collect buffers are bounded by the run's limits.

use serde_json::json;
use wflow_core::LimitsSpec;
use wflow_tests::step_failure;

use crate::{assert_error, attack, error_of, with_limits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_hits_the_memory_limit() {
    let err = attack("memory_bomb", 30.0).await;
    let (step, message) = step_failure(&err);
    assert_eq!(step, "attack");
    assert!(
        message.starts_with("MemoryLimitExceeded: the instance tried to grow its memory to "),
        "{message}"
    );
    assert!(
        message.ends_with("over its limit of 256.0 MiB (limits.memory)"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_event_exceeds_the_event_size_limit() {
    let err = attack("huge_event", 30.0).await;
    assert_error(
        &err,
        "WorkflowLimitError",
        "EventTooLarge: a StopEvent event of 100.0 MiB exceeds limits.max_event_bytes (16.0 MiB)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_handed_to_collect_events_is_held_to_the_event_size_limit() {
    let err = attack("huge_collect", 30.0).await;
    assert_error(
        &err,
        "WorkflowLimitError",
        "EventTooLarge: a Attack event of 20.0 MiB exceeds limits.max_event_bytes (16.0 MiB)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_streamed_events_hits_the_stream_buffer() {
    let hostile = with_limits(
        "hostile",
        LimitsSpec {
            stream_buffer: Some(10),
            ..Default::default()
        },
    )
    .await;
    let err = error_of(&hostile, json!({"mode": "flood_stream"})).await;
    assert_error(
        &err,
        "WorkflowLimitError",
        "StreamBufferFull: 10 streamed events wait unread (limits.stream_buffer)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bytes_a_run_streams_are_bounded() {
    let hostile = with_limits(
        "hostile",
        LimitsSpec {
            max_stream_bytes: Some(bytesize::ByteSize::mib(8)),
            ..Default::default()
        },
    )
    .await;
    // 64 events of 1 MiB, however fast they are read.
    let err = error_of(&hostile, json!({"mode": "flood_stream_bytes"})).await;
    assert_eq!(err.kind(), "WorkflowLimitError");
    assert!(
        err.to_string().starts_with(
            "StreamTooLarge: the run streamed 7.0 MiB already; a Attack event of 1.0 MiB would pass limits.max_stream_bytes (8.0 MiB)"
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_state_fails_the_run() {
    let hostile = with_limits(
        "hostile",
        LimitsSpec {
            max_state_bytes: Some(bytesize::ByteSize::kib(64)),
            ..Default::default()
        },
    )
    .await;
    let err = error_of(&hostile, json!({"mode": "big_state"})).await;
    assert_eq!(err.kind(), "WorkflowLimitError");
    assert!(
        err.to_string()
            .starts_with("StateTooLarge: the state would take 1.0 MiB serialized"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_per_run_and_collect_buffers_are_bounded() {
    let fanout = with_limits(
        "fanout",
        LimitsSpec {
            max_events_per_run: Some(50),
            ..Default::default()
        },
    )
    .await;
    let err = error_of(&fanout, json!({"n": 100})).await;
    assert_eq!(
        err.to_string(),
        "TooManyEvents: the run routed more than 50 events (limits.max_events_per_run)"
    );

    let fanout = with_limits(
        "fanout",
        LimitsSpec {
            max_collect_buffer: Some(10),
            ..Default::default()
        },
    )
    .await;
    let err = error_of(&fanout, json!({"n": 100})).await;
    assert_error(
        &err,
        "WorkflowLimitError",
        "CollectBufferFull: collect buffer `default` already holds 10 events (limits.max_collect_buffer)",
    );
}
