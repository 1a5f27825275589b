//! A restarted server's handlers: those its store kept, brought back as they
//! were (finished), resumed (running) or finished as their last checkpoint
//! says (ended after it).

use std::sync::Arc;

use wflow_api::Status;
use wflow_core::{Snapshot, SnapshotOutcome, WorkflowError, WorkflowHandler};
use wflow_store::{Store, StoreError, StoredHandler};

use crate::App;
use crate::deliveries::Deliveries;
use crate::envelope::envelope;
use crate::follow::persist;
use crate::metrics::RunLabels;
use crate::progress::{Follower, StreamProgress};
use crate::replay::Replay;
use crate::runs::RunEnd;
use crate::service::RunHold;
use crate::tenants::RunOn;

impl App {
    /// Registers `store` and brings back the handlers it kept unfinished.
    pub(crate) async fn restore_from(&mut self, store: Arc<dyn Store>) -> Result<(), StoreError> {
        self.serve_stored_tenants(&*store).await?;
        self.restore_deployments(&*store, None).await?;
        self.count_stored_handlers(&*store, None).await?;
        if store.cluster().is_some() {
            // Shared with other hosts: only the runs no live host holds,
            // within this host's capacity (the others go on where they are).
            self.store = Some(store);
            self.claim_runs().await?;
            return Ok(());
        }
        let stored = store.load_running().await?;
        self.store = Some(store);
        for handler in stored {
            self.restore(handler).await;
        }
        Ok(())
    }

    /// Counts each tenant's stored handlers (only `only`'s, if given)
    /// against its `max_handlers`.
    pub(crate) async fn count_stored_handlers(
        &self,
        store: &dyn Store,
        only: Option<&[String]>,
    ) -> Result<(), StoreError> {
        let counts: std::collections::HashMap<String, u64> =
            store.handler_counts().await?.into_iter().collect();
        for tenant in self.access.tenants() {
            if only.is_none_or(|only| only.iter().any(|name| name == tenant.name())) {
                let count = counts.get(tenant.name()).copied().unwrap_or(0);
                tenant.usage().set_stored_handlers(count);
            }
        }
        Ok(())
    }

