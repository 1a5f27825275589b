//! The server as one of several hosts on a shared store (see
//! [`wflow_store::Cluster`]).
//!
//! A host runs the runs it holds a lease on: those started through it, and
//! those it claims (a dead host's, once their lease expired, within its
//! capacity). A task keeps its leases: renews them every third of the
//! lease, stops the runs it lost (a paused host whose runs another took
//! over), claims, and takes what other hosts left in its runs' inboxes.
//! Another task listens: it wakes the readers of runs held elsewhere when
//! their streams grow, and takes the inbox when told of a delivery.
//!
//! For a run held elsewhere a host answers from the database
//! ([`RemoteHandler`]); what it is asked to send into the run, or to
//! cancel it, goes to the run's inbox.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::{Notify, broadcast};

use wflow_api::{HandlerRecord, Status};
use wflow_store::{Cluster, Delivery, Notice, Taken};

use crate::App;
use crate::envelope;
use crate::error::{ApiError, off_workers};
use crate::follow::persist;
use crate::runs::{HandlerEntry, RunEnd};

/// How often a host looks into its runs' inboxes even without a notice,
/// and how long a reader of a run held elsewhere waits for one before it
/// reads the store again: a lost notice delays, never loses.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// How long a cancel waits for the run's host to confirm, beyond three
/// leases (time for a dead host's run to be claimed and cancelled).
const CONFIRM: Duration = Duration::from_secs(5);

/// The runs a host holds at most by default: it claims no more.
pub const DEFAULT_CAPACITY: usize = 1000;

/// A handler whose run another host holds, as the database has it now.
#[derive(Debug, Clone)]
pub(crate) struct RemoteHandler {
    /// Its record.
    pub(crate) record: HandlerRecord,
    /// The sequence of its last stored event.
    pub(crate) last_sequence: Option<u64>,
}

/// The readers of runs held elsewhere, woken by handler id.
#[derive(Default)]
pub(crate) struct Watchers {
    by_id: Mutex<HashMap<String, Weak<Notify>>>,
}

impl Watchers {
    /// What wakes the readers of handler `id`, for as long as it is held.
    pub(crate) fn watch(&self, id: &str) -> Arc<Notify> {
        let mut by_id = wflow_core::sync::lock(&self.by_id);
        if let Some(notify) = by_id.get(id).and_then(Weak::upgrade) {
            return notify;
        }
        // Forget the readers gone, so the map stays as large as those
        // reading.
        by_id.retain(|_, notify| notify.strong_count() > 0);
        let notify = Arc::new(Notify::new());
        by_id.insert(id.to_string(), Arc::downgrade(&notify));
        notify
    }

    /// Wakes the readers of handler `id`.
    fn wake(&self, id: &str) {
        let notify = wflow_core::sync::lock(&self.by_id)
            .get(id)
            .and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Wakes every reader (notices may have been lost).
    fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = wflow_core::sync::lock(&self.by_id)
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for notify in all {
            notify.notify_waiters();
        }
    }
}

impl App {
    /// The store as several hosts share it, if it is one.
    pub(crate) fn cluster(&self) -> Option<&dyn Cluster> {
        self.store.as_deref().and_then(|store| store.cluster())
    }

    /// Handler `id` as the database has it, when another host runs it;
    /// `None` when no run of it is going on elsewhere (it is finished, or
    /// not stored, or held here).
    pub(crate) async fn held_elsewhere(
        &self,
        id: &str,
    ) -> Result<Option<RemoteHandler>, wflow_store::StoreError> {
        let Some(cluster) = self.cluster() else {
            return Ok(None);
        };
        let Some(current) = cluster.current(id).await? else {
            return Ok(None);
        };
        let mine = current.owner.as_deref() == Some(cluster.host().id.as_str());
        if current.record.status != Status::Running || mine {
            return Ok(None);
        }
        Ok(Some(RemoteHandler {
            record: current.record,
            last_sequence: current.last_sequence,
        }))
    }

    /// Claims runs within this host's capacity, and resumes them.
    pub(crate) async fn claim_runs(&self) -> Result<usize, wflow_store::StoreError> {
        let Some(cluster) = self.cluster() else {
            return Ok(0);
        };
        // No inbox is taken while claimed runs are brought back: a delivery
        // must find its run here.
        let _claiming = self.claiming.lock().await;
        let room = self.capacity.saturating_sub(cluster.held());
        let claimed = cluster.claim(room).await?;
        let count = claimed.len();
        for stored in claimed {
            tracing::warn!(handler = %stored.record.handler_id, "resuming a run no host held (its host stopped renewing its lease)");
            self.restore(stored).await;
        }
        Ok(count)
    }

    /// Stops the runs another host took over: their entries go (the next
    /// request reads them from the database), their runs are cancelled here
    /// without a write (the store refuses them anyway).
    fn give_up(&self, lost: &[String]) {
        for id in lost {
            tracing::warn!(handler = %id, "another host took over this run (its lease was not renewed in time): it stops here");
            if let Some(entry) = self.handlers.get(id) {
                if let Some(live) = entry.live() {
                    live.cancel();
                }
                self.handlers.remove_entry(&entry);
            }
        }
    }

