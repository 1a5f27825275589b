//! The PostgreSQL store: the same [`Store`] over a database several hosts
//! share (`wflow serve --db postgres://...`), through a pool of
//! connections (deadpool). Every write is one transaction. The schema is
//! migrated on connect (`schema`); `cluster` is how hosts share runs
//! (leases, fences, inboxes), `listen` how they hear of each other's
//! writes (LISTEN/NOTIFY).

mod cluster;
mod listen;
mod schema;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};

use wflow_api::{Envelope, HandlerRecord};
use wflow_core::{BoxFuture, Event, Snapshot};

use crate::rows::{self, HandlerRow, event_row, status_text, version_value};
use crate::{
    Cluster, DeployedComponent, HostConfig, Notice, Store, StoreError, StoredDeployment,
    StoredHandler, StoredTenant,
};

/// How many connections one host keeps at most.
const POOL_SIZE: usize = 16;

/// Handlers in a PostgreSQL database, as one host sees them.
pub struct PostgresStore {
    pool: Pool,
    /// Where the database is, for the listening connection.
    config: tokio_postgres::Config,
    /// The database, without a password, for messages.
    target: String,
    host: HostConfig,
    /// The fence of each run this host holds: its writes for them are
    /// checked against it.
    fences: Mutex<HashMap<String, i64>>,
    /// What the other hosts announce (fed by `listen`, once asked for).
    notices: tokio::sync::broadcast::Sender<Notice>,
    /// The listening task, started by the first `notices`.
    listener: OnceLock<listen::Listener>,
    /// What sends the notices of this host's writes, started by the first.
    notifier: OnceLock<listen::Notifier>,
}

