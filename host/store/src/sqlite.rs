//! The embedded handler store: one SQLite file (WAL journal), its schema
//! versioned by `PRAGMA user_version` and migrated on open.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use wflow_api::{Envelope, HandlerRecord, HandlerResult, Status};
use wflow_core::{Event, Snapshot};

use crate::{Store, StoreError, StoredHandler};

/// The migrations, in order: the schema's version is how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: handlers, their streamed events, their runs' last checkpoints.
    "CREATE TABLE handlers (
        position     INTEGER PRIMARY KEY AUTOINCREMENT,
        handler_id   TEXT NOT NULL UNIQUE,
        workflow     TEXT NOT NULL,
        run_id       TEXT,
        status       TEXT NOT NULL,
        error        TEXT,
        result       TEXT,
        started_at   TEXT NOT NULL,
        updated_at   TEXT,
        completed_at TEXT,
        start_name   TEXT NOT NULL,
        start_data   TEXT NOT NULL
    );
    CREATE TABLE events (
        handler_id TEXT NOT NULL,
        sequence   INTEGER NOT NULL,
        envelope   TEXT NOT NULL,
        PRIMARY KEY (handler_id, sequence)
    );
    CREATE TABLE snapshots (
        handler_id TEXT PRIMARY KEY,
        snapshot   TEXT NOT NULL
    );",
];

/// Handlers in a SQLite file.
///
/// Writes are group-committed: a writer queues its write and takes the
/// connection; whoever holds it commits every write queued so far in one
/// transaction (one sync), and the writers it committed for find their
/// outcome when their turn comes. Under load, many runs' writes share a
/// sync; alone, a write is its own transaction. Either way a write is
/// durable when it returns.
pub struct SqliteStore {
    /// The connection; held by one committer (or reader) at a time.
    connection: Mutex<Connection>,
    /// Writes waiting for a commit, and outcomes of writes committed by
    /// another writer's turn.
    queue: Mutex<WriteQueue>,
}

/// One write, run inside the group's transaction.
type Write = Box<dyn FnOnce(&Transaction<'_>) -> Result<(), StoreError> + Send>;

#[derive(Default)]
struct WriteQueue {
    next_ticket: u64,
    pending: Vec<(u64, Write)>,
    done: HashMap<u64, Result<(), StoreError>>,
}

fn fail(what: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |err| StoreError(format!("{what}: {err}"))
}

impl SqliteStore {
    /// Opens (creating) the store at `path` and brings its schema up to
    /// date. A file written by a newer wflow is refused.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut connection = Connection::open(path)
            .map_err(|err| StoreError(format!("cannot open {}: {err}", path.display())))?;
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(fail("cannot set up the journal"))?;
        let version: usize = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(fail("cannot read the schema version"))?;
        if version > MIGRATIONS.len() {
            return Err(StoreError(format!(
                "{} has schema version {version}, newer than this wflow knows ({})",
                path.display(),
                MIGRATIONS.len()
            )));
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            let transaction = connection
                .transaction()
                .map_err(fail("cannot begin a migration"))?;
            transaction
                .execute_batch(migration)
                .map_err(fail("cannot migrate the schema"))?;
            transaction
                .pragma_update(None, "user_version", index + 1)
                .map_err(fail("cannot record the schema version"))?;
            transaction
                .commit()
                .map_err(fail("cannot migrate the schema"))?;
        }
        Ok(Self {
            connection: Mutex::new(connection),
            queue: Mutex::default(),
        })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A statement that panicked left no transaction open.
        wflow_core::sync::lock(&self.connection)
    }

    /// Runs `write` durably, in one transaction with every write queued
    /// meanwhile.
    fn write(
        &self,
        write: impl FnOnce(&Transaction<'_>) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let ticket = {
            let mut queue = wflow_core::sync::lock(&self.queue);
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.pending.push((ticket, Box::new(write)));
            ticket
        };
        off_the_runtime(|| self.commit_queued(ticket))
    }

    /// Takes the connection, then commits every queued write unless the
    /// writer before took `ticket` along; `ticket`'s outcome.
    fn commit_queued(&self, ticket: u64) -> Result<(), StoreError> {
        let mut connection = self.connection();
        // Committed by the writer before us?
        if let Some(outcome) = wflow_core::sync::lock(&self.queue).done.remove(&ticket) {
            return outcome;
        }
        let batch = std::mem::take(&mut wflow_core::sync::lock(&self.queue).pending);
        let outcomes = commit(&mut connection, batch);
        let mut queue = wflow_core::sync::lock(&self.queue);
        let mut mine = Err(StoreError("a write went missing from its group".into()));
        for (done, outcome) in outcomes {
            if done == ticket {
                mine = outcome;
            } else {
                queue.done.insert(done, outcome);
            }
        }
        mine
    }
}

