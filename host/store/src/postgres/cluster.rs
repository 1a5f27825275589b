//! Runs shared between hosts (see [`crate::Cluster`]): leases renewed and
//! claimed with `FOR UPDATE SKIP LOCKED`, each write fenced, inboxes.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use tokio::sync::broadcast;

use wflow_core::BoxFuture;

use super::{PostgresStore, SELECT_HANDLERS, failed, handler_row, listen, with_events};
use crate::{
    Cluster, CurrentHandler, Delivery, HostConfig, Notice, StoreError, StoredHandler, Taken,
};

impl PostgresStore {
    /// From now on this host holds handler `handler_id`'s run under `fence`.
    pub(super) fn hold(&self, handler_id: &str, fence: i64) {
        wflow_core::sync::lock(&self.fences).insert(handler_id.to_string(), fence);
    }

    /// This host no longer holds handler `handler_id`'s run.
    pub(super) fn let_go(&self, handler_id: &str) {
        wflow_core::sync::lock(&self.fences).remove(handler_id);
    }

    /// Handler `handler_id`'s run, which a write found held by another
    /// host: let go, and the error that says so.
    pub(super) fn lost(&self, handler_id: &str) -> StoreError {
        self.let_go(handler_id);
        StoreError::LeaseLost {
            handler_id: handler_id.to_string(),
        }
    }

    pub(super) fn fence_of(&self, handler_id: &str) -> Option<i64> {
        wflow_core::sync::lock(&self.fences)
            .get(handler_id)
            .copied()
    }

    /// Within a write's transaction: if this host holds handler
    /// `handler_id`'s run, checks that it still does (its fence is the
    /// stored one), and locks the handler's row so that no host claims the
    /// run before the write commits. A run another host took is let go, and
    /// the write refused.
    pub(super) async fn check_fence(
        &self,
        client: &impl GenericClient,
        handler_id: &str,
    ) -> Result<(), StoreError> {
        let Some(fence) = self.fence_of(handler_id) else {
            return Ok(());
        };
        let held = client
            .query_opt(
                "SELECT 1 FROM handlers WHERE handler_id = $1 AND fence = $2 FOR SHARE",
                &[&handler_id, &fence],
            )
            .await
            .map_err(failed("cannot check a run's lease"))?;
        if held.is_none() {
            self.let_go(handler_id);
            return Err(StoreError::LeaseLost {
                handler_id: handler_id.to_string(),
            });
        }
        Ok(())
    }

    /// The ids of the runs this host holds.
    fn held_ids(&self) -> Vec<String> {
        wflow_core::sync::lock(&self.fences)
            .keys()
            .cloned()
            .collect()
    }
}

impl Cluster for PostgresStore {
    fn host(&self) -> &HostConfig {
        &self.host
    }