/// Maps a database error met while doing `action`: a key already stored is
/// a conflict, anything else a database failure. Decided by the error's
/// SQLSTATE.
pub(crate) fn failed(action: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |err| {
        let conflict = err.code() == Some(&SqlState::UNIQUE_VIOLATION);
        // The driver's own text for a database error is only "db error":
        // the database's message says what went wrong.
        let cause: crate::Cause = match err.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()).into(),
            None => err.into(),
        };
        if conflict {
            StoreError::Conflict { action, cause }
        } else {
            StoreError::Database { action, cause }
        }
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host/db`, or
    /// key=value pairs) as a host of a random id with the default lease, and
    /// brings its schema up to date; a database of a newer wflow is refused.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_as(url, HostConfig::random()).await
    }

    /// Connects as [`PostgresStore::connect`] does, as the host `host`.
    pub async fn connect_as(url: &str, host: HostConfig) -> Result<Self, StoreError> {
        let target = redacted(url);
        let open = |cause: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            target: target.clone(),
            cause,
        };
        let config: tokio_postgres::Config = url.parse().map_err(|err| open(Box::new(err)))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|err| open(Box::new(err)))?;
        let mut client = pool.get().await.map_err(|err| open(Box::new(err)))?;
        schema::migrate(&mut client, &target).await?;
        drop(client);
        Ok(Self {
            pool,
            config,
            target,
            host,
            fences: Mutex::default(),
            notices: tokio::sync::broadcast::channel(listen::NOTICES_KEPT).0,
            listener: OnceLock::new(),
            notifier: OnceLock::new(),
        })
    }

    /// Tells the other hosts of a write that committed (soon, in a batch).
    fn announce(&self, notice: &Notice) {
        self.notifier
            .get_or_init(|| listen::Notifier::start(self.pool.clone()))
            .send(notice);
    }

    async fn client(&self, action: &'static str) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|err| {
            // A connection the database refused says why in its message
            // (too many clients, authentication), not in the pool's text.
            let cause: crate::Cause = match &err {
                deadpool_postgres::PoolError::Backend(db) => match db.as_db_error() {
                    Some(db) => format!(
                        "cannot connect to {}: {}: {}",
                        self.target,
                        db.severity(),
                        db.message()
                    )
                    .into(),
                    None => format!("cannot connect to {}: {db}", self.target).into(),
                },
                other => other.to_string().into(),
            };
            StoreError::Database { action, cause }
        })
    }
}

/// `url` without its password, for messages.
fn redacted(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) if config.get_password().is_some() => {
            let user = config.get_user().unwrap_or_default();
            let hosts: Vec<String> = config
                .get_hosts()
                .iter()
                .map(|host| match host {
                    tokio_postgres::config::Host::Tcp(name) => name.clone(),
                    tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                })
                .collect();
            let db = config.get_dbname().unwrap_or_default();
            format!("postgres://{user}:***@{}/{db}", hosts.join(","))
        }
        _ => url.to_string(),
    }
}

fn handler_row(row: &Row) -> (HandlerRow, Event) {
    (
        HandlerRow {
            handler_id: row.get(0),
            workflow: row.get(1),
            run_id: row.get(2),
            status: row.get(3),
            error: row.get(4),
            result: row.get(5),
            started_at: row.get(6),
            updated_at: row.get(7),
            completed_at: row.get(8),
            tenant: row.get(11),
            version: row.get::<_, Option<i64>>(12).map(|v| v.max(0) as u64),
            trace: row.get(13),
        },
        Event {
            name: row.get(9),
            data: row.get(10),
        },
    )
}

const SELECT_HANDLERS: &str = "SELECT handler_id, workflow, run_id, status, error, result,
    started_at, updated_at, completed_at, start_name, start_data, tenant, version, trace
    FROM handlers";

async fn select_handlers(
    client: &impl GenericClient,
    filter: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<(HandlerRow, Event)>, StoreError> {
    let rows = client
        .query(
            &format!("{SELECT_HANDLERS} {filter} ORDER BY position"),
            params,
        )
        .await
        .map_err(failed("cannot read the handlers"))?;
    Ok(rows.iter().map(handler_row).collect())
}

async fn with_events(
    client: &impl GenericClient,
    row: HandlerRow,
    start: Event,
) -> Result<StoredHandler, StoreError> {
    let events = client
        .query(
            "SELECT sequence, envelope FROM events WHERE handler_id = $1 ORDER BY sequence",
            &[&row.handler_id],
        )
        .await
        .map_err(failed("cannot read the events"))?;
    let (events, mut damage) =
        rows::decode_events(events.iter().map(|r| (r.get::<_, i64>(0), r.get(1))));
    let snapshot = client
        .query_opt(
            "SELECT snapshot FROM snapshots WHERE handler_id = $1",
            &[&row.handler_id],
        )
        .await
        .map_err(failed("cannot read a checkpoint"))?
        .map(|r| r.get::<_, String>(0));
    let snapshot = rows::decode_snapshot(snapshot, &mut damage);
    Ok(StoredHandler {
        record: row.into_record(),
        start,
        events,
        snapshot,
        damage,
    })
}

async fn insert_events(
    client: &impl GenericClient,
    handler_id: &str,
    rows: &[(i64, String)],
) -> Result<(), StoreError> {
    let insert = client
        .prepare_cached("INSERT INTO events (handler_id, sequence, envelope) VALUES ($1, $2, $3)")
        .await
        .map_err(failed("cannot store an event"))?;
    for (sequence, text) in rows {
        client
            .execute(&insert, &[&handler_id, sequence, text])
            .await
            .map_err(failed("cannot store an event"))?;
    }
    Ok(())
}

async fn update_record(
    client: &impl GenericClient,
    record: &HandlerRecord,
    result: Option<&str>,
) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE handlers SET run_id = $2, status = $3, error = $4, result = $5,
                updated_at = $6, completed_at = $7 WHERE handler_id = $1",
            &[
                &record.handler_id,
                &record.run_id,
                &status_text(record.status),
                &record.error,
                &result,
                &record.updated_at,
                &record.completed_at,
            ],
        )
        .await
        .map(drop)
        .map_err(failed("cannot update a handler"))
}

/// Replaces handler `handler_id`'s checkpoint with `text`, in one
/// statement that first checks `fence` (if this host holds the run) and
/// locks the handler's row until the commit; whether it was written (not:
/// another host holds the run now).
async fn save_fenced_snapshot(
    client: &impl GenericClient,
    handler_id: &str,
    fence: Option<i64>,
    text: &str,
) -> Result<bool, StoreError> {
    let action = "cannot store a checkpoint";
    let statement = client
        .prepare_cached(
            "WITH held AS (
                SELECT 1 FROM handlers WHERE handler_id = $1 AND fence = $2 FOR SHARE
             )
             INSERT INTO snapshots (handler_id, snapshot)
             SELECT $1, $3 WHERE $2::bigint IS NULL OR EXISTS (SELECT 1 FROM held)
             ON CONFLICT (handler_id) DO UPDATE SET snapshot = excluded.snapshot",
        )
        .await
        .map_err(failed(action))?;
    let saved = client
        .execute(&statement, &[&handler_id, &fence, &text])
        .await
        .map_err(failed(action))?;
    Ok(saved > 0 || fence.is_none())
}

impl Store for PostgresStore {
    fn save_handler<'a>(
        &'a self,
        record: &'a HandlerRecord,
        start: &'a Event,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let action = "cannot save a handler";
            let result = rows::result_text(record)?;
            let client = self.client(action).await?;
            // A running handler is this host's, under a new fence. A
            // handler is replaced only once its run has ended: two hosts
            // starting one id at once cannot both have it.
            let saved = client
                .query_opt(
                    "INSERT INTO handlers (handler_id, workflow, run_id, status, error, result,
                        started_at, updated_at, completed_at, start_name, start_data, tenant,
                        version, owner, fence, lease_until, trace)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                        nextval('wflow_fences'), now() + make_interval(secs => $15), $16)
                     ON CONFLICT (handler_id) DO UPDATE SET workflow = $2, run_id = $3,
                        status = $4, error = $5, result = $6, started_at = $7, updated_at = $8,
                        completed_at = $9, start_name = $10, start_data = $11, tenant = $12,
                        version = $13, owner = $14, fence = nextval('wflow_fences'),
                        lease_until = now() + make_interval(secs => $15), trace = $16
                     WHERE handlers.status <> 'running'
                     RETURNING fence",
                    &[
                        &record.handler_id,
                        &record.workflow_name,
                        &record.run_id,
                        &status_text(record.status),
                        &record.error,
                        &result,
                        &record.started_at,
                        &record.updated_at,
                        &record.completed_at,
                        &start.name,
                        &start.data,
                        &record.tenant,
                        &record.version.map(version_value),
                        &self.host.id,
                        &self.host.lease.as_secs_f64(),
                        &record.trace,
                    ],
                )
                .await
                .map_err(failed(action))?;
            let Some(saved) = saved else {
                return Err(StoreError::Conflict {
                    action,
                    cause: format!("handler {} is running already", record.handler_id).into(),
                });
            };
            if record.status == wflow_api::Status::Running {
                self.hold(&record.handler_id, saved.get(0));
            } else {
                self.let_go(&record.handler_id);
            }
            Ok(())
        })
    }

    fn update_handler<'a>(
        &'a self,
        record: &'a HandlerRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let action = "cannot update a handler";
            let result = rows::result_text(record)?;
            let mut client = self.client(action).await?;
            let transaction = client.transaction().await.map_err(failed(action))?;
            self.check_fence(&transaction, &record.handler_id).await?;
            update_record(&transaction, record, result.as_deref()).await?;
            transaction.commit().await.map_err(failed(action))?;
            if record.status.is_terminal() {
                self.let_go(&record.handler_id);
            }
            Ok(())
        })
    }

    fn append_events<'a>(
        &'a self,
        handler_id: &'a str,
        events: &'a [(u64, Envelope)],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let action = "cannot store an event";
            let rows = rows::event_rows(events)?;
            if rows.is_empty() {
                return Ok(());
            }
            let (sequences, texts): (Vec<i64>, Vec<&str>) = rows
                .iter()
                .map(|(sequence, text)| (*sequence, text.as_str()))
                .unzip();
            let fence = self.fence_of(handler_id);
            let client = self.client(action).await?;
            // One statement, so one round trip and one commit: the fence
            // checked (the handler's row locked until the commit), every
            // event inserted. The other hosts are notified after it.
            let statement = client
                .prepare_cached(
                    "WITH held AS (
                        SELECT 1 FROM handlers WHERE handler_id = $1 AND fence = $2 FOR SHARE
                     ), inserted AS (
                        INSERT INTO events (handler_id, sequence, envelope)
                        SELECT $1, s, e FROM unnest($3::bigint[], $4::text[]) AS t(s, e)
                        WHERE $2::bigint IS NULL OR EXISTS (SELECT 1 FROM held)
                        RETURNING 1
                     )
                     SELECT count(*) FROM inserted",
                )
                .await
                .map_err(failed(action))?;
            let inserted: i64 = client
                .query_one(&statement, &[&handler_id, &fence, &sequences, &texts])
                .await
                .map_err(failed(action))?
                .get(0);
            if inserted == 0 && fence.is_some() {
                return Err(self.lost(handler_id));
            }
            self.announce(&Notice::Events(handler_id.to_string()));
            Ok(())
        })
    }

    fn finish_handler<'a>(
        &'a self,
        record: &'a HandlerRecord,
        terminal: Option<(u64, &'a Envelope)>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let action = "cannot finish a handler";
            let result = rows::result_text(record)?;
            let terminal = terminal
                .map(|(sequence, envelope)| event_row(sequence, envelope))
                .transpose()?;
            let mut client = self.client(action).await?;
            let transaction = client.transaction().await.map_err(failed(action))?;
            self.check_fence(&transaction, &record.handler_id).await?;
            update_record(&transaction, record, result.as_deref()).await?;
            if let Some(row) = &terminal {
                insert_events(&transaction, &record.handler_id, std::slice::from_ref(row)).await?;
            }
            if record.status.is_terminal() {
                // What is left for the run will never be taken.
                transaction
                    .execute(
                        "DELETE FROM inbox WHERE handler_id = $1",
                        &[&record.handler_id],
                    )
                    .await
                    .map_err(failed(action))?;
            }
            transaction.commit().await.map_err(failed(action))?;
            self.announce(&Notice::Events(record.handler_id.clone()));
            if record.status.is_terminal() {
                self.let_go(&record.handler_id);
            }
            Ok(())
        })
    }

    fn save_snapshot<'a>(
        &'a self,
        handler_id: &'a str,
        snapshot: &'a Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let text = rows::snapshot_text(snapshot)?;
            let fence = self.fence_of(handler_id);
            let client = self.client("cannot store a checkpoint").await?;
            if !save_fenced_snapshot(&client, handler_id, fence, &text).await? {
                return Err(self.lost(handler_id));
            }
            Ok(())
        })
    }

    fn delete_handler<'a>(&'a self, handler_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut client = self.client("cannot delete a handler").await?;
            let transaction = client
                .transaction()
                .await
                .map_err(failed("cannot delete a handler"))?;
            for statement in [
                "DELETE FROM handlers WHERE handler_id = $1",
                "DELETE FROM events WHERE handler_id = $1",
                "DELETE FROM snapshots WHERE handler_id = $1",
                "DELETE FROM inbox WHERE handler_id = $1",
            ] {
                transaction
                    .execute(statement, &[&handler_id])
                    .await
                    .map_err(failed("cannot delete a handler"))?;
            }
            transaction
                .commit()
                .await
                .map_err(failed("cannot delete a handler"))?;
            self.let_go(handler_id);
            self.announce(&Notice::Forgotten(handler_id.to_string()));
            Ok(())
        })
    }

    fn load_running(&self) -> BoxFuture<'_, Result<Vec<StoredHandler>, StoreError>> {
        Box::pin(async move {
            let client = self.client("cannot read the handlers").await?;
            let mut stored = Vec::new();
            for (row, start) in select_handlers(&client, "WHERE status = 'running'", &[]).await? {
                stored.push(with_events(&client, row, start).await?);
            }
            Ok(stored)
        })
    }

    fn load_handler<'a>(
        &'a self,
        handler_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredHandler>, StoreError>> {
        Box::pin(async move {
            let client = self.client("cannot read the handlers").await?;
            let found = select_handlers(&client, "WHERE handler_id = $1", &[&handler_id]).await?;
            match found.into_iter().next() {
                Some((row, start)) => Ok(Some(with_events(&client, row, start).await?)),
                None => Ok(None),
            }
        })
    }

    fn records(&self) -> BoxFuture<'_, Result<Vec<HandlerRecord>, StoreError>> {
        Box::pin(async move {
            let client = self.client("cannot read the handlers").await?;
            Ok(select_handlers(&client, "", &[])
                .await?
                .into_iter()
                .map(|(row, _)| row.into_record())
                .collect())
        })
    }

    fn handler_counts(&self) -> BoxFuture<'_, Result<Vec<(String, u64)>, StoreError>> {
        Box::pin(async move {
            let client = self.client("cannot count the handlers").await?;
            let rows = client
                .query(
                    "SELECT tenant, COUNT(*) FROM handlers GROUP BY tenant ORDER BY tenant",
                    &[],
                )
                .await
                .map_err(failed("cannot count the handlers"))?;
            Ok(rows
                .iter()
                .map(|row| (row.get(0), row.get::<_, i64>(1).max(0) as u64))
                .collect())
        })
    }

    fn records_of<'a>(
        &'a self,
        tenant: &'a str,
    ) -> BoxFuture<'a, Result<Vec<HandlerRecord>, StoreError>> {
        Box::pin(async move {
            let client = self.client("cannot read the handlers").await?;
            Ok(select_handlers(&client, "WHERE tenant = $1", &[&tenant])
                .await?
                .into_iter()
                .map(|(row, _)| row.into_record())
                .collect())
        })
    }

    fn events_after<'a>(
        &'a self,
        handler_id: &'a str,
        after: i64,
        max: usize,
    ) -> BoxFuture<'a, Result<Vec<(u64, Envelope)>, StoreError>> {
        Box::pin(async move {
            let max = i64::try_from(max).unwrap_or(i64::MAX);
            let client = self.client("cannot read the events").await?;
            let rows = client
                .query(
                    "SELECT sequence, envelope FROM events
                     WHERE handler_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
                    &[&handler_id, &after, &max],
                )
                .await
                .map_err(failed("cannot read the events"))?;
            Ok(rows::decode_page(
                handler_id,
                rows.iter().map(|r| (r.get::<_, i64>(0), r.get(1))),
            ))
        })
    }

    fn save_deployment<'a>(
        &'a self,
        deployment: &'a StoredDeployment,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let action = "cannot save a deployment";
            let version = version_value(deployment.version);
            let mut client = self.client(action).await?;
            let transaction = client.transaction().await.map_err(failed(action))?;
            transaction
                .execute(
                    "INSERT INTO deployments (tenant, name, version, created_at, manifest)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &deployment.tenant,
                        &deployment.name,
                        &version,
                        &deployment.created_at,
                        &deployment.manifest,
                    ],
                )
                .await
                .map_err(failed(action))?;
            for (position, component) in deployment.components.iter().enumerate() {
                transaction
                    .execute(
                        "INSERT INTO blobs (sha256, bytes) VALUES ($1, $2)
                         ON CONFLICT (sha256) DO NOTHING",
                        &[&component.sha256, &component.bytes.as_slice()],
                    )
                    .await
                    .map_err(failed("cannot save a component"))?;
                transaction
                    .execute(
                        "INSERT INTO deployment_components
                            (tenant, name, version, position, file_name, sha256)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                        &[
                            &deployment.tenant,
                            &deployment.name,
                            &version,
                            &(position as i64),
                            &component.file_name,
                            &component.sha256,
                        ],
                    )
                    .await
                    .map_err(failed(action))?;
            }
            listen::announce(&transaction, &Notice::Deployments).await?;
            transaction.commit().await.map_err(failed(action))
        })
    }

    fn delete_deployment<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let action = "cannot delete a deployment";
            let version = version_value(version);
            let mut client = self.client(action).await?;
            let transaction = client.transaction().await.map_err(failed(action))?;
            let deleted = transaction
                .execute(
                    "UPDATE deployments SET deleted = TRUE, manifest = NULL
                     WHERE tenant = $1 AND name = $2 AND version = $3 AND NOT deleted",
                    &[&tenant, &name, &version],
                )
                .await
                .map_err(failed(action))?;
            transaction
                .execute(
                    "DELETE FROM deployment_components
                     WHERE tenant = $1 AND name = $2 AND version = $3",
                    &[&tenant, &name, &version],
                )
                .await
                .map_err(failed(action))?;
            transaction
                .execute(
                    "DELETE FROM blobs b WHERE NOT EXISTS
                        (SELECT 1 FROM deployment_components c WHERE c.sha256 = b.sha256)",
                    &[],
                )
                .await
                .map_err(failed(action))?;
            listen::announce(&transaction, &Notice::Deployments).await?;
            transaction.commit().await.map_err(failed(action))?;
            Ok(deleted > 0)
        })
    }

    fn deployments(&self) -> BoxFuture<'_, Result<Vec<StoredDeployment>, StoreError>> {
        Box::pin(async move {
            let action = "cannot read the deployments";
            let client = self.client(action).await?;
            let versions = client
                .query(
                    "SELECT tenant, name, version, created_at, manifest, deleted FROM deployments
                     ORDER BY tenant, name, version",
                    &[],
                )
                .await
                .map_err(failed(action))?;
            let mut deployments = Vec::with_capacity(versions.len());
            for row in &versions {
                let mut deployment = StoredDeployment {
                    tenant: row.get(0),
                    name: row.get(1),
                    version: row.get::<_, i64>(2).max(0) as u64,
                    created_at: row.get(3),
                    manifest: row.get(4),
                    deleted: row.get(5),
                    components: Vec::new(),
                };
                if !deployment.deleted {
                    let components = client
                        .query(
                            "SELECT c.file_name, c.sha256, b.bytes FROM deployment_components c
                             JOIN blobs b ON b.sha256 = c.sha256
                             WHERE c.tenant = $1 AND c.name = $2 AND c.version = $3
                             ORDER BY c.position",
                            &[
                                &deployment.tenant,
                                &deployment.name,
                                &version_value(deployment.version),
                            ],
                        )
                        .await
                        .map_err(failed(action))?;
                    deployment.components = components
                        .iter()
                        .map(|c| DeployedComponent {
                            file_name: c.get(0),
                            sha256: c.get(1),
                            bytes: std::sync::Arc::new(c.get(2)),
                        })
                        .collect();
                }
                deployments.push(deployment);
            }
            Ok(deployments)
        })
    }

    fn save_tenant<'a>(
        &'a self,
        tenant: &'a StoredTenant,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut client = self.client("cannot save a tenant").await?;
            let transaction = client
                .transaction()
                .await
                .map_err(failed("cannot save a tenant"))?;
            transaction
                .execute(
                    "INSERT INTO tenants (name, definition, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE
                     SET definition = excluded.definition, updated_at = excluded.updated_at",
                    &[&tenant.name, &tenant.definition, &tenant.updated_at],
                )
                .await
                .map_err(failed("cannot save a tenant"))?;
            listen::announce(&transaction, &Notice::Tenants).await?;
            transaction
                .commit()
                .await
                .map_err(failed("cannot save a tenant"))
        })
    }

    fn delete_tenant<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let action = "cannot delete a tenant";
            let mut client = self.client(action).await?;
            let transaction = client.transaction().await.map_err(failed(action))?;
            let deleted = transaction
                .execute("DELETE FROM tenants WHERE name = $1", &[&name])
                .await
                .map_err(failed(action))?;
            listen::announce(&transaction, &Notice::Tenants).await?;
            transaction.commit().await.map_err(failed(action))?;
            Ok(deleted > 0)
        })
    }

    fn tenants(&self) -> BoxFuture<'_, Result<Vec<StoredTenant>, StoreError>> {
        Box::pin(async move {
            let client = self.client("cannot read the tenants").await?;
            let rows = client
                .query(
                    "SELECT name, definition, updated_at FROM tenants ORDER BY name",
                    &[],
                )
                .await
                .map_err(failed("cannot read the tenants"))?;
            Ok(rows
                .iter()
                .map(|row| StoredTenant {
                    name: row.get(0),
                    definition: row.get(1),
                    updated_at: row.get(2),
                })
                .collect())
        })
    }

    fn cluster(&self) -> Option<&dyn Cluster> {
        Some(self)
    }
}

#[cfg(test)]
mod tests;