/// Runs `blocking` (which waits for the disk) where it keeps no async task
/// from running: on a multi-threaded tokio runtime, the worker thread hands
/// its other tasks over first, so that they can queue their writes into the
/// same commit meanwhile. Elsewhere it just runs.
fn off_the_runtime<T>(blocking: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(blocking)
        }
        _ => blocking(),
    }
}

/// Runs `batch` in one transaction; each write's outcome (all failed when
/// the transaction cannot commit).
fn commit(
    connection: &mut Connection,
    batch: Vec<(u64, Write)>,
) -> Vec<(u64, Result<(), StoreError>)> {
    let transaction = match connection.transaction() {
        Ok(transaction) => transaction,
        Err(err) => {
            let message = format!("cannot begin a transaction: {err}");
            return batch
                .into_iter()
                .map(|(ticket, _)| (ticket, Err(StoreError(message.clone()))))
                .collect();
        }
    };
    let outcomes: Vec<(u64, Result<(), StoreError>)> = batch
        .into_iter()
        .map(|(ticket, write)| (ticket, write(&transaction)))
        .collect();
    match transaction.commit() {
        Ok(()) => outcomes,
        Err(err) => {
            let message = format!("cannot commit: {err}");
            outcomes
                .into_iter()
                .map(|(ticket, _)| (ticket, Err(StoreError(message.clone()))))
                .collect()
        }
    }
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Running => "running",
        Status::Completed => "completed",
        Status::Failed => "failed",
        Status::Cancelled => "cancelled",
    }
}

fn result_text(record: &HandlerRecord) -> Option<String> {
    match &record.result {
        Some(HandlerResult::Event(envelope)) => serde_json::to_string(envelope).ok(),
        Some(HandlerResult::Value(value)) => Some(value.to_string()),
        None => None,
    }
}

impl Store for SqliteStore {
    fn save_handler(&self, record: &HandlerRecord, start: &Event) -> Result<(), StoreError> {
        let record = record.clone();
        let start = start.clone();
        self.write(move |transaction| {
            transaction
                .execute(
                    "INSERT INTO handlers (handler_id, workflow, run_id, status, error, result,
                    started_at, updated_at, completed_at, start_name, start_data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (handler_id) DO UPDATE SET workflow = ?2, run_id = ?3,
                    status = ?4, error = ?5, result = ?6, started_at = ?7, updated_at = ?8,
                    completed_at = ?9, start_name = ?10, start_data = ?11",
                    params![
                        record.handler_id,
                        record.workflow_name,
                        record.run_id,
                        status_text(record.status),
                        record.error,
                        result_text(&record),
                        record.started_at,
                        record.updated_at,
                        record.completed_at,
                        start.name,
                        start.data,
                    ],
                )
                .map(drop)
                .map_err(fail("cannot save a handler"))
        })
    }

    fn update_handler(&self, record: &HandlerRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.write(move |transaction| {
            transaction
                .execute(
                    "UPDATE handlers SET run_id = ?2, status = ?3, error = ?4, result = ?5,
                    updated_at = ?6, completed_at = ?7 WHERE handler_id = ?1",
                    params![
                        record.handler_id,
                        record.run_id,
                        status_text(record.status),
                        record.error,
                        result_text(&record),
                        record.updated_at,
                        record.completed_at,
                    ],
                )
                .map(drop)
                .map_err(fail("cannot update a handler"))
        })
    }

