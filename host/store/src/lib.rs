//! Where the server keeps its handlers across restarts: each handler's
//! record and start event, the events its run streamed, and the run's last
//! checkpoint.
//!
//! [`Store`] is async (a network database fits behind it) and object safe
//! (the server holds an `Arc<dyn Store>`); its methods return
//! [`BoxFuture`]s, as core's [`CheckpointStore`] does. [`SqliteStore`] is
//! the embedded implementation, [`PostgresStore`] the one several hosts
//! can share. Module `testing` (cargo feature `testing`) is the suite
//! every implementation must pass; `rows` is what they store alike.

mod cluster;
mod error;
mod postgres;
mod rows;
mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::sync::Arc;

use wflow_api::{Envelope, HandlerRecord};
use wflow_core::{BoxFuture, CheckpointStore, Event, Result, Snapshot, WorkflowError};

pub use cluster::{Cluster, CurrentHandler, DEFAULT_LEASE, Delivery, HostConfig, Notice, Taken};
pub use error::{Cause, StoreError};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// A handler as stored.
#[derive(Debug, Clone)]
pub struct StoredHandler {
    /// Its record: status, result, times.
    pub record: HandlerRecord,
    /// The start event (name and payload), to start over a run that had
    /// not checkpointed yet.
    pub start: Event,
    /// The streamed events with their sequences, in order (a sequence
    /// missing is an event lost or left out as damaged).
    pub events: Vec<(u64, Envelope)>,
    /// The run's last checkpoint.
    pub snapshot: Option<Snapshot>,
    /// What of it could not be read back (an event or a checkpoint that is
    /// no longer valid), left out above: empty for a whole handler. A
    /// server does not resume a damaged run; it reports it failed with
    /// these reasons.
    pub damage: Vec<String>,
}

/// One version of a tenant's deployment, as stored.
#[derive(Debug, Clone)]
pub struct StoredDeployment {
    /// The tenant it belongs to.
    pub tenant: String,
    /// The workflow's name.
    pub name: String,
    /// Its version: 1 for the first deployment of the name, then up.
    pub version: u64,
    /// When it was deployed (RFC 3339).
    pub created_at: String,
    /// The manifest (`workflow.toml`) it came with, if any.
    pub manifest: Option<String>,
    /// Its components, in the manifest's order.
    pub components: Vec<DeployedComponent>,
    /// It was deleted: only its number is kept (never given again), no
    /// manifest or component.
    pub deleted: bool,
}

/// A deployed component.
#[derive(Debug, Clone)]
pub struct DeployedComponent {
    /// The file name the manifest refers to it by (or the upload's).
    pub file_name: String,
    /// The SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its bytes.
    pub bytes: Arc<Vec<u8>>,
}

/// A tenant defined through the server's admin API, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTenant {
    /// Its name.
    pub name: String,
    /// Its definition (quotas, limits, tokens' hashes) as the server
    /// writes it: JSON the store keeps as it is.
    pub definition: String,
    /// When it was last changed (RFC 3339).
    pub updated_at: String,
}

