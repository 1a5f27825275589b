//! The handler service behind the routes: start a run under a handler, find
//! a handler (in memory or in the store), list them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;
use tracing::Instrument as _;

use wflow_api::HandlerRecord;
use wflow_core::{CheckpointStore, Context, Event, RunOptions, Workflow, WorkflowHandler};
use wflow_store::HandlerCheckpoint;

use crate::App;
use crate::cluster::RemoteHandler;
use crate::deliveries::Deliveries;
use crate::error::{ApiError, off_workers};
use crate::follow::follow;
use crate::metrics::RunLabels;
use crate::progress::{FollowedCheckpoint, Follower, StreamProgress};
use crate::replay::Replay;
use crate::runs::{self, HandlerEntry};
use crate::tenants::auth::Caller;
use crate::tenants::quota::{NewHandler, RunPermit};
use crate::tenants::{RunOn, Tenant, VersionInUse, handler_key};

/// A run just started, cancelled when dropped unless claimed.
struct Unclaimed(Option<WorkflowHandler>);

impl Unclaimed {
    /// The run, no longer cancelled on drop.
    fn claim(mut self) -> Option<WorkflowHandler> {
        self.0.take()
    }
}

impl Drop for Unclaimed {
    fn drop(&mut self) {
        if let Some(run) = &self.0 {
            run.cancel();
        }
    }
}

/// A handler as a request finds it.
pub(crate) enum Found {
    /// Here: its run goes on in this host, or has ended.
    Here(Arc<HandlerEntry>),
    /// Its run goes on in another host sharing the store (or waits for one
    /// to claim it).
    Elsewhere(Box<RemoteHandler>),
}

impl Found {
    /// The handler's record.
    pub(crate) fn record(&self) -> HandlerRecord {
        match self {
            Self::Here(entry) => entry.record(),
            Self::Elsewhere(remote) => remote.record.clone(),
        }
    }

    /// Whether its run has ended.
    pub(crate) fn is_finished(&self) -> bool {
        match self {
            Self::Here(entry) => entry.is_finished(),
            Self::Elsewhere(_) => false,
        }
    }
}

/// What a run holds until it ends: its place in its tenant's
/// `max_concurrent_runs`, and the deployment version it runs on.
pub(crate) struct RunHold {
    pub(crate) _permit: RunPermit,
    pub(crate) _version: Option<VersionInUse>,
}

impl App {
    /// Run options checkpointing into the store under handler `id`, each
    /// checkpoint once the events it counts are stored (see `progress`),
    /// settling the `deliveries` it holds.
    pub(crate) fn run_options(
        &self,
        id: &str,
        progress: &Arc<StreamProgress>,
        deliveries: &Arc<Deliveries>,
    ) -> RunOptions {
        RunOptions {
            checkpoint: self.store.clone().map(|store| {
                Arc::new(FollowedCheckpoint {
                    store: HandlerCheckpoint {
                        store,
                        handler_id: id.to_string(),
                    },
                    progress: progress.clone(),
                    deliveries: deliveries.clone(),
                }) as Arc<dyn CheckpointStore>
            }),
            internal_events: true,
            ..RunOptions::default()
        }
    }

    /// The task that follows `live`'s stream into `entry` until the run
    /// ends, holding `hold` until then; its span is a child of the run's
    /// (`run`).
    pub(crate) fn follow(
        &self,
        workflow: Workflow,
        run: &tracing::Span,
        entry: Arc<HandlerEntry>,
        live: Arc<WorkflowHandler>,
        follower: Follower,
        hold: RunHold,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let record = entry.record();
        let (entry_id, entry_tenant) = (record.handler_id, record.tenant);
        let following = follow(
            workflow,
            entry,
            live,
            self.store.clone(),
            self.handlers.clone(),
            follower,
            self.metrics.clone(),
        );
        // Every log line of the follower names the handler.
        let span = tracing::info_span!(
            parent: run,
            "handler",
            handler_id = %entry_id,
            tenant = %entry_tenant
        );
        async move {
            following.await;
            drop(hold);
        }
        .instrument(span)
    }

