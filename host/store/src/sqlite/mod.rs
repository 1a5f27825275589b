//! The embedded handler store: one SQLite file (WAL journal, every commit
//! synced), its schema versioned by `PRAGMA user_version` and migrated on
//! open.
//!
//! - `schema`: opening the file, migrations, the connections.
//! - `thread`: the threads owning the connections; group commit.
//! - `queries`: the statements.

mod deployments;
mod queries;
mod schema;
mod tenants;
#[cfg(test)]
mod tests;
mod thread;

use std::path::Path;

use rusqlite::Connection;
use tokio::sync::oneshot;

use wflow_api::{Envelope, HandlerRecord};
use wflow_core::{BoxFuture, Event, Snapshot};

use self::thread::{Job, Read, Worker, Write};
use crate::rows::{self, event_row};
use crate::{Store, StoreError, StoredDeployment, StoredHandler, StoredTenant};

/// Handlers in a SQLite file, served by threads of their own.
///
/// One thread owns the writing connection. Writes queue on its channel;
/// each time it is free it takes every write queued meanwhile and commits
/// them in one transaction (one sync), each write in a savepoint of its own
/// so that a failing write leaves nothing behind and fails alone. Under
/// load many runs' writes share a sync; alone, a write is its own
/// transaction. A write is durable when its future completes.
///
/// Reads are served by a second thread with a read-only connection, which
/// in WAL mode reads while the writer commits (for an in-memory database,
/// by the writer's thread). No tokio worker ever waits for SQLite.
///
/// Dropping the store lets its threads answer what was queued, close their
/// connections and end.
pub struct SqliteStore {
    writer: Worker<Job>,
    /// `None`: the writer's thread serves the reads.
    reader: Option<Worker<Read>>,
    /// `FILE.lock`, locked while the store is open: one process at a time.
    _lock: Option<std::fs::File>,
}

impl SqliteStore {
    /// Opens (creating) the store at `path` and brings its schema up to
    /// date; a file written by a newer wflow is refused, and so is a file
    /// another process has open (through `FILE.lock`). This waits for the
    /// file: call it before serving, or from a blocking context.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let lock = schema::lock(path)?;
        let connection = schema::open_writer(path)?;
        let reader = schema::open_reader(path);
        let writer = Worker::spawn("wflow-sqlite-writer", connection, thread::serve_writes)?;
        let reader = reader
            .map(|connection| Worker::spawn("wflow-sqlite-reader", connection, thread::serve_reads))
            .transpose()?;
        Ok(Self {
            writer,
            reader,
            _lock: lock,
        })
    }

    /// Queues `run` for the next group commit and waits for its outcome.
    async fn write(
        &self,
        run: impl Fn(&Connection) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer.send(Job::Write(Write {
            run: Box::new(run),
            reply,
        }))?;
        answer.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Runs `query` on the reading connection, in one read transaction.
    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let read: Read = Box::new(move |connection| {
            // A reader that went away does not need its answer.
            let _ = reply.send(query(connection));
        });
        match &self.reader {
            Some(reader) => reader.send(read)?,
            None => self.writer.send(Job::Read(read))?,
        }
        answer.await.unwrap_or(Err(StoreError::Closed))
    }
}

