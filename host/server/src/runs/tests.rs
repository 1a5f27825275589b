//! A handler's log in memory: stored events leave it past the budget (all
//! of them once the run has ended), never unstored ones, and readers are
//! sent to the store for what left.

use serde_json::json;
use wflow_api::{Envelope, HandlerRecord, Status, now};

use super::{Handlers, RunEnd};

fn record(id: &str) -> HandlerRecord {
    HandlerRecord {
        handler_id: id.to_string(),
        tenant: String::new(),
        version: None,
        trace: None,
        workflow_name: "log".to_string(),
        run_id: None,
        error: None,
        result: None,
        result_unreadable: false,
        status: Status::Running,
        started_at: now(),
        updated_at: None,
        completed_at: None,
    }
}

fn tick(n: u64) -> Envelope {
    Envelope {
        value: json!({ "n": n, "pad": "x".repeat(40) }),
        qualified_name: None,
        type_name: "Tick".to_string(),
        types: None,
    }
}

fn sequences(events: &[(u64, Envelope)]) -> Vec<u64> {
    events.iter().map(|(sequence, _)| *sequence).collect()
}

#[test]
fn stored_events_leave_memory_past_the_budget_and_readers_go_to_the_store() {
    let handlers = Handlers::keeping(10);
    let one = serde_json::to_vec(&tick(0)).unwrap().len();
    handlers.spill_past(3 * one);
    let entry = handlers.restore(record("spill"), Vec::new(), None, None);
    for n in 0..10 {
        assert_eq!(entry.push_event_from(0, tick(n)), n);
    }
    assert_eq!(entry.held_bytes(), 10 * one);
    // Nothing is stored yet: everything stays, and readers see none of it.
    let all = entry.events_after(-1, 100);
    assert!(!all.in_store);
    assert!(all.events.is_empty());
    // Stored through 5: 0..=5 may go, and go while over three events.
    entry.mark_stored(5);
    assert_eq!(
        entry.held_bytes(),
        4 * one,
        "6..=9 stay: they are not stored"
    );
    assert!(entry.events_after(-1, 100).in_store);
    assert!(entry.events_after(4, 100).in_store);
    let held = entry.events_after(5, 100);
    assert!(!held.in_store);
    assert!(held.events.is_empty(), "6..=9 are not stored yet");
    entry.mark_stored(9);
    assert_eq!(entry.held_bytes(), 3 * one);
    assert!(entry.events_after(5, 100).in_store, "6 left memory");
    assert_eq!(sequences(&entry.events_after(6, 100).events), [7, 8, 9]);
    assert_eq!(entry.last_sequence(), Some(9));
    // A finished handler keeps nothing it stored.
    let (_, terminal) = entry.finish(RunEnd::with_status(Status::Completed, None));
    assert_eq!(terminal, None);
    assert_eq!(entry.held_bytes(), 0);
    assert_eq!(entry.last_sequence(), Some(9), "the numbering goes on");
    assert_eq!(entry.push_event_from(0, tick(10)), 10);
    let after = entry.events_after(9, 100);
    assert!(!after.in_store && after.events.is_empty(), "not stored yet");
    entry.mark_stored(10);
    let after = entry.events_after(9, 100);
    assert!(
        after.in_store,
        "stored, and gone from a finished handler's memory"
    );
    assert_eq!(after.spilled_through, Some(10));
}

#[test]
fn readers_see_stored_events_only_until_a_write_fails() {
    let handlers = Handlers::keeping(10);
    handlers.spill_past(1 << 20);
    let entry = handlers.restore(record("durable"), Vec::new(), None, None);
    for n in 0..3 {
        entry.push_event_from(0, tick(n));
    }
    entry.mark_stored(0);
    // A crash now would lose 1 and 2: no reader may have seen them.
    assert_eq!(sequences(&entry.events_after(-1, 100).events), [0]);
    // A write failed: the store is behind for good, and readers see what
    // memory holds.
    entry.store_failed();
    assert_eq!(sequences(&entry.events_after(-1, 100).events), [0, 1, 2]);
}

