//! Why a store could not read or write: a variant per kind of failure, so
//! that callers decide by the variant and never by the message.

/// An error of the database (or of the driver) a store is built on.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the handler store could not read or write.
///
/// Each message is whole (it names what failed and why), so no variant
/// reports a `source`: printing an error with its chain says it once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be opened: the file (or server) cannot be reached,
    /// or its schema cannot be brought up to date.
    #[error("the handler store: cannot open {target}: {cause}")]
    Open {
        /// The file (or database) that was to be opened.
        target: String,
        /// Why it could not be.
        cause: Cause,
    },
    /// Another process has the store open (its lock file is held): two
    /// servers on one file would both resume the same runs.
    #[error(
        "the handler store: {target} is in use by another wflow process (it holds {lock}); stop it, or give this one another --db"
    )]
    InUse {
        /// The file.
        target: String,
        /// The lock file held.
        lock: String,
    },
    /// The database was written by a newer wflow: its schema has more
    /// migrations than this one knows.
    #[error(
        "the handler store: {target} has schema version {found}, newer than this wflow knows ({known})"
    )]
    SchemaTooNew {
        /// The file (or database).
        target: String,
        /// Its schema version.
        found: u64,
        /// The newest version this wflow knows.
        known: u64,
    },
    /// A write would overwrite what it must not: a streamed event at a
    /// sequence already stored for its handler. Nothing of that write is
    /// stored.
    #[error("the handler store: {action}: {cause}")]
    Conflict {
        /// What was being done (`cannot store an event`).
        action: &'static str,
        /// The database's own error.
        cause: Cause,
    },
    /// The database failed: a statement, a transaction, the disk.
    #[error("the handler store: {action}: {cause}")]
    Database {
        /// What was being done (`cannot save a handler`).
        action: &'static str,
        /// The database's own error.
        cause: Cause,
    },
    /// Something to be stored cannot be serialized.
    #[error("the handler store: cannot serialize {what}: {cause}")]
    Serialize {
        /// What (`an event`, `a checkpoint`).
        what: &'static str,
        /// The serializer's error.
        cause: Cause,
    },
    /// Something stored cannot be read back.
    #[error("the handler store: a stored {what} is not valid: {cause}")]
    Corrupt {
        /// What (`event`, `checkpoint`).
        what: &'static str,
        /// Why it cannot be read.
        cause: Cause,
    },
    /// Another host holds the run now: this host's lease on it expired and
    /// the other claimed it. Nothing of the write is stored; this host must
    /// stop the run (its new owner goes on with it).
    #[error(
        "the handler store: handler {handler_id} is held by another host now (this host's lease on it was lost)"
    )]
    LeaseLost {
        /// The handler whose run was taken over.
        handler_id: String,
    },
    /// The store has shut down (its thread or its connections are gone):
    /// the request was not answered.
    #[error("the handler store has shut down")]
    Closed,
}
