//! The statements: each write as the store's thread runs it (inside its
//! savepoint), each read (inside a read transaction).

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use wflow_api::{Envelope, HandlerRecord};
use wflow_core::Event;

use crate::rows::{self, HandlerRow, status_text, version_value};
use crate::{StoreError, StoredHandler};

/// Maps a database error met while doing `action`: a constraint the
/// statement broke (a key already stored) is a conflict, anything else a
/// database failure. Decided by SQLite's error code.
pub(super) fn failed(action: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |err| {
        if err.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
            StoreError::Conflict {
                action,
                cause: err.into(),
            }
        } else {
            StoreError::Database {
                action,
                cause: err.into(),
            }
        }
    }
}

/// Inserts (or replaces) a handler's row; `result` is its result as
/// [`result_text`] gives it.
pub(super) fn save_handler(
    connection: &Connection,
    record: &HandlerRecord,
    result: Option<&str>,
    start: &Event,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO handlers (handler_id, workflow, run_id, status, error, result,
                started_at, updated_at, completed_at, start_name, start_data, tenant, version,
                trace)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (handler_id) DO UPDATE SET workflow = ?2, run_id = ?3,
                status = ?4, error = ?5, result = ?6, started_at = ?7, updated_at = ?8,
                completed_at = ?9, start_name = ?10, start_data = ?11, tenant = ?12,
                version = ?13, trace = ?14",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                record.handler_id,
                record.workflow_name,
                record.run_id,
                status_text(record.status),
                record.error,
                result,
                record.started_at,
                record.updated_at,
                record.completed_at,
                start.name,
                start.data,
                record.tenant,
                record.version.map(version_value),
                record.trace,
            ])
        })
        .map(drop)
        .map_err(failed("cannot save a handler"))
}

/// Updates a handler's row.
pub(super) fn update_handler(
    connection: &Connection,
    record: &HandlerRecord,
    result: Option<&str>,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "UPDATE handlers SET run_id = ?2, status = ?3, error = ?4, result = ?5,
                updated_at = ?6, completed_at = ?7 WHERE handler_id = ?1",
        )
        .and_then(|mut update| {
            update.execute(params![
                record.handler_id,
                record.run_id,
                status_text(record.status),
                record.error,
                result,
                record.updated_at,
                record.completed_at,
            ])
        })
        .map(drop)
        .map_err(failed("cannot update a handler"))
}

/// Inserts events (`(sequence, envelope as JSON)`); a sequence already
/// stored fails the statement.
pub(super) fn append_events(
    connection: &Connection,
    handler_id: &str,
    rows: &[(i64, String)],
) -> Result<(), StoreError> {
    let mut insert = connection
        .prepare_cached("INSERT INTO events (handler_id, sequence, envelope) VALUES (?1, ?2, ?3)")
        .map_err(failed("cannot store an event"))?;
    for (sequence, text) in rows {
        insert
            .execute(params![handler_id, sequence, text])
            .map_err(failed("cannot store an event"))?;
    }
    Ok(())
}

/// Replaces a handler's checkpoint.
pub(super) fn save_snapshot(
    connection: &Connection,
    handler_id: &str,
    text: &str,
) -> Result<(), StoreError> {
    connection
        .prepare_cached("INSERT OR REPLACE INTO snapshots (handler_id, snapshot) VALUES (?1, ?2)")
        .and_then(|mut insert| insert.execute(params![handler_id, text]))
        .map(drop)
        .map_err(failed("cannot store a checkpoint"))
}

/// Deletes a handler's row, events and checkpoint.
pub(super) fn delete_handler(connection: &Connection, handler_id: &str) -> Result<(), StoreError> {
    for statement in [
        "DELETE FROM handlers WHERE handler_id = ?1",
        "DELETE FROM events WHERE handler_id = ?1",
        "DELETE FROM snapshots WHERE handler_id = ?1",
    ] {
        connection
            .prepare_cached(statement)
            .and_then(|mut delete| delete.execute(params![handler_id]))
            .map_err(failed("cannot delete a handler"))?;
    }
    Ok(())
}

