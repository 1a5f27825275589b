//! What the checks write and how they compare what they read back.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use wflow_api::{Envelope, HandlerRecord, Status};
use wflow_core::{Event, Snapshot, WorkflowIdentity};

use crate::{Store, StoreError, StoredHandler};

/// An id prefix of a check's own: unique across checks, runs and processes.
pub(super) fn tag() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let count = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("t{nanos:x}-{}-{count}", std::process::id())
}

pub(super) fn expect_ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    result.unwrap_or_else(|err| panic!("{what}: {err}"))
}

pub(super) async fn load(store: &dyn Store, id: &str) -> StoredHandler {
    expect_ok(store.load_handler(id).await, "load_handler")
        .unwrap_or_else(|| panic!("{id} is stored"))
}

/// The records of this check's handlers, compared with `expected`.
pub(super) async fn assert_records(store: &dyn Store, tag: &str, expected: &[&HandlerRecord]) {
    let records: Vec<HandlerRecord> = expect_ok(store.records().await, "records")
        .into_iter()
        .filter(|record| record.handler_id.starts_with(tag))
        .collect();
    let ids: Vec<&str> = records.iter().map(|r| r.handler_id.as_str()).collect();
    let wanted: Vec<&str> = expected.iter().map(|r| r.handler_id.as_str()).collect();
    assert_eq!(ids, wanted, "records, oldest first");
    for (record, expected) in records.iter().zip(expected) {
        assert_same_record(record, expected);
    }
}

pub(super) fn assert_same_record(record: &HandlerRecord, expected: &HandlerRecord) {
    let as_json = |record: &HandlerRecord| serde_json::to_value(record).unwrap_or(Value::Null);
    assert_eq!(as_json(record), as_json(expected), "a record round-trips");
    assert_eq!(
        record.tenant, expected.tenant,
        "a record keeps its tenant (not on the wire, so compared apart)"
    );
    assert_eq!(
        record.version, expected.version,
        "a record keeps its version"
    );
    assert_eq!(
        record.trace, expected.trace,
        "a record keeps the trace its run was started in"
    );
}

/// The `n` of each stored event, in order.
pub(crate) fn numbers(stored: &StoredHandler) -> Vec<u64> {
    stored
        .events
        .iter()
        .map(|(_, event)| event.value["n"].as_u64().unwrap_or(u64::MAX))
        .collect()
}

pub(crate) fn record(id: &str, status: Status) -> HandlerRecord {
    HandlerRecord {
        handler_id: id.to_string(),
        tenant: String::new(),
        version: None,
        trace: None,
        workflow_name: "conformance".to_string(),
        run_id: None,
        error: None,
        result: None,
        result_unreadable: false,
        status,
        started_at: "2025-01-01T00:00:00.000000+00:00".to_string(),
        updated_at: None,
        completed_at: None,
    }
}

pub(crate) fn start(n: u64) -> Event {
    Event {
        name: "StartEvent".to_string(),
        data: json!({ "n": n }).to_string(),
    }
}

pub(crate) fn envelope(type_name: &str, n: u64) -> Envelope {
    Envelope {
        value: json!({ "n": n }),
        qualified_name: None,
        type_name: type_name.to_string(),
        types: None,
    }
}

pub(crate) fn snapshot(run_id: &str, n: u64) -> Snapshot {
    Snapshot {
        format: wflow_core::SNAPSHOT_FORMAT.to_string(),
        version: wflow_core::SNAPSHOT_VERSION,
        workflow: WorkflowIdentity {
            name: "conformance".to_string(),
            components: vec!["0".repeat(64)],
        },
        run_id: run_id.to_string(),
        state: json!({ "n": n }),
        queues: Default::default(),
        in_progress: Default::default(),
        collect_buffers: Vec::new(),
        waiters: Default::default(),
        awaiting_input: 0,
        held_prompts: Vec::new(),
        stream_position: n,
        internal_streamed: 0,
        streamed_bytes: 0,
        routed: n,
        received: n,
        next_work_item: n,
        elapsed_ms: n,
        origin: None,
        outcome: None,
    }
}
