//! Several hosts on one store: which host executes which run, and what
//! hosts tell each other through the database.
//!
//! A run belongs to the host that holds its *lease*: the host renews it
//! while it runs the run (every third of [`HostConfig::lease`]), and a
//! host that stops renewing loses its runs to the others once the lease
//! has expired. Each claim gives the run a new *fence*; every write a host
//! makes for a run it holds is checked against it, so a host that paused
//! past its lease and woke up cannot write over the run's new owner: its
//! writes fail with [`StoreError::LeaseLost`].
//!
//! Hosts that do not hold a run still answer for it: they read its record
//! and events from the database (woken by [`Notice`]s, and polling in case
//! a notice was lost), and leave what is sent to it, or a request to
//! cancel it, in its *inbox*, which its owner takes.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use wflow_api::HandlerRecord;
use wflow_core::BoxFuture;

use crate::{StoreError, StoredHandler};

/// How one host takes part.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The host's id, unique among the hosts sharing the database. A host
    /// started again under the same id takes back its runs at once; under
    /// a new id, once their leases expire.
    pub id: String,
    /// How long a lease lasts without renewal: how long a dead host's runs
    /// wait before another host resumes them.
    pub lease: Duration,
}

impl HostConfig {
    /// A host with a fresh random id and a 10-second lease.
    pub fn random() -> Self {
        Self {
            id: format!("host-{:016x}", fastrand::u64(..)),
            lease: DEFAULT_LEASE,
        }
    }
}

/// The lease a host's runs have by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// Something left in a run's inbox for its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Delivery {
    /// An event to send into the run (`POST /events/{id}`), as the client
    /// sent it: the owner checks it against the run's schemas again.
    Event {
        /// The event's JSON (its envelope).
        event: serde_json::Value,
        /// The step it is for, if the client named one.
        step: Option<String>,
    },
    /// Cancel the run.
    Cancel,
}

/// A delivery taken from an inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    /// Its row, to settle it by.
    pub row: u64,
    /// The handler it is for.
    pub handler_id: String,
    /// What it is.
    pub delivery: Delivery,
}

/// A handler as stored now, read by a host that does not run it.
#[derive(Debug, Clone)]
pub struct CurrentHandler {
    /// Its record.
    pub record: HandlerRecord,
    /// The sequence of its last stored event, if any.
    pub last_sequence: Option<u64>,
    /// The host holding its run, if one does (or did, and its lease has
    /// not been claimed since).
    pub owner: Option<String>,
}

/// What a host hears from the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Handler `0`'s stream grew (or its run ended).
    Events(String),
    /// Handler `0`'s inbox has something.
    Inbox(String),
    /// Handler `0` was deleted (purged, or its id reused): a host holding
    /// its finished run in memory forgets it.
    Forgotten(String),
    /// The deployments changed.
    Deployments,
    /// The tenants the admin API defines changed.
    Tenants,
    /// Notices may have been lost (the listening connection was lost, or
    /// this receiver fell behind): look at everything again.
    Resync,
}

/// A store several hosts share (see the module's documentation).
pub trait Cluster: Send + Sync + 'static {
    /// This host's id and lease.
    fn host(&self) -> &HostConfig;

    /// Takes up to `max` running handlers that no live host holds (never
    /// held, let go, or whose lease expired, or held by this host's id in
    /// an earlier life), each with a new fence: from now on this host's
    /// writes for them land, their former owner's do not. Oldest first.
    fn claim(&self, max: usize) -> BoxFuture<'_, Result<Vec<StoredHandler>, StoreError>>;

    /// Extends the leases of the runs this host holds; the ids of those it
    /// no longer holds (another host claimed them while this one did not
    /// renew in time).
    fn renew(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;

    /// How many runs this host holds.
    fn held(&self) -> usize;

    /// Lets go of every run this host holds (it is shutting down), so that
    /// other hosts take them at once.
    fn release_all(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Handler `handler_id` as stored now, without its events; `None` if
    /// there is no such handler.
    fn current<'a>(
        &'a self,
        handler_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CurrentHandler>, StoreError>>;

    /// Leaves `delivery` in running handler `handler_id`'s inbox and tells
    /// its owner; whether the handler was running (nothing is left
    /// otherwise).
    fn deliver<'a>(
        &'a self,
        handler_id: &'a str,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Takes what the inboxes of the runs this host holds have and it has
    /// not taken yet, oldest first. A delivery stays in the inbox until a
    /// checkpoint that holds it settles it
    /// ([`Cluster::save_snapshot_settling`]): a host that claims the run
    /// takes the unsettled ones again.
    fn take_inbox(&self) -> BoxFuture<'_, Result<Vec<Taken>, StoreError>>;

    /// Saves handler `handler_id`'s checkpoint as [`crate::Store::save_snapshot`]
    /// does and, in the same transaction, deletes the inbox rows `settled`
    /// (the deliveries it holds).
    fn save_snapshot_settling<'a>(
        &'a self,
        handler_id: &'a str,
        snapshot: &'a wflow_core::Snapshot,
        settled: &'a [u64],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// What the other hosts announce, from now on.
    fn notices(&self) -> broadcast::Receiver<Notice>;
}