    /// Brings back one stored handler.
    pub(crate) async fn restore(&self, stored: StoredHandler) {
        let StoredHandler {
            mut record,
            start,
            events,
            snapshot,
            damage,
        } = stored;
        if !damage.is_empty() && record.status == Status::Running {
            // Quarantined: what is left of it is shown, nothing is resumed.
            tracing::error!(handler = %record.handler_id, "a damaged handler is not resumed: {}", damage.join("; "));
            let entry = self.handlers.restore(record, events, None, None);
            let (record, _) = entry.finish(RunEnd::with_status(
                Status::Failed,
                Some(format!(
                    "the handler store is damaged, so the run cannot go on: {}",
                    damage.join("; ")
                )),
            ));
            persist(
                self.store
                    .as_deref()
                    .map(|store| store.update_handler(&record)),
            )
            .await;
            return;
        }
        let tenant = self.access.tenant(&record.tenant);
        let run_on = tenant
            .as_ref()
            .and_then(|tenant| tenant.run_on(&record.workflow_name, record.version));
        let (Some(tenant), Some(run_on), Status::Running) = (tenant, run_on, record.status) else {
            // Finished, or a workflow (or tenant) this server does not
            // serve: shown as stored, left untouched.
            let final_state = snapshot.map(|snapshot| Arc::new(snapshot.state));
            self.handlers.restore(record, events, None, final_state);
            return;
        };
        let RunOn {
            workflow, in_use, ..
        } = run_on;
        let id = record.handler_id.clone();
        // The run streams again from its checkpoint (or from the start):
        // what the log holds from there on is matched, not logged twice.
        let first_position = snapshot
            .as_ref()
            .map_or(0, |snapshot| snapshot.stream_position);
        let next_sequence = events.last().map_or(0, |(sequence, _)| sequence + 1);
        let stored = events
            .iter()
            .filter(|(sequence, _)| *sequence >= first_position)
            .cloned()
            .collect();
        let progress = StreamProgress::new(Replay::new(first_position, stored, next_sequence));
        let follower = Follower::new(progress.clone());
        let deliveries = Arc::new(Deliveries::after(
            snapshot.as_ref().map_or(0, |snapshot| snapshot.received),
        ));
        let mut options = self.run_options(&id, &progress, &deliveries);
        // The run goes on in the trace of the request that started it.
        let run_span = crate::trace::run_span(workflow.name(), &id, record.trace.as_deref());
        options.span = Some(run_span.clone());
        let resumption = match snapshot {
            Some(snapshot) if snapshot.outcome.is_some() => Resumption::Ended(Box::new(snapshot)),
            Some(snapshot) => Resumption::from(workflow.resume_with(snapshot, options)),
            None => Resumption::from(workflow.run_with(start, options)),
        };
        let store = self.store.as_deref();
        match resumption {
            Resumption::Live(live) => {
                let live = Arc::new(live);
                record.run_id = Some(live.run_id().to_string());
                let entry = self
                    .handlers
                    .restore(record, events, Some(live.clone()), None);
                entry.attach_deliveries(deliveries);
                self.metrics.run_began(
                    &RunLabels {
                        workflow: workflow.name().to_string(),
                        tenant: tenant.name().to_string(),
                    },
                    false,
                );
                // A run that was going on goes on, whatever its tenant's
                // quota says now.
                let hold = RunHold {
                    _permit: tenant.usage().resume_run(),
                    _version: in_use,
                };
                tokio::spawn(self.follow(workflow, &run_span, entry, live, follower, hold));
            }
            Resumption::Failed(err) => {
                let entry = self.handlers.restore(record, events, None, None);
                let (record, _) = entry.finish(RunEnd::with_status(
                    Status::Failed,
                    Some(format!("cannot resume the run: {err}")),
                ));
                persist(store.map(|store| store.update_handler(&record))).await;
            }
            Resumption::Ended(ended) => {
                // The run ended after its last checkpoint but before its
                // handler was updated: finish it as the checkpoint says.
                let entry = self.handlers.restore(record, events, None, None);
                let ended = *ended;
                let final_state = Some(Arc::new(ended.state));
                let record = match ended.outcome {
                    Some(SnapshotOutcome::Completed { stop_event }) => {
                        let stop = envelope(&workflow, &stop_event);
                        let (record, sequence) = entry.finish(RunEnd {
                            status: Status::Completed,
                            error: None,
                            result: Some(stop.clone()),
                            terminal: Some(stop.clone()),
                            final_state,
                        });
                        let closing = sequence.map(|sequence| (sequence, &stop));
                        persist(store.map(|store| store.finish_handler(&record, closing))).await;
                        return;
                    }
                    Some(SnapshotOutcome::Failed { message, .. }) => {
                        let mut end = RunEnd::with_status(Status::Failed, Some(message));
                        end.final_state = final_state;
                        entry.finish(end).0
                    }
                    None => entry.finish(RunEnd::with_status(Status::Failed, None)).0,
                };
                persist(store.map(|store| store.update_handler(&record))).await;
            }
        }
    }
}

/// What became of an unfinished handler's run when the server restarted.
enum Resumption {
    /// It goes on.
    Live(WorkflowHandler),
    /// It cannot go on.
    Failed(WorkflowError),
    /// It had ended after its last checkpoint, before its handler was
    /// updated: the checkpoint says how.
    Ended(Box<Snapshot>),
}

impl From<wflow_core::Result<WorkflowHandler>> for Resumption {
    fn from(started: wflow_core::Result<WorkflowHandler>) -> Self {
        match started {
            Ok(live) => Self::Live(live),
            Err(err) => Self::Failed(err),
        }
    }
}