    /// Starts `start` on the caller's `workflow` under the `handler_id` the
    /// caller chose (or a fresh one), and the task that follows its stream
    /// into the handler.
    pub(crate) async fn start(
        &self,
        caller: &Caller,
        run_on: RunOn,
        handler_id: Option<String>,
        start: Event,
    ) -> Result<Arc<HandlerEntry>, ApiError> {
        let tenant = &caller.tenant;
        let RunOn {
            workflow,
            version,
            in_use,
        } = run_on;
        let workflow = &workflow;
        self.handlers
            .admit(tenant.name(), self.access.tenant_count())
            .map_err(|full| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, full.to_string()))?;
        // Only a chosen id can name an earlier handler: a fresh one costs no
        // lookup. Checked here so that no run starts for nothing, and again
        // when the handler is registered, atomically, against a concurrent
        // request.
        let (client_id, previous) = match handler_id {
            Some(id) => {
                let previous = self.handler(tenant, &id).await.ok();
                (id, previous)
            }
            None => (runs::new_id(), None),
        };
        let handler_id = handler_key(tenant.name(), &client_id);
        if let Some(previous) = &previous {
            if !previous.is_finished() {
                return Err(ApiError::conflict(format!(
                    "Handler '{client_id}' is already running"
                )));
            }
            // An id belongs to one workflow for good: reusing it for another
            // would drop the first one's result and events.
            let owner = previous.record().workflow_name;
            if owner != workflow.name() {
                return Err(ApiError::conflict(format!(
                    "Handler '{client_id}' belongs to workflow '{owner}'"
                )));
            }
        }
        let permit = caller.begin_run()?;
        // Counted against the tenant's stored handlers, unless the id is
        // reused (or nothing is stored).
        let counted = if self.store.is_some() && previous.is_none() {
            caller.add_handler()?
        } else {
            NewHandler::none()
        };
        // A reused id starts from the state its previous run ended with.
        let context = previous
            .as_ref()
            .and_then(|previous| match previous {
                Found::Here(entry) => entry.final_state(),
                Found::Elsewhere(_) => None,
            })
            .and_then(|state| {
                let context = Context::new(workflow);
                match context.store().restore((*state).clone()) {
                    Ok(()) => Some(context),
                    Err(err) => {
                        tracing::warn!(%handler_id, "the previous run's state does not fit: {err}");
                        None
                    }
                }
            });
        if let Some(store) = &self.store
            && previous.is_some()
        {
            // A reused id starts afresh: forget the previous run.
            store
                .delete_handler(&handler_id)
                .await
                .map_err(|err| ApiError::internal(format!("Initial persistence failed: {err}")))?;
        }
        // A fresh run: its events are logged from sequence 0.
        let progress = StreamProgress::new(Replay::new(0, Vec::new(), 0));
        let follower = Follower::new(progress.clone());
        let deliveries = Arc::new(Deliveries::after(0));
        // The run is in this request's trace, and so is the run resumed
        // from the handler later.
        let trace = crate::trace::traceparent(&tracing::Span::current());
        let run_span = crate::trace::run_span(workflow.name(), &handler_id, trace.as_deref());
        let options = RunOptions {
            context,
            span: Some(run_span.clone()),
            ..self.run_options(&handler_id, &progress, &deliveries)
        };
        let starting = (workflow.clone(), start.clone());
        // Cancelled if this request goes away before the run is registered:
        // no run goes on without a handler (and outside its tenant's quota).
        let live = off_workers(move || {
            let started = starting.0.run_with(starting.1, options);
            started.map(|run| Unclaimed(Some(run)))
        })
        .await?
        .map_err(|err| ApiError::internal(format!("Error running workflow: {err}")))?
        .claim()
        .ok_or_else(|| ApiError::internal("Error running workflow: the run was lost"))?;
        let live = Arc::new(live);
        let entry = self
            .handlers
            .start(
                handler_id,
                tenant.name(),
                workflow.name(),
                version,
                trace,
                live.clone(),
            )
            .map_err(|runs::AlreadyRunning| {
                live.cancel();
                ApiError::conflict(format!("Handler '{client_id}' is already running"))
            })?;
        entry.attach_deliveries(deliveries);
        let labels = RunLabels {
            workflow: workflow.name().to_string(),
            tenant: tenant.name().to_string(),
        };
        self.metrics.run_began(&labels, true);
        let follow = self.follow(
            workflow.clone(),
            &run_span,
            entry.clone(),
            live.clone(),
            follower,
            RunHold {
                _permit: permit,
                _version: in_use,
            },
        );
        let Some(store) = self.store.clone() else {
            tokio::spawn(follow);
            return Ok(entry);
        };
        // The handler is registered and its run going: from here on, one
        // task saves it and follows it, whether or not the request that
        // started it waits for the answer.
        let (saved, outcome) = oneshot::channel();
        let (handlers, registered) = (self.handlers.clone(), entry.clone());
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            let record = registered.record();
            if let Err(err) = store.save_handler(&record, &start).await {
                live.cancel();
                handlers.remove(&record.handler_id);
                // Never followed: it never ran as far as anyone can see.
                metrics.run_left(&labels);
                let _ = saved.send(Err(ApiError::internal(format!(
                    "Initial persistence failed: {err}"
                ))));
                return;
            }
            counted.keep();
            let _ = saved.send(Ok(()));
            follow.await;
        });
        outcome
            .await
            .unwrap_or_else(|_| Err(ApiError::internal("Initial persistence failed")))?;
        Ok(entry)
    }

    /// `tenant`'s handler `id`: in memory, or held by another host sharing
    /// the store, or read back from the store when the server no longer
    /// keeps it in memory. Another tenant's is not found, as one that does
    /// not exist.
    pub(crate) async fn handler(&self, tenant: &Tenant, id: &str) -> Result<Found, ApiError> {
        let key = handler_key(tenant.name(), id);
        let id = key.as_str();
        if let Some(entry) = self.handlers.get(id) {
            return if entry.belongs_to(tenant.name()) {
                Ok(Found::Here(entry))
            } else {
                Err(ApiError::handler_not_found())
            };
        }
        if let Some(remote) = self
            .held_elsewhere(id)
            .await
            .map_err(|err| ApiError::internal(err.to_string()))?
        {
            return if remote.record.tenant == tenant.name() {
                Ok(Found::Elsewhere(Box::new(remote)))
            } else {
                Err(ApiError::handler_not_found())
            };
        }
        let Some(store) = &self.store else {
            return Err(ApiError::handler_not_found());
        };
        let stored = store
            .load_handler(id)
            .await
            .map_err(|err| ApiError::internal(err.to_string()))?
            .filter(|stored| stored.record.tenant == tenant.name())
            .ok_or_else(ApiError::handler_not_found)?;
        let final_state = stored.snapshot.map(|snapshot| Arc::new(snapshot.state));
        Ok(Found::Here(self.handlers.read_back(
            stored.record,
            stored.events,
            final_state,
        )))
    }

    /// The state tenant `tenant`'s handler `id` last saved in the store, if
    /// any.
    pub(crate) async fn saved_state(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<Arc<Value>>, ApiError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let stored = store
            .load_handler(&handler_key(tenant.name(), id))
            .await
            .map_err(|err| ApiError::internal(err.to_string()))?;
        Ok(stored
            .filter(|stored| stored.record.tenant == tenant.name())
            .and_then(|stored| stored.snapshot)
            .map(|snapshot| Arc::new(snapshot.state)))
    }

    /// Every handler's record of `tenant`, oldest first: the store's (with
    /// the running ones as they are now), or those in memory.
    pub(crate) async fn handler_records(
        &self,
        tenant: &Tenant,
    ) -> Result<Vec<HandlerRecord>, ApiError> {
        let in_memory = || -> Vec<HandlerRecord> {
            self.handlers
                .all()
                .iter()
                .filter(|entry| entry.belongs_to(tenant.name()))
                .map(|entry| entry.record())
                .collect()
        };
        let Some(store) = &self.store else {
            return Ok(in_memory());
        };
        let stored = store
            .records_of(tenant.name())
            .await
            .map_err(|err| ApiError::internal(err.to_string()))?;
        // Taken after the store's answer, so as new as it or newer.
        let in_memory = in_memory();
        let mut current: HashMap<&str, &HandlerRecord> = in_memory
            .iter()
            .map(|record| (record.handler_id.as_str(), record))
            .collect();
        let mut records: Vec<HandlerRecord> = stored
            .into_iter()
            .map(|stored| {
                current
                    .remove(stored.handler_id.as_str())
                    .cloned()
                    .unwrap_or(stored)
            })
            .collect();
        // Started but not stored yet.
        records.extend(
            in_memory
                .iter()
                .filter(|record| current.contains_key(record.handler_id.as_str()))
                .cloned(),
        );
        Ok(records)
    }
}