    fn claim(&self, max: usize) -> BoxFuture<'_, Result<Vec<StoredHandler>, StoreError>> {
        Box::pin(async move {
            let action = "cannot claim runs";
            if max == 0 {
                return Ok(Vec::new());
            }
            let held = self.held_ids();
            let mut client = self.client(action).await?;
            let transaction = client.transaction().await.map_err(failed(action))?;
            // Unowned, expired, or this host's from an earlier life; the
            // rows another host is claiming right now are skipped.
            let claimed = transaction
                .query(
                    "UPDATE handlers SET owner = $1, fence = nextval('wflow_fences'),
                        lease_until = now() + make_interval(secs => $2)
                     WHERE handler_id IN (
                        SELECT handler_id FROM handlers
                        WHERE status = 'running'
                          AND (owner IS NULL OR lease_until < now()
                               OR (owner = $1 AND handler_id <> ALL($3)))
                        ORDER BY position LIMIT $4
                        FOR UPDATE SKIP LOCKED)
                     RETURNING handler_id, fence",
                    &[
                        &self.host.id,
                        &self.host.lease.as_secs_f64(),
                        &held,
                        &i64::try_from(max).unwrap_or(i64::MAX),
                    ],
                )
                .await
                .map_err(failed(action))?;
            transaction.commit().await.map_err(failed(action))?;
            let mut stored = Vec::with_capacity(claimed.len());
            for row in &claimed {
                let handler_id: String = row.get(0);
                self.hold(&handler_id, row.get(1));
                let found = client
                    .query_opt(
                        &format!("{SELECT_HANDLERS} WHERE handler_id = $1"),
                        &[&handler_id],
                    )
                    .await
                    .map_err(failed(action))?;
                if let Some(found) = found {
                    let (row, start) = handler_row(&found);
                    stored.push(with_events(&client, row, start).await?);
                }
            }
            Ok(stored)
        })
    }

    fn renew(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            let action = "cannot renew the leases";
            // The runs held now: one saved or claimed after this is read
            // was written after the renewal below begins, with a lease of
            // its own.
            let held: HashMap<String, i64> = wflow_core::sync::lock(&self.fences).clone();
            if held.is_empty() {
                return Ok(Vec::new());
            }
            let ids: Vec<&String> = held.keys().collect();
            let client = self.client(action).await?;
            let renewed = client
                .query(
                    "UPDATE handlers SET lease_until = now() + make_interval(secs => $3)
                     WHERE owner = $1 AND handler_id = ANY($2) AND status = 'running'
                     RETURNING handler_id, fence",
                    &[&self.host.id, &ids, &self.host.lease.as_secs_f64()],
                )
                .await
                .map_err(failed(action))?;
            let renewed: HashMap<String, i64> =
                renewed.iter().map(|row| (row.get(0), row.get(1))).collect();
            // Not renewed: ended here meanwhile (same fence, not running),
            // or taken by another host (another fence), or deleted.
            let unsure: Vec<&String> = held
                .iter()
                .filter(|(id, fence)| renewed.get(*id) != Some(fence))
                .map(|(id, _)| id)
                .collect();
            if unsure.is_empty() {
                return Ok(Vec::new());
            }
            let stored: HashMap<String, i64> = client
                .query(
                    "SELECT handler_id, fence FROM handlers WHERE handler_id = ANY($1)",
                    &[&unsure],
                )
                .await
                .map_err(failed(action))?
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect();
            let mut fences = wflow_core::sync::lock(&self.fences);
            let mut lost = Vec::new();
            for id in unsure {
                let fence = held[id];
                if stored.get(id) == Some(&fence) {
                    continue;
                }
                // Unless claimed again meanwhile under a newer fence.
                if fences.get(id) == Some(&fence) {
                    fences.remove(id);
                    lost.push(id.clone());
                }
            }
            Ok(lost)
        })
    }

    fn held(&self) -> usize {
        wflow_core::sync::lock(&self.fences).len()
    }

    fn release_all(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let action = "cannot let go of the runs";
            let held = self.held_ids();
            let client = self.client(action).await?;
            client
                .execute(
                    "UPDATE handlers SET owner = NULL, lease_until = NULL
                     WHERE owner = $1 AND handler_id = ANY($2)",
                    &[&self.host.id, &held],
                )
                .await
                .map_err(failed(action))?;
            wflow_core::sync::lock(&self.fences).clear();
            Ok(())
        })
    }

    fn current<'a>(
        &'a self,
        handler_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CurrentHandler>, StoreError>> {
        Box::pin(async move {
            let action = "cannot read a handler";
            let client = self.client(action).await?;
            // The record's columns as SELECT_HANDLERS lists them, then the
            // owner and the last sequence, in one statement.
            let found = client
                .query_opt(
                    "SELECT handler_id, workflow, run_id, status, error, result, started_at,
                        updated_at, completed_at, start_name, start_data, tenant, version,
                        trace, owner,
                        (SELECT max(sequence) FROM events e WHERE e.handler_id = h.handler_id)
                     FROM handlers h WHERE handler_id = $1",
                    &[&handler_id],
                )
                .await
                .map_err(failed(action))?;
            Ok(found.map(|found| {
                let last: Option<i64> = found.get(15);
                CurrentHandler {
                    record: handler_row(&found).0.into_record(),
                    last_sequence: last.map(|last| last.max(0) as u64),
                    owner: found.get(14),
                }
            }))
        })
    }

    fn deliver<'a>(
        &'a self,
        handler_id: &'a str,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let action = "cannot leave an event for a run";
            let text = serde_json::to_string(delivery).map_err(|err| StoreError::Serialize {
                what: "an event",
                cause: err.into(),
            })?;
            let client = self.client(action).await?;
            let left = client
                .execute(
                    "INSERT INTO inbox (handler_id, delivery)
                     SELECT $1, $2 WHERE EXISTS
                        (SELECT 1 FROM handlers WHERE handler_id = $1 AND status = 'running')",
                    &[&handler_id, &text],
                )
                .await
                .map_err(failed(action))?;
            if left > 0 {
                self.announce(&Notice::Inbox(handler_id.to_string()));
            }
            Ok(left > 0)
        })
    }

    fn take_inbox(&self) -> BoxFuture<'_, Result<Vec<Taken>, StoreError>> {
        Box::pin(async move {
            let action = "cannot take the inbox";
            let held = self.held_ids();
            if held.is_empty() {
                return Ok(Vec::new());
            }
            let client = self.client(action).await?;
            // Only for the runs this host holds, each row once per claim.
            let taken = client
                .query(
                    "UPDATE inbox i SET taken_fence = h.fence FROM handlers h
                     WHERE i.handler_id = h.handler_id AND h.owner = $1
                       AND h.status = 'running' AND i.handler_id = ANY($2)
                       AND i.taken_fence IS DISTINCT FROM h.fence
                     RETURNING i.id, i.handler_id, i.delivery, h.fence",
                    &[&self.host.id, &held],
                )
                .await
                .map_err(failed(action))?;
            let mut taken: Vec<(i64, String, String, i64)> = taken
                .iter()
                .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
                .collect();
            taken.sort_by_key(|(row, ..)| *row);
            let mut deliveries = Vec::with_capacity(taken.len());
            for (row, handler_id, text, fence) in taken {
                if self.fence_of(&handler_id) != Some(fence) {
                    // Claimed again by this host's id meanwhile: taken
                    // again under the new fence.
                    continue;
                }
                match serde_json::from_str(&text) {
                    Ok(delivery) => deliveries.push(Taken {
                        row: row.max(0) as u64,
                        handler_id,
                        delivery,
                    }),
                    Err(err) => {
                        tracing::error!(handler = %handler_id, "a delivery in the inbox is not valid: {err}")
                    }
                }
            }
            Ok(deliveries)
        })
    }

    fn save_snapshot_settling<'a>(
        &'a self,
        handler_id: &'a str,
        snapshot: &'a wflow_core::Snapshot,
        settled: &'a [u64],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let action = "cannot store a checkpoint";
            let text = crate::rows::snapshot_text(snapshot)?;
            let rows: Vec<i64> = settled
                .iter()
                .map(|row| i64::try_from(*row).unwrap_or(i64::MAX))
                .collect();
            let fence = self.fence_of(handler_id);
            let mut client = self.client(action).await?;
            let transaction = client.transaction().await.map_err(failed(action))?;
            if !super::save_fenced_snapshot(&transaction, handler_id, fence, &text).await? {
                // Dropped: rolled back.
                return Err(self.lost(handler_id));
            }
            transaction
                .execute(
                    "DELETE FROM inbox WHERE handler_id = $1 AND id = ANY($2)",
                    &[&handler_id, &rows],
                )
                .await
                .map_err(failed(action))?;
            transaction.commit().await.map_err(failed(action))
        })
    }

    fn notices(&self) -> broadcast::Receiver<Notice> {
        let receiver = self.notices.subscribe();
        self.listener.get_or_init(|| {
            listen::Listener::start(
                self.config.clone(),
                self.target.clone(),
                self.notices.clone(),
            )
        });
        receiver
    }
}