    /// Takes what other hosts left for this host's runs, and delivers it.
    pub(crate) async fn take_inbox(&self) {
        let Some(cluster) = self.cluster() else {
            return;
        };
        let _claiming = self.claiming.lock().await;
        let deliveries = match cluster.take_inbox().await {
            Ok(deliveries) => deliveries,
            Err(err) => {
                tracing::error!("{err}");
                return;
            }
        };
        for Taken {
            row,
            handler_id,
            delivery,
        } in deliveries
        {
            let Some(entry) = self.handlers.get(&handler_id) else {
                // Claimed, and not brought back yet: taken again once it is
                // (at its next claim).
                tracing::warn!(handler = %handler_id, "a delivery for a run not here yet waits");
                continue;
            };
            match delivery {
                Delivery::Event { event, step } => {
                    self.deliver_event(&entry, row, event, step).await
                }
                Delivery::Cancel => self.cancel_here(&entry).await,
            }
        }
    }

    /// Sends an event left in the inbox (row `row`) into `entry`'s run.
    async fn deliver_event(
        &self,
        entry: &HandlerEntry,
        row: u64,
        event: serde_json::Value,
        step: Option<String>,
    ) {
        let record = entry.record();
        let (Some(live), Some(deliveries), Some(tenant)) = (
            entry.live(),
            entry.deliveries(),
            self.access.tenant(&record.tenant),
        ) else {
            tracing::warn!(handler = %record.handler_id, "an event for a run that has ended is dropped");
            return;
        };
        let Some(workflow) = tenant.workflow_at(&record.workflow_name, record.version) else {
            tracing::warn!(handler = %record.handler_id, "an event for a workflow this host does not serve is dropped");
            return;
        };
        let sent = off_workers(move || {
            deliveries.deliver(row, || {
                let event =
                    envelope::parse(&workflow, &event, false).map_err(|err| err.to_string())?;
                match step {
                    Some(step) => live.send_event_to(event, &step),
                    None => live.send_event(event),
                }
                .map_err(|err| err.to_string())
            })
        })
        .await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(handler = %record.handler_id, "an event sent through another host was refused: {err}")
            }
            Err(err) => tracing::error!(handler = %record.handler_id, "{err:?}"),
        }
    }

    /// Cancels `entry`'s run, held here.
    pub(crate) async fn cancel_here(&self, entry: &HandlerEntry) {
        if entry.is_finished() {
            return;
        }
        match entry.live() {
            Some(live) => live.cancel(),
            None => {
                // Stored as running, not resumed here (its workflow or
                // tenant is not served): nothing runs to cancel.
                let (record, _) = entry.finish(RunEnd::with_status(Status::Cancelled, None));
                persist(
                    self.store
                        .as_deref()
                        .map(|store| store.update_handler(&record)),
                )
                .await;
            }
        }
    }

    /// Cancels the run another host holds: leaves the request in its inbox,
    /// then waits until the stored record says it ended (its host, or the
    /// host that claims it if its host died, cancels it).
    pub(crate) async fn cancel_elsewhere(&self, remote: &RemoteHandler) -> Result<(), ApiError> {
        let Some(cluster) = self.cluster() else {
            return Err(ApiError::handler_not_found());
        };
        let id = &remote.record.handler_id;
        let internal = |err: wflow_store::StoreError| ApiError::internal(err.to_string());
        if !cluster
            .deliver(id, &Delivery::Cancel)
            .await
            .map_err(internal)?
        {
            // It ended meanwhile.
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + cluster.host().lease * 3 + CONFIRM;
        let wake = self.watch(id);
        loop {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match cluster.current(id).await.map_err(internal)? {
                Some(current) if !current.record.status.is_terminal() => {}
                _ => return Ok(()),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "the cancel is left for the host running handler {}, which has not confirmed it yet",
                        remote.record.handler_id
                    ),
                ));
            }
            let _ = tokio::time::timeout(POLL, notified).await;
        }
    }

    /// Sends `event` (checked against `workflow`'s schemas here first) into
    /// handler `handler_id`'s run through its inbox, wherever the run is:
    /// its host takes it, and settles it with the checkpoint that holds it
    /// (see `deliveries`), so that it reaches the run exactly once even if
    /// that host dies.
    pub(crate) async fn send_through_inbox(
        &self,
        handler_id: &str,
        workflow: wflow_core::Workflow,
        event: serde_json::Value,
        step: Option<String>,
    ) -> Result<(), ApiError> {
        let Some(cluster) = self.cluster() else {
            return Err(ApiError::handler_not_found());
        };
        let checked = event.clone();
        off_workers(move || {
            envelope::parse(&workflow, &checked, false)
                .map(drop)
                .map_err(|err| ApiError::bad_request(err.to_string()))
        })
        .await??;
        let delivered = cluster
            .deliver(handler_id, &Delivery::Event { event, step })
            .await
            .map_err(|err| ApiError::internal(format!("Failed to send event: {err}")))?;
        if !delivered {
            return Err(ApiError::conflict("Workflow already completed"));
        }
        if self.handlers.get(handler_id).is_some() {
            // Held here: taken at once.
            self.take_inbox().await;
        }
        Ok(())
    }

    /// Serves what another host deployed, and stops serving what it
    /// deleted.
    async fn sync_deployments(&self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        if let Err(err) = self.restore_deployments(&*store, None).await {
            tracing::error!("the deployments other hosts made are not served here yet: {err}");
        }
    }

    /// Serves the tenants as the admin API of any host left them.
    async fn sync_tenants(&self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        if let Err(err) = self.serve_stored_tenants(&*store).await {
            tracing::error!("the tenants other hosts defined are not served here yet: {err}");
        }
    }

    /// What wakes the readers of handler `id` held elsewhere.
    pub(crate) fn watch(&self, id: &str) -> Arc<Notify> {
        self.watchers.watch(id)
    }
}