    fn append_events(
        &self,
        handler_id: &str,
        events: &[(u64, Envelope)],
    ) -> Result<(), StoreError> {
        let rows = events
            .iter()
            .map(|(sequence, envelope)| {
                let text = serde_json::to_string(envelope)
                    .map_err(|err| StoreError(format!("cannot serialize an event: {err}")))?;
                Ok((*sequence as i64, text))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let handler_id = handler_id.to_string();
        self.write(move |transaction| {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO events (handler_id, sequence, envelope) VALUES (?1, ?2, ?3)",
                )
                .map_err(fail("cannot store an event"))?;
            for (sequence, text) in rows {
                insert
                    .execute(params![handler_id, sequence, text])
                    .map_err(fail("cannot store an event"))?;
            }
            Ok(())
        })
    }

    fn save_snapshot(&self, handler_id: &str, snapshot: &Snapshot) -> Result<(), StoreError> {
        let text = snapshot
            .to_json()
            .map_err(|err| StoreError(format!("cannot serialize a checkpoint: {err}")))?;
        let handler_id = handler_id.to_string();
        self.write(move |transaction| {
            transaction
                .execute(
                    "INSERT OR REPLACE INTO snapshots (handler_id, snapshot) VALUES (?1, ?2)",
                    params![handler_id, text],
                )
                .map(drop)
                .map_err(fail("cannot store a checkpoint"))
        })
    }

    fn delete_handler(&self, handler_id: &str) -> Result<(), StoreError> {
        let handler_id = handler_id.to_string();
        self.write(move |transaction| {
            for table in ["handlers", "events", "snapshots"] {
                transaction
                    .execute(
                        &format!("DELETE FROM {table} WHERE handler_id = ?1"),
                        params![handler_id],
                    )
                    .map_err(fail("cannot delete a handler"))?;
            }
            Ok(())
        })
    }

    fn load_running(&self) -> Result<Vec<StoredHandler>, StoreError> {
        let connection = self.connection();
        let rows = select_handlers(&connection, "WHERE status = 'running'", [])?;
        rows.into_iter()
            .map(|(row, start)| with_events(&connection, row, start))
            .collect()
    }

    fn load_handler(&self, handler_id: &str) -> Result<Option<StoredHandler>, StoreError> {
        let connection = self.connection();
        let rows = select_handlers(&connection, "WHERE handler_id = ?1", params![handler_id])?;
        rows.into_iter()
            .next()
            .map(|(row, start)| with_events(&connection, row, start))
            .transpose()
    }

    fn records(&self) -> Result<Vec<HandlerRecord>, StoreError> {
        let connection = self.connection();
        Ok(select_handlers(&connection, "", [])?
            .into_iter()
            .map(|(row, _)| row.into_record())
            .collect())
    }
}

/// The `handlers` rows `filter` (a `WHERE` clause) selects, oldest first,
/// each with its start event.
fn select_handlers(
    connection: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<(HandlerRow, Event)>, StoreError> {
    let mut handlers = connection
        .prepare_cached(&format!(
            "SELECT handler_id, workflow, run_id, status, error, result, started_at,
                updated_at, completed_at, start_name, start_data
             FROM handlers {filter} ORDER BY position"
        ))
        .map_err(fail("cannot read the handlers"))?;
    handlers
        .query_map(params, |row| {
            Ok((
                HandlerRow {
                    handler_id: row.get(0)?,
                    workflow: row.get(1)?,
                    run_id: row.get(2)?,
                    status: row.get(3)?,
                    error: row.get(4)?,
                    result: row.get(5)?,
                    started_at: row.get(6)?,
                    updated_at: row.get(7)?,
                    completed_at: row.get(8)?,
                },
                Event {
                    name: row.get(9)?,
                    data: row.get(10)?,
                },
            ))
        })
        .map_err(fail("cannot read the handlers"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail("cannot read the handlers"))
}

/// A stored handler: its row and start event, with its streamed events and
/// its last checkpoint.
fn with_events(
    connection: &Connection,
    row: HandlerRow,
    start: Event,
) -> Result<StoredHandler, StoreError> {
    let mut events = connection
        .prepare_cached("SELECT envelope FROM events WHERE handler_id = ?1 ORDER BY sequence")
        .map_err(fail("cannot read the events"))?;
    let envelopes = events
        .query_map(params![row.handler_id], |r| r.get::<_, String>(0))
        .map_err(fail("cannot read the events"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail("cannot read the events"))?
        .iter()
        .map(|text| serde_json::from_str(text))
        .collect::<Result<Vec<Envelope>, _>>()
        .map_err(|err| StoreError(format!("a stored event is not valid: {err}")))?;
    let snapshot = connection
        .prepare_cached("SELECT snapshot FROM snapshots WHERE handler_id = ?1")
        .map_err(fail("cannot read the checkpoints"))?
        .query_row(params![row.handler_id], |r| r.get::<_, String>(0))
        .optional()
        .map_err(fail("cannot read a checkpoint"))?
        .map(|text| Snapshot::from_json(&text))
        .transpose()
        .map_err(|err| StoreError(format!("a stored checkpoint is not valid: {err}")))?;
    Ok(StoredHandler {
        record: row.into_record(),
        start,
        events: envelopes,
        snapshot,
    })
}

/// A `handlers` row.
struct HandlerRow {
    handler_id: String,
    workflow: String,
    run_id: Option<String>,
    status: String,
    error: Option<String>,
    result: Option<String>,
    started_at: String,
    updated_at: Option<String>,
    completed_at: Option<String>,
}

impl HandlerRow {
    fn into_record(self) -> HandlerRecord {
        let (result, result_unreadable) = match self.result.as_deref().map(serde_json::from_str) {
            None => (None, false),
            Some(Ok(envelope)) => (Some(HandlerResult::Event(envelope)), false),
            Some(Err(_)) => (None, true),
        };
        HandlerRecord {
            handler_id: self.handler_id,
            workflow_name: self.workflow,
            run_id: self.run_id,
            error: self.error,
            result,
            result_unreadable,
            // An unknown status cannot be resumed: count it as failed.
            status: Status::parse(&self.status).unwrap_or(Status::Failed),
            started_at: self.started_at,
            updated_at: self.updated_at,
            completed_at: self.completed_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use wflow_api::now;

    fn record(id: &str) -> HandlerRecord {
        HandlerRecord {
            handler_id: id.to_string(),
            workflow_name: "w".to_string(),
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

    fn envelope(n: u64) -> Envelope {
        Envelope {
            value: json!({ "n": n }),
            qualified_name: None,
            type_name: "Tick".to_string(),
            types: None,
        }
    }

    #[test]
    fn concurrent_writers_share_commits_and_every_write_lands_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        let start = Event::new("StartEvent", &json!({})).unwrap();
        let writers: Vec<_> = (0..8)
            .map(|writer| {
                let store = store.clone();
                let start = start.clone();
                std::thread::spawn(move || {
                    let id = format!("h{writer}");
                    store.save_handler(&record(&id), &start).unwrap();
                    for sequence in 0..50 {
                        store
                            .append_event(&id, sequence, &envelope(sequence))
                            .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        drop(store);

        // A fresh connection sees every write, each handler's events in
        // sequence order.
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.records().unwrap().len(), 8);
        for writer in 0..8 {
            let stored = store.load_handler(&format!("h{writer}")).unwrap().unwrap();
            let numbers: Vec<u64> = stored
                .events
                .iter()
                .map(|e| e.value["n"].as_u64().unwrap())
                .collect();
            assert_eq!(numbers, (0..50).collect::<Vec<_>>());
        }
        assert_eq!(store.load_running().unwrap().len(), 8);
        assert!(store.load_handler("nope").unwrap().is_none());
    }

    #[test]
    fn a_failing_write_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
        let failing = store.write(|transaction| {
            transaction
                .execute("INSERT INTO nowhere VALUES (1)", [])
                .map(drop)
                .map_err(fail("cannot write"))
        });
        let message = failing.unwrap_err().to_string();
        assert!(message.contains("no such table: nowhere"), "{message}");
        let start = Event::new("StartEvent", &json!({})).unwrap();
        store.save_handler(&record("ok"), &start).unwrap();
        assert_eq!(store.records().unwrap().len(), 1);
    }
}
