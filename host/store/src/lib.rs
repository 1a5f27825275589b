//! Where the server keeps its handlers across restarts: each handler's
//! record and start event, the events its run streamed, and the run's last
//! checkpoint. [`SqliteStore`] is the embedded implementation; the trait
//! leaves room for others (PostgreSQL).

mod sqlite;

use std::sync::Arc;

use wflow_api::{Envelope, HandlerRecord};
use wflow_core::{CheckpointStore, Event, Result, Snapshot, WorkflowError};

pub use sqlite::SqliteStore;

/// A store that cannot read or write.
#[derive(Debug, thiserror::Error)]
#[error("the handler store: {0}")]
pub struct StoreError(pub String);

/// A handler as stored.
#[derive(Debug, Clone)]
pub struct StoredHandler {
    pub record: HandlerRecord,
    /// The start event (name and payload), to start over a run that had
    /// not checkpointed yet.
    pub start: Event,
    /// The streamed events, by sequence.
    pub events: Vec<Envelope>,
    /// The run's last checkpoint.
    pub snapshot: Option<Snapshot>,
}

/// Durable storage of handlers. Every write is atomic and durable when it
/// returns.
pub trait Store: Send + Sync + 'static {
    /// Creates (or, for a reused id, replaces) a handler's record. Call
    /// `delete_handler` first to forget a previous run's events and
    /// checkpoint.
    fn save_handler(&self, record: &HandlerRecord, start: &Event) -> Result<(), StoreError>;
    /// Updates a handler's record (status, result, times).
    fn update_handler(&self, record: &HandlerRecord) -> Result<(), StoreError>;
    /// Appends streamed events, each at its sequence, in one write.
    fn append_events(&self, handler_id: &str, events: &[(u64, Envelope)])
    -> Result<(), StoreError>;
    /// Appends one streamed event at `sequence`.
    fn append_event(
        &self,
        handler_id: &str,
        sequence: u64,
        envelope: &Envelope,
    ) -> Result<(), StoreError> {
        self.append_events(handler_id, &[(sequence, envelope.clone())])
    }
    /// Replaces the handler's checkpoint.
    fn save_snapshot(&self, handler_id: &str, snapshot: &Snapshot) -> Result<(), StoreError>;
    /// Forgets a handler entirely.
    fn delete_handler(&self, handler_id: &str) -> Result<(), StoreError>;
    /// Every handler whose run had not finished, oldest first: what a
    /// restarted server resumes.
    fn load_running(&self) -> Result<Vec<StoredHandler>, StoreError>;
    /// One handler, if stored: a finished handler the server no longer
    /// keeps in memory.
    fn load_handler(&self, handler_id: &str) -> Result<Option<StoredHandler>, StoreError>;
    /// Every handler's record, oldest first.
    fn records(&self) -> Result<Vec<HandlerRecord>, StoreError>;
}

/// A run's checkpoints, written into the store under its handler.
pub struct HandlerCheckpoint {
    pub store: Arc<dyn Store>,
    pub handler_id: String,
}

impl CheckpointStore for HandlerCheckpoint {
    fn save(&self, snapshot: &Snapshot) -> Result<()> {
        self.store
            .save_snapshot(&self.handler_id, snapshot)
            .map_err(|err| WorkflowError::Runtime(err.to_string()))
    }
}