/// Keeps this host's leases while `app` lives: renews them, gives up those
/// lost, claims within capacity, and polls the inboxes.
async fn keep_leases(app: Weak<App>) {
    let Some(lease) = app
        .upgrade()
        .and_then(|app| app.cluster().map(|cluster| cluster.host().lease))
    else {
        return;
    };
    let renew_every = (lease / 3).max(Duration::from_millis(10));
    let mut renewal = tokio::time::interval(renew_every);
    let mut poll = tokio::time::interval(POLL.min(renew_every));
    renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = renewal.tick() => {
                let Some(app) = app.upgrade() else { return };
                let Some(cluster) = app.cluster() else { return };
                match cluster.renew().await {
                    Ok(lost) => app.give_up(&lost),
                    Err(err) => tracing::error!("{err}"),
                }
                if let Err(err) = app.claim_runs().await {
                    tracing::error!("{err}");
                }
            }
            _ = poll.tick() => {
                let Some(app) = app.upgrade() else { return };
                app.due.inbox.notify_one();
            }
        }
    }
}

/// What a host's background tasks have to do, each woken by its own
/// [`Notify`]: many notices in a row make one pass, and the listening task
/// never waits for the work.
#[derive(Default)]
pub(crate) struct Due {
    /// Take the inbox.
    inbox: Arc<Notify>,
    /// Serve the deployments as stored.
    deployments: Arc<Notify>,
    /// Serve the tenants as stored.
    tenants: Arc<Notify>,
}

/// Starts this host's part in the cluster, if its store is shared: the
/// tasks that keep its leases, listen to the others, and do what they
/// announce. Each ends once `app` is gone.
pub(crate) fn start(app: &Arc<App>) {
    if app.cluster().is_none() {
        return;
    }
    let weak = Arc::downgrade(app);
    tokio::spawn(keep_leases(weak.clone()));
    tokio::spawn(listen(weak.clone()));
    tokio::spawn(when_due(weak.clone(), app.due.inbox.clone(), |app| {
        Box::pin(async move { app.take_inbox().await })
    }));
    tokio::spawn(when_due(weak.clone(), app.due.deployments.clone(), |app| {
        Box::pin(async move { app.sync_deployments().await })
    }));
    tokio::spawn(when_due(weak, app.due.tenants.clone(), |app| {
        Box::pin(async move { app.sync_tenants().await })
    }));
}

/// Does `work` each time `due` is notified, while `app` lives.
async fn when_due(
    app: Weak<App>,
    due: Arc<Notify>,
    work: impl Fn(Arc<App>) -> wflow_core::BoxFuture<'static, ()> + Send + 'static,
) {
    loop {
        due.notified().await;
        let Some(app) = app.upgrade() else { return };
        work(app).await;
    }
}

/// Acts on what the other hosts announce while `app` lives.
async fn listen(app: Weak<App>) {
    let Some(mut notices) = app
        .upgrade()
        .and_then(|app| app.cluster().map(|cluster| cluster.notices()))
    else {
        return;
    };
    loop {
        let notice = notices.recv().await;
        let Some(app) = app.upgrade() else { return };
        match notice {
            Ok(Notice::Events(id)) => app.watchers.wake(&id),
            Ok(Notice::Forgotten(id)) => {
                // Purged or reused through another host: what memory holds
                // of its finished run is no longer the handler.
                if let Some(entry) = app.handlers.get(&id)
                    && entry.is_finished()
                {
                    app.handlers.remove_entry(&entry);
                }
            }
            Ok(Notice::Inbox(id)) => {
                if app.handlers.get(&id).is_some() {
                    app.due.inbox.notify_one();
                }
            }
            Ok(Notice::Deployments) => app.due.deployments.notify_one(),
            Ok(Notice::Tenants) => app.due.tenants.notify_one(),
            Ok(Notice::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                app.watchers.wake_all();
                app.due.inbox.notify_one();
                app.due.tenants.notify_one();
                app.due.deployments.notify_one();
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