/// Every running handler, oldest first, with its events and checkpoint.
pub(super) fn load_running(connection: &Connection) -> Result<Vec<StoredHandler>, StoreError> {
    select_handlers(connection, "WHERE status = 'running'", [])?
        .into_iter()
        .map(|(row, start)| with_events(connection, row, start))
        .collect()
}

/// The handler `handler_id`, with its events and checkpoint.
pub(super) fn load_handler(
    connection: &Connection,
    handler_id: &str,
) -> Result<Option<StoredHandler>, StoreError> {
    select_handlers(connection, "WHERE handler_id = ?1", params![handler_id])?
        .into_iter()
        .next()
        .map(|(row, start)| with_events(connection, row, start))
        .transpose()
}

/// Every handler's record, oldest first.
pub(super) fn records(connection: &Connection) -> Result<Vec<HandlerRecord>, StoreError> {
    Ok(select_handlers(connection, "", [])?
        .into_iter()
        .map(|(row, _)| row.into_record())
        .collect())
}

/// How many handlers each tenant has, by tenant (counted on the tenant's
/// index).
pub(super) fn handler_counts(connection: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let read = failed("cannot count the handlers");
    let mut count = connection
        .prepare_cached("SELECT tenant, COUNT(*) FROM handlers GROUP BY tenant ORDER BY tenant")
        .map_err(&read)?;
    count
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?.max(0) as u64,
            ))
        })
        .map_err(&read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(&read)
}

/// Tenant `tenant`'s handlers' records, oldest first.
pub(super) fn records_of(
    connection: &Connection,
    tenant: &str,
) -> Result<Vec<HandlerRecord>, StoreError> {
    Ok(
        select_handlers(connection, "WHERE tenant = ?1", params![tenant])?
            .into_iter()
            .map(|(row, _)| row.into_record())
            .collect(),
    )
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
                updated_at, completed_at, start_name, start_data, tenant, version, trace
             FROM handlers {filter} ORDER BY position"
        ))
        .map_err(failed("cannot read the handlers"))?;
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
                    tenant: row.get(11)?,
                    version: row.get::<_, Option<i64>>(12)?.map(|v| v.max(0) as u64),
                    trace: row.get(13)?,
                },
                Event {
                    name: row.get(9)?,
                    data: row.get(10)?,
                },
            ))
        })
        .map_err(failed("cannot read the handlers"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed("cannot read the handlers"))
}

/// Up to `max` of a handler's events after sequence `after`, in order; a
/// row that cannot be read back is logged and left out.
pub(super) fn events_after(
    connection: &Connection,
    handler_id: &str,
    after: i64,
    max: i64,
) -> Result<Vec<(u64, Envelope)>, StoreError> {
    let mut statement = connection
        .prepare_cached(
            "SELECT sequence, envelope FROM events
             WHERE handler_id = ?1 AND sequence > ?2 ORDER BY sequence LIMIT ?3",
        )
        .map_err(failed("cannot read the events"))?;
    let rows = statement
        .query_map(params![handler_id, after, max], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(failed("cannot read the events"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed("cannot read the events"))?;
    Ok(rows::decode_page(handler_id, rows))
}

/// A stored handler: its row and start event, with its streamed events and
/// its last checkpoint.
fn with_events(
    connection: &Connection,
    row: HandlerRow,
    start: Event,
) -> Result<StoredHandler, StoreError> {
    let rows = connection
        .prepare_cached(
            "SELECT sequence, envelope FROM events WHERE handler_id = ?1 ORDER BY sequence",
        )
        .and_then(|mut events| {
            events
                .query_map(params![row.handler_id], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(failed("cannot read the events"))?;
    let (events, mut damage) = rows::decode_events(rows);
    let snapshot = connection
        .prepare_cached("SELECT snapshot FROM snapshots WHERE handler_id = ?1")
        .map_err(failed("cannot read the checkpoints"))?
        .query_row(params![row.handler_id], |r| r.get::<_, String>(0))
        .optional()
        .map_err(failed("cannot read a checkpoint"))?;
    let snapshot = rows::decode_snapshot(snapshot, &mut damage);
    Ok(StoredHandler {
        record: row.into_record(),
        start,
        events,
        snapshot,
        damage,
    })
}