#[test]
fn without_a_store_every_event_stays() {
    let handlers = Handlers::keeping(10);
    let entry = handlers.restore(record("memory"), Vec::new(), None, None);
    for n in 0..10 {
        entry.push_event_from(0, tick(n));
    }
    entry.mark_stored(9);
    let all = entry.events_after(-1, 100);
    assert!(!all.in_store);
    assert_eq!(all.events.len(), 10);
}

#[test]
fn restored_events_count_as_stored() {
    let handlers = Handlers::keeping(10);
    handlers.spill_past(0);
    let events = (0..5).map(|n| (n, tick(n))).collect();
    let entry = handlers.restore(record("restored"), events, None, None);
    assert_eq!(entry.held_bytes(), 0, "all of them are in the store");
    assert!(entry.events_after(-1, 100).in_store);
    assert_eq!(entry.last_sequence(), Some(4));
}

#[test]
fn a_reader_sent_to_the_store_learns_how_far_it_must_read_there() {
    let handlers = Handlers::keeping(10);
    handlers.spill_past(0);
    let entry = handlers.restore(record("far"), Vec::new(), None, None);
    for n in 0..4 {
        entry.push_event_from(0, tick(n));
    }
    entry.mark_stored(2);
    let batch = entry.events_after(-1, 100);
    assert!(batch.in_store);
    assert_eq!(batch.spilled_through, Some(2));
    // Past that, memory holds the rest, seen once stored (and then, with
    // no memory to keep it, gone to the store too).
    let rest = entry.events_after(2, 100);
    assert!(!rest.in_store && rest.events.is_empty());
    entry.mark_stored(3);
    let rest = entry.events_after(2, 100);
    assert!(rest.in_store);
    assert_eq!(rest.spilled_through, Some(3));
}

#[test]
fn a_purged_or_replaced_handler_is_retired() {
    let handlers = Handlers::keeping(10);
    let first = handlers.restore(record("reused"), Vec::new(), None, None);
    first.finish(RunEnd::with_status(Status::Completed, None));
    assert!(!first.is_retired());
    let second = handlers.restore(record("reused"), Vec::new(), None, None);
    assert!(first.is_retired(), "its id names another run now");
    assert!(!second.is_retired());
    assert_eq!(handlers.all().len(), 1);
    assert!(handlers.remove("reused"));
    assert!(second.is_retired());
    assert!(!handlers.remove("reused"));
}

#[test]
fn past_the_total_stored_events_leave_memory_whatever_the_share() {
    let handlers = Handlers::keeping(10);
    let one = serde_json::to_vec(&tick(0)).unwrap().len();
    handlers.spill_past(100 * one);
    handlers.hold_at_most(3 * one);
    let entry = handlers.restore(record("shared"), Vec::new(), None, None);
    for n in 0..5 {
        entry.push_event_from(0, tick(n));
    }
    entry.mark_stored(4);
    assert_eq!(
        entry.held_bytes(),
        0,
        "over the total, the share does not count"
    );
    assert!(handlers.admit("", 1).is_ok());
}

#[test]
fn past_the_total_finished_handlers_are_forgotten_and_then_new_runs_refused() {
    let handlers = Handlers::keeping(10);
    let one = serde_json::to_vec(&tick(0)).unwrap().len();
    handlers.hold_at_most(3 * one);
    let finished = handlers.restore(record("finished"), Vec::new(), None, None);
    for n in 0..2 {
        finished.push_event_from(0, tick(n));
    }
    finished.finish(RunEnd::with_status(Status::Completed, None));
    drop(finished);
    let running = handlers.restore(record("running"), Vec::new(), None, None);
    for n in 0..2 {
        running.push_event_from(0, tick(n));
    }
    // Four events held, three allowed: the finished handler goes (there is
    // no store: its events go with it), the running one stays.
    assert!(handlers.admit("", 1).is_ok());
    assert!(handlers.get("finished").is_none());
    assert!(handlers.get("running").is_some());
    for n in 2..4 {
        running.push_event_from(0, tick(n));
    }
    let full = handlers.admit("", 1).unwrap_err();
    assert!(full.tenant.is_none(), "one tenant has no share to name");
    assert_eq!((full.held, full.total), (4 * one, 3 * one));
    assert!(
        full.to_string()
            .starts_with("the handlers' event logs hold "),
        "{full}"
    );
    assert!(handlers.get("running").is_some(), "a running handler stays");
}

