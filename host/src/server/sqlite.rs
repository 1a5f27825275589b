//! The embedded handler store: one SQLite file (WAL journal), its schema
//! versioned by `PRAGMA user_version` and migrated on open.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use super::envelope::Envelope;
use super::runs::{HandlerRecord, HandlerResult, Status};
use super::store::{Store, StoreError, StoredHandler};
use crate::event::Event;
use crate::snapshot::Snapshot;

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
pub struct SqliteStore {
    connection: Mutex<Connection>,
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
        })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A statement that panicked left no transaction open.
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
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
        self.connection()
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
                    result_text(record),
                    record.started_at,
                    record.updated_at,
                    record.completed_at,
                    start.name,
                    start.data,
                ],
            )
            .map(drop)
            .map_err(fail("cannot save a handler"))
    }

    fn update_handler(&self, record: &HandlerRecord) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "UPDATE handlers SET run_id = ?2, status = ?3, error = ?4, result = ?5,
                    updated_at = ?6, completed_at = ?7 WHERE handler_id = ?1",
                params![
                    record.handler_id,
                    record.run_id,
                    status_text(record.status),
                    record.error,
                    result_text(record),
                    record.updated_at,
                    record.completed_at,
                ],
            )
            .map(drop)
            .map_err(fail("cannot update a handler"))
    }

    fn append_event(
        &self,
        handler_id: &str,
        sequence: u64,
        envelope: &Envelope,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(envelope)
            .map_err(|err| StoreError(format!("cannot serialize an event: {err}")))?;
        self.connection()
            .execute(
                "INSERT OR REPLACE INTO events (handler_id, sequence, envelope) VALUES (?1, ?2, ?3)",
                params![handler_id, sequence as i64, text],
            )
            .map(drop)
            .map_err(fail("cannot store an event"))
    }

    fn save_snapshot(&self, handler_id: &str, snapshot: &Snapshot) -> Result<(), StoreError> {
        let text = snapshot
            .to_json()
            .map_err(|err| StoreError(format!("cannot serialize a checkpoint: {err}")))?;
        self.connection()
            .execute(
                "INSERT OR REPLACE INTO snapshots (handler_id, snapshot) VALUES (?1, ?2)",
                params![handler_id, text],
            )
            .map(drop)
            .map_err(fail("cannot store a checkpoint"))
    }

    fn delete_handler(&self, handler_id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction()
            .map_err(fail("cannot delete a handler"))?;
        for table in ["handlers", "events", "snapshots"] {
            transaction
                .execute(
                    &format!("DELETE FROM {table} WHERE handler_id = ?1"),
                    params![handler_id],
                )
                .map_err(fail("cannot delete a handler"))?;
        }
        transaction
            .commit()
            .map_err(fail("cannot delete a handler"))
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