/// Durable storage of handlers.
///
/// Every write is atomic (all of it is stored, or none of it, whatever else
/// is written at the same time) and durable when its future completes with
/// `Ok`. A read sees every write that completed before it was asked for.
/// A write's future that is dropped before it completes may still land.
pub trait Store: Send + Sync + 'static {
    /// Creates (or, for a reused id, replaces) a handler's record. Call
    /// `delete_handler` first to forget a previous run's events and
    /// checkpoint.
    fn save_handler<'a>(
        &'a self,
        record: &'a HandlerRecord,
        start: &'a Event,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Updates a handler's record (status, result, times).
    fn update_handler<'a>(
        &'a self,
        record: &'a HandlerRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Appends streamed events, each at its sequence, in one write. A
    /// sequence already stored for the handler is a
    /// [`StoreError::Conflict`], and then none of `events` is stored.
    fn append_events<'a>(
        &'a self,
        handler_id: &'a str,
        events: &'a [(u64, Envelope)],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Appends one streamed event at `sequence`.
    fn append_event<'a>(
        &'a self,
        handler_id: &'a str,
        sequence: u64,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.append_events(handler_id, &[(sequence, envelope.clone())])
                .await
        })
    }

    /// Records how a handler's run ended and appends the event that closes
    /// its stream (at `sequence`), in one write: a crash leaves both or
    /// neither, so a finished handler's stream always ends with its
    /// terminal event.
    fn finish_handler<'a>(
        &'a self,
        record: &'a HandlerRecord,
        terminal: Option<(u64, &'a Envelope)>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Replaces the handler's checkpoint.
    fn save_snapshot<'a>(
        &'a self,
        handler_id: &'a str,
        snapshot: &'a Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Forgets a handler entirely: its record, events and checkpoint.
    fn delete_handler<'a>(&'a self, handler_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Every handler whose run had not finished, oldest first: what a
    /// restarted server resumes.
    fn load_running(&self) -> BoxFuture<'_, Result<Vec<StoredHandler>, StoreError>>;

    /// One handler, if stored: a finished handler the server no longer
    /// keeps in memory.
    fn load_handler<'a>(
        &'a self,
        handler_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredHandler>, StoreError>>;

    /// Every handler's record, oldest first.
    fn records(&self) -> BoxFuture<'_, Result<Vec<HandlerRecord>, StoreError>>;

    /// How many handlers each tenant has stored, by tenant (a tenant with
    /// none is left out): what its `max_handlers` quota counts from on
    /// start, without reading a row.
    fn handler_counts(&self) -> BoxFuture<'_, Result<Vec<(String, u64)>, StoreError>>;

    /// Tenant `tenant`'s handlers' records, oldest first (what one
    /// tenant's listing reads: none of the others' rows).
    fn records_of<'a>(
        &'a self,
        tenant: &'a str,
    ) -> BoxFuture<'a, Result<Vec<HandlerRecord>, StoreError>>;

    /// Up to `max` of a handler's events with a sequence above `after`
    /// (`-1`: from the first), in order: what a reader pages through once
    /// the server no longer holds them in memory. A row that cannot be read
    /// back is left out (its sequence shows as a gap) and logged.
    fn events_after<'a>(
        &'a self,
        handler_id: &'a str,
        after: i64,
        max: usize,
    ) -> BoxFuture<'a, Result<Vec<(u64, Envelope)>, StoreError>>;

    /// Stores a deployment version, all of it or nothing; a version already
    /// stored for its tenant and name is a [`StoreError::Conflict`].
    fn save_deployment<'a>(
        &'a self,
        deployment: &'a StoredDeployment,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Forgets a deployment version (and the bytes no other version
    /// shares), keeping its number as taken; whether it was stored and not
    /// deleted yet.
    fn delete_deployment<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Every deployment version, with its components' bytes, by tenant,
    /// name and version, the deleted ones too (marked, without bytes): what
    /// a restarted server serves again, and the numbers taken.
    fn deployments(&self) -> BoxFuture<'_, Result<Vec<StoredDeployment>, StoreError>>;

    /// Stores a tenant defined through the admin API, replacing the one of
    /// its name.
    fn save_tenant<'a>(&'a self, tenant: &'a StoredTenant)
    -> BoxFuture<'a, Result<(), StoreError>>;

    /// Forgets the tenant named `name` defined through the admin API;
    /// whether there was one.
    fn delete_tenant<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Every tenant defined through the admin API, by name.
    fn tenants(&self) -> BoxFuture<'_, Result<Vec<StoredTenant>, StoreError>>;

    /// The store as one several hosts share, if it is one: then a host
    /// executes only the runs it holds a lease on (see [`Cluster`]), and
    /// answers for the others from the database.
    fn cluster(&self) -> Option<&dyn Cluster> {
        None
    }
}

/// A run's checkpoints, written into the store under its handler.
pub struct HandlerCheckpoint {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The handler whose run checkpoints.
    pub handler_id: String,
}

impl CheckpointStore for HandlerCheckpoint {
    fn save<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.store
                .save_snapshot(&self.handler_id, snapshot)
                .await
                .map_err(|err| WorkflowError::checkpoint(&self.handler_id, err))
        })
    }
}