#[test]
fn a_handler_read_back_twice_is_one_handler() {
    let handlers = Handlers::keeping(10);
    let mut finished = record("old");
    finished.status = Status::Completed;
    let first = handlers.read_back(finished.clone(), vec![(0, tick(0))], None);
    let second = handlers.read_back(finished, vec![(0, tick(0))], None);
    assert!(std::sync::Arc::ptr_eq(&first, &second));
    assert!(
        !first.is_retired(),
        "a second reader does not cut off the first"
    );
}

#[test]
fn past_the_total_only_a_tenant_over_its_share_is_refused() {
    let handlers = Handlers::keeping(10);
    let one = serde_json::to_vec(&tick(0)).unwrap().len();
    handlers.hold_at_most(4 * one);
    let mut noisy = record("noisy");
    noisy.tenant = "noisy".to_string();
    let flood = handlers.restore(noisy, Vec::new(), None, None);
    for n in 0..6 {
        flood.push_event_from(0, tick(n));
    }
    let mut quiet = record("quiet");
    quiet.tenant = "quiet".to_string();
    let calm = handlers.restore(quiet, Vec::new(), None, None);
    calm.push_event_from(0, tick(0));
    // Seven events held, four allowed, two tenants: a share is two.
    let full = handlers.admit("noisy", 2).unwrap_err();
    assert_eq!(full.tenant, Some((6 * one, 2 * one)));
    assert!(full.to_string().contains("more than your share"), "{full}");
    assert!(
        handlers.admit("quiet", 2).is_ok(),
        "the quiet tenant still starts runs"
    );
    drop(flood);
    handlers.remove("noisy");
    assert!(handlers.admit("noisy", 2).is_ok(), "its share came back");
}

#[test]
fn past_keep_finished_the_tenant_keeping_the_most_loses_its_oldest() {
    let handlers = Handlers::keeping(4);
    let finished = |id: &str, tenant: &str| {
        let mut record = record(id);
        record.tenant = tenant.to_string();
        let entry = handlers.restore(record, Vec::new(), None, None);
        entry.finish(RunEnd::with_status(Status::Completed, None));
        handlers.forget_old_finished();
    };
    finished("quiet-1", "quiet");
    finished("quiet-2", "quiet");
    for n in 1..=6 {
        finished(&format!("noisy-{n}"), "noisy");
    }
    // Four kept: the quiet tenant's two, older than all of the noisy
    // one's, stay; the noisy one keeps its newest two.
    let kept: Vec<String> = {
        let mut ids: Vec<String> = handlers.all().iter().map(|e| e.id()).collect();
        ids.sort();
        ids
    };
    assert_eq!(kept, ["noisy-5", "noisy-6", "quiet-1", "quiet-2"]);
    // One tenant alone: the oldest go first, as ever.
    let alone = Handlers::keeping(2);
    for n in 1..=4 {
        let entry = alone.restore(record(&format!("h{n}")), Vec::new(), None, None);
        entry.finish(RunEnd::with_status(Status::Completed, None));
        alone.forget_old_finished();
    }
    let mut ids: Vec<String> = alone.all().iter().map(|e| e.id()).collect();
    ids.sort();
    assert_eq!(ids, ["h3", "h4"]);
}
