//! The database's schema, versioned in `wflow_schema` and migrated on
//! connect, under an advisory lock so that hosts starting together migrate
//! once.

use tokio_postgres::Client;

use super::failed;
use crate::StoreError;

/// The migrations, in order: the schema's version is how many have run.
/// Append only: a released migration never changes.
const MIGRATIONS: &[&str] = &[
    // 1: handlers, their events and checkpoints; deployments and their
    // components' bytes; tenants defined through the admin API (the
    // SQLite store's migrations 1 to 4, at once).
    "CREATE TABLE handlers (
        position     BIGSERIAL PRIMARY KEY,
        handler_id   TEXT NOT NULL UNIQUE,
        workflow     TEXT NOT NULL,
        run_id       TEXT,
        status       TEXT NOT NULL,
        error        TEXT,
        result       TEXT,
        started_at   TEXT NOT NULL,
        updated_at   TEXT,
        completed_at TEXT,
        start_name   TEXT NOT NULL,
        start_data   TEXT NOT NULL,
        tenant       TEXT NOT NULL DEFAULT '',
        version      BIGINT
    );
    CREATE INDEX handlers_by_tenant ON handlers (tenant, position);
    CREATE INDEX handlers_running ON handlers (position) WHERE status = 'running';
    CREATE TABLE events (
        handler_id TEXT NOT NULL,
        sequence   BIGINT NOT NULL,
        envelope   TEXT NOT NULL,
        PRIMARY KEY (handler_id, sequence)
    );
    CREATE TABLE snapshots (
        handler_id TEXT PRIMARY KEY,
        snapshot   TEXT NOT NULL
    );
    CREATE TABLE deployments (
        tenant     TEXT NOT NULL,
        name       TEXT NOT NULL,
        version    BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        manifest   TEXT,
        deleted    BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (tenant, name, version)
    );
    CREATE TABLE deployment_components (
        tenant    TEXT NOT NULL,
        name      TEXT NOT NULL,
        version   BIGINT NOT NULL,
        position  BIGINT NOT NULL,
        file_name TEXT NOT NULL,
        sha256    TEXT NOT NULL,
        PRIMARY KEY (tenant, name, version, position)
    );
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        bytes  BYTEA NOT NULL
    );
    CREATE TABLE tenants (
        name       TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );",
    // 2: several hosts on one database: the host holding each run, until
    // when, and the fence its writes are checked against (a new one from
    // `wflow_fences` at each claim); what is left for runs (`inbox`), and
    // under which fence it was taken.
    "ALTER TABLE handlers
        ADD COLUMN owner TEXT,
        ADD COLUMN lease_until TIMESTAMPTZ,
        ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;
    CREATE SEQUENCE wflow_fences;
    CREATE INDEX handlers_by_owner ON handlers (owner) WHERE status = 'running';
    CREATE TABLE inbox (
        id         BIGSERIAL PRIMARY KEY,
        handler_id TEXT NOT NULL,
        delivery   TEXT NOT NULL,
        taken_fence BIGINT
    );
    CREATE INDEX inbox_by_handler ON inbox (handler_id, id);",
    // 3: the traceparent of the request that started each handler's run.
    "ALTER TABLE handlers ADD COLUMN trace TEXT;",
];

/// The advisory lock key hosts take while migrating ("wflow" in ASCII).
const MIGRATION_LOCK: i64 = 0x77_66_6c_6f_77;

/// Brings the schema up to date; a database of a newer wflow is refused.
pub(super) async fn migrate(client: &mut Client, target: &str) -> Result<(), StoreError> {
    let open = |cause: tokio_postgres::Error| StoreError::Open {
        target: target.to_string(),
        cause: cause.into(),
    };
    let transaction = client.transaction().await.map_err(open)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(open)?;
    transaction
        .batch_execute("CREATE TABLE IF NOT EXISTS wflow_schema (version BIGINT NOT NULL)")
        .await
        .map_err(open)?;
    let version: i64 = transaction
        .query_opt("SELECT version FROM wflow_schema", &[])
        .await
        .map_err(open)?
        .map_or(0, |row| row.get(0));
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::SchemaTooNew {
            target: target.to_string(),
            found: version as u64,
            known: known as u64,
        });
    }
    for migration in MIGRATIONS.iter().skip(version.max(0) as usize) {
        transaction
            .batch_execute(migration)
            .await
            .map_err(failed("cannot migrate the schema"))?;
    }
    if version == 0 {
        transaction
            .execute("INSERT INTO wflow_schema (version) VALUES ($1)", &[&known])
            .await
            .map_err(open)?;
    } else if version < known {
        transaction
            .execute("UPDATE wflow_schema SET version = $1", &[&known])
            .await
            .map_err(open)?;
    }
    transaction.commit().await.map_err(open)
}