impl Store for SqliteStore {
    fn save_handler<'a>(
        &'a self,
        record: &'a HandlerRecord,
        start: &'a Event,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let result = rows::result_text(record)?;
            let (record, start) = (record.clone(), start.clone());
            self.write(move |connection| {
                queries::save_handler(connection, &record, result.as_deref(), &start)
            })
            .await
        })
    }

    fn update_handler<'a>(
        &'a self,
        record: &'a HandlerRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let result = rows::result_text(record)?;
            let record = record.clone();
            self.write(move |connection| {
                queries::update_handler(connection, &record, result.as_deref())
            })
            .await
        })
    }

    fn append_events<'a>(
        &'a self,
        handler_id: &'a str,
        events: &'a [(u64, Envelope)],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let rows = rows::event_rows(events)?;
            let handler_id = handler_id.to_string();
            self.write(move |connection| queries::append_events(connection, &handler_id, &rows))
                .await
        })
    }

    fn finish_handler<'a>(
        &'a self,
        record: &'a HandlerRecord,
        terminal: Option<(u64, &'a Envelope)>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let result = rows::result_text(record)?;
            let terminal = terminal
                .map(|(sequence, envelope)| event_row(sequence, envelope))
                .transpose()?;
            let record = record.clone();
            self.write(move |connection| {
                queries::update_handler(connection, &record, result.as_deref())?;
                match &terminal {
                    Some(row) => queries::append_events(
                        connection,
                        &record.handler_id,
                        std::slice::from_ref(row),
                    ),
                    None => Ok(()),
                }
            })
            .await
        })
    }

    fn save_snapshot<'a>(
        &'a self,
        handler_id: &'a str,
        snapshot: &'a Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let text = crate::rows::snapshot_text(snapshot)?;
            let handler_id = handler_id.to_string();
            self.write(move |connection| queries::save_snapshot(connection, &handler_id, &text))
                .await
        })
    }

    fn delete_handler<'a>(&'a self, handler_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let handler_id = handler_id.to_string();
            self.write(move |connection| queries::delete_handler(connection, &handler_id))
                .await
        })
    }

    fn load_running(&self) -> BoxFuture<'_, Result<Vec<StoredHandler>, StoreError>> {
        Box::pin(self.read(queries::load_running))
    }

    fn load_handler<'a>(
        &'a self,
        handler_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredHandler>, StoreError>> {
        let handler_id = handler_id.to_string();
        Box::pin(self.read(move |connection| queries::load_handler(connection, &handler_id)))
    }

    fn records(&self) -> BoxFuture<'_, Result<Vec<HandlerRecord>, StoreError>> {
        Box::pin(self.read(queries::records))
    }

    fn handler_counts(&self) -> BoxFuture<'_, Result<Vec<(String, u64)>, StoreError>> {
        Box::pin(self.read(queries::handler_counts))
    }

    fn records_of<'a>(
        &'a self,
        tenant: &'a str,
    ) -> BoxFuture<'a, Result<Vec<HandlerRecord>, StoreError>> {
        let tenant = tenant.to_string();
        Box::pin(self.read(move |connection| queries::records_of(connection, &tenant)))
    }

    fn events_after<'a>(
        &'a self,
        handler_id: &'a str,
        after: i64,
        max: usize,
    ) -> BoxFuture<'a, Result<Vec<(u64, Envelope)>, StoreError>> {
        let handler_id = handler_id.to_string();
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        Box::pin(
            self.read(move |connection| queries::events_after(connection, &handler_id, after, max)),
        )
    }

    fn save_deployment<'a>(
        &'a self,
        deployment: &'a StoredDeployment,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let deployment = deployment.clone();
        Box::pin(self.write(move |connection| deployments::save(connection, &deployment)))
    }

    fn delete_deployment<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        Box::pin(async move {
            let (reply, answer) = std::sync::mpsc::channel();
            self.write(move |connection| {
                let deleted = deployments::delete(connection, &tenant, &name, version)?;
                let _ = reply.send(deleted);
                Ok(())
            })
            .await?;
            Ok(answer.try_recv().unwrap_or(false))
        })
    }

    fn deployments(&self) -> BoxFuture<'_, Result<Vec<StoredDeployment>, StoreError>> {
        Box::pin(self.read(deployments::all))
    }

    fn save_tenant<'a>(
        &'a self,
        tenant: &'a StoredTenant,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let tenant = tenant.clone();
        Box::pin(self.write(move |connection| tenants::save(connection, &tenant)))
    }

    fn delete_tenant<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let name = name.to_string();
        Box::pin(async move {
            let (reply, answer) = std::sync::mpsc::channel();
            self.write(move |connection| {
                let deleted = tenants::delete(connection, &name)?;
                let _ = reply.send(deleted);
                Ok(())
            })
            .await?;
            Ok(answer.try_recv().unwrap_or(false))
        })
    }

    fn tenants(&self) -> BoxFuture<'_, Result<Vec<StoredTenant>, StoreError>> {
        Box::pin(self.read(tenants::all))
    }
}
