//! The file: its journal, its schema (versioned by `PRAGMA user_version`,
//! migrated on open), and the connections the store's threads own.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

/// The migrations, in order: the schema's version is how many have run.
/// Append only: a released migration never changes, so that every file
/// written by an earlier wflow still opens.
const MIGRATIONS: &[&str] = &[
    // 1: handlers, their streamed events, their runs' last checkpoints.
    "CREATE TABLE handlers (
        position     INTEGER PRIMARY KEY AUTOINCREMENT,
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
        start_data   TEXT NOT NULL
    );
    CREATE TABLE events (
        handler_id TEXT NOT NULL,
        sequence   INTEGER NOT NULL,
        envelope   TEXT NOT NULL,
        PRIMARY KEY (handler_id, sequence)
    );
    CREATE TABLE snapshots (
        handler_id TEXT PRIMARY KEY,
        snapshot   TEXT NOT NULL
    );",
    // 2: the tenant each handler belongs to ('' on a server without tenants).
    "ALTER TABLE handlers ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
    CREATE INDEX handlers_by_tenant ON handlers (tenant, position);",
    // 3: tenants' deployments: each version's manifest and components, the
    // components' bytes stored once per content (a deleted version keeps its
    // row, so that its number is never given again); the version a run uses.
    "CREATE TABLE deployments (
        tenant     TEXT NOT NULL,
        name       TEXT NOT NULL,
        version    INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        manifest   TEXT,
        deleted    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant, name, version)
    );
    CREATE TABLE deployment_components (
        tenant    TEXT NOT NULL,
        name      TEXT NOT NULL,
        version   INTEGER NOT NULL,
        position  INTEGER NOT NULL,
        file_name TEXT NOT NULL,
        sha256    TEXT NOT NULL,
        PRIMARY KEY (tenant, name, version, position)
    );
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        bytes  BLOB NOT NULL
    );
    ALTER TABLE handlers ADD COLUMN version INTEGER;",
    // 4: tenants defined through the admin API (the tenants file's are in
    // the file): each one's definition as JSON, its tokens only hashed.
    "CREATE TABLE tenants (
        name       TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );",
    // 5: the traceparent of the request that started each handler's run.
    "ALTER TABLE handlers ADD COLUMN trace TEXT;",
];

/// The schema version this wflow writes.
fn current_version() -> u64 {
    MIGRATIONS.len() as u64
}

/// An error opening `path`.
fn open_error(path: &Path, what: &str) -> impl Fn(rusqlite::Error) -> StoreError {
    let target = path.display().to_string();
    let what = what.to_string();
    move |err| StoreError::Open {
        target: target.clone(),
        cause: format!("{what}{err}").into(),
    }
}

/// Locks `PATH.lock` (created if missing) for this process, so that a
/// second process opening the same file is refused; `None` for an
/// in-memory database. The lock goes with the returned file (or the
/// process).
pub(super) fn lock(path: &Path) -> Result<Option<std::fs::File>, StoreError> {
    if path.as_os_str() == ":memory:" || path.as_os_str().is_empty() {
        return Ok(None);
    }
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|err| StoreError::Open {
            target: path.display().to_string(),
            cause: format!("cannot open its lock file {}: {err}", lock_path.display()).into(),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
            target: path.display().to_string(),
            lock: lock_path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(err)) => Err(StoreError::Open {
            target: path.display().to_string(),
            cause: format!("cannot lock {}: {err}", lock_path.display()).into(),
        }),
    }
}

/// The writing connection to `path` (created if missing): WAL journal,
/// every commit synced (`synchronous = FULL`), the schema brought up to
/// date. A file written by a newer wflow is refused.
pub(super) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let mut connection = Connection::open(path).map_err(open_error(path, ""))?;
    connection
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .map_err(open_error(path, "cannot set up the journal: "))?;
    let version = schema_version(&connection, path)?;
    if version > current_version() {
        return Err(StoreError::SchemaTooNew {
            target: path.display().to_string(),
            found: version,
            known: current_version(),
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let transaction = connection
            .transaction()
            .map_err(open_error(path, "cannot begin a migration: "))?;
        transaction
            .execute_batch(migration)
            .map_err(open_error(path, "cannot migrate the schema: "))?;
        transaction
            .pragma_update(None, "user_version", index + 1)
            .map_err(open_error(path, "cannot record the schema version: "))?;
        transaction
            .commit()
            .map_err(open_error(path, "cannot migrate the schema: "))?;
    }
    Ok(connection)
}

/// A read-only connection to `path`, whose reads go on while the writer
/// commits (WAL); `None` when it would not see the writer's database (an
/// in-memory database is one per connection), or cannot be opened: the
/// writer's thread serves the reads then.
pub(super) fn open_reader(path: &Path) -> Option<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).ok()?;
    connection.execute_batch("PRAGMA query_only = ON;").ok()?;
    let journal: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .ok()?;
    let up_to_date = schema_version(&connection, path).ok()? == current_version();
    (journal.eq_ignore_ascii_case("wal") && up_to_date).then_some(connection)
}

fn schema_version(connection: &Connection, path: &Path) -> Result<u64, StoreError> {
    connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(open_error(path, "cannot read the schema version: "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_a_newer_wflow_is_refused_and_an_older_one_migrated() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("store.db");
        {
            // A file as the first wflow wrote it, before any migration.
            let connection = Connection::open(&path).expect("opens");
            connection
                .execute_batch("CREATE TABLE unrelated (x INTEGER);")
                .expect("writes");
        }
        let connection = open_writer(&path).expect("migrates");
        assert_eq!(
            schema_version(&connection, &path).ok(),
            Some(current_version())
        );
        assert!(open_reader(&path).is_some());
        connection
            .pragma_update(None, "user_version", 99)
            .expect("writes");
        drop(connection);
        match open_writer(&path) {
            Err(StoreError::SchemaTooNew { found, known, .. }) => {
                assert_eq!((found, known), (99, current_version()));
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }

    #[test]
    fn handlers_written_before_tenants_belong_to_the_open_tenant() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("store.db");
        {
            // A file as wflow wrote it at schema version 1, with a handler.
            let connection = Connection::open(&path).expect("opens");
            connection.execute_batch(MIGRATIONS[0]).expect("version 1");
            connection
                .pragma_update(None, "user_version", 1)
                .expect("writes");
            connection
                .execute_batch(
                    "INSERT INTO handlers (handler_id, workflow, status, started_at, start_name,
                        start_data) VALUES ('old', 'joke', 'completed', 'then', 'StartEvent', '{}')",
                )
                .expect("a handler");
        }
        let connection = open_writer(&path).expect("migrates");
        let tenant: String = connection
            .query_row(
                "SELECT tenant FROM handlers WHERE handler_id = 'old'",
                [],
                |row| row.get(0),
            )
            .expect("the handler is kept");
        assert_eq!(tenant, "");
    }

    #[test]
    fn an_in_memory_database_has_no_reader_of_its_own() {
        let path = Path::new(":memory:");
        let _writer = open_writer(path).expect("opens");
        assert!(open_reader(path).is_none());
    }
}
