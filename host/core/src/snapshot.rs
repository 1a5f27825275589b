//! Snapshots of a run (the seed's `Context.to_dict` / `from_dict`): a
//! versioned JSON document holding everything the run needs to go on in
//! another process. The format is described in docs/SNAPSHOT.md.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Result, WorkflowError};
use crate::event::Event;

/// The `format` field of every snapshot.
pub const SNAPSHOT_FORMAT: &str = "wflow-snapshot";
/// The snapshot format version this host writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Which workflow a snapshot belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowIdentity {
    /// The workflow's name.
    pub name: String,
    /// The SHA-256 of each component, in manifest order.
    pub components: Vec<String>,
}

/// An event waiting for a step, with the id it was routed under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedEvent {
    /// The routing id (work item) of the event.
    pub work_item: u64,
    /// The event.
    pub event: Event,
}

/// One `collect_events` buffer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectBufferSnapshot {
    /// The step owning the buffer.
    pub step: String,
    /// The buffer id.
    pub buffer_id: String,
    /// The buffered events, by arrival.
    pub events: Vec<Event>,
}

/// A `wait_for_event` that had not been answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaiterSnapshot {
    /// The waiter id.
    pub id: String,
    /// The awaited event type.
    pub event: String,
    /// The payload fields the answer must have.
    pub requirements: Map<String, Value>,
}

/// The waiters of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WaitersSnapshot {
    /// Waits not answered yet.
    pub pending: Vec<WaiterSnapshot>,
    /// Waiter ids whose waiter event was already streamed.
    pub streamed: Vec<String>,
    /// Answers already delivered, by waiter id.
    pub answered: BTreeMap<String, Event>,
    /// Waits whose time ran out before their step asked again: that ask
    /// fails with a timeout. Absent in snapshots of older hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timed_out: Vec<TimedOutWaiter>,
}

/// A wait that timed out, for the work item that waited.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimedOutWaiter {
    /// The waiter id.
    pub id: String,
    /// The work item whose call waited.
    pub work_item: u64,
}

/// Everything a run needs to go on. Taken when no step call is running
/// except calls blocked in `wait_for_event`; those steps are run again on
/// resume (at-least-once), and find their answer under their waiter id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`SNAPSHOT_FORMAT`].
    pub format: String,
    /// The format version, [`SNAPSHOT_VERSION`].
    pub version: u32,
    /// The workflow the run belongs to.
    pub workflow: WorkflowIdentity,
    /// The run's id.
    pub run_id: String,
    /// The state.
    pub state: Value,
    /// Events queued for each step, by step name.
    pub queues: BTreeMap<String, Vec<QueuedEvent>>,
    /// Events whose step call was in progress (blocked in a wait), by step
    /// name: delivered again on resume.
    pub in_progress: BTreeMap<String, Vec<QueuedEvent>>,
    /// The collect buffers.
    pub collect_buffers: Vec<CollectBufferSnapshot>,
    /// The waiters.
    pub waiters: WaitersSnapshot,
    /// Requests for input streamed and not answered.
    pub awaiting_input: u32,
    /// How many events the run had streamed (the stream of a resumed run
    /// starts after them).
    pub stream_position: u64,
    /// Prompts the run held, not streamed yet: a resumed run streams them
    /// first (see `stream_position`, which does not count them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_prompts: Vec<Event>,
    /// Internal events streamed so far (against
    /// `limits.max_internal_events`).
    #[serde(default)]
    pub internal_streamed: u64,
    /// Payload bytes the run's steps streamed so far (against
    /// `limits.max_stream_bytes`).
    #[serde(default)]
    pub streamed_bytes: u64,
    /// Events routed so far (against `limits.max_events_per_run`).
    pub routed: u64,
    /// Events sent in from outside (`send_event`) the run had taken: a
    /// host that delivers events knows from it which of them a checkpoint
    /// holds.
    #[serde(default)]
    pub received: u64,
    /// The next routing id.
    pub next_work_item: u64,
    /// Milliseconds the run had been running.
    pub elapsed_ms: u64,
    /// Where the workflow was loaded from, when known (the CLI records the
    /// path it was given, for `wflow resume`).
    #[serde(default)]
    pub origin: Option<String>,
    /// How the run ended, in a snapshot written when it ended.
    #[serde(default)]
    pub outcome: Option<SnapshotOutcome>,
}

/// How a run ended, as a final checkpoint records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SnapshotOutcome {
    /// The run reached its stop event.
    Completed {
        /// The stop event.
        stop_event: Event,
    },
    /// The run failed, timed out or was cancelled.
    Failed {
        /// The error's kind (`WorkflowTimeoutError`, ...).
        kind: String,
        /// Its message.
        message: String,
    },
}

/// A boxed future, as the async methods of a `dyn` trait return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a run's checkpoints go: the host saves a snapshot after every step
/// completion, every event sent in from outside, when a step starts waiting
/// for an answer, and at the end.
///
/// A run hands its snapshots to a writer task of its own, which saves them
/// one at a time (the latest one wins when saves fall behind), so a slow
/// store delays checkpoints, never the run; the last checkpoint is saved
/// before the run is reported finished.
pub trait CheckpointStore: Send + Sync + 'static {
    /// Saves `snapshot`, replacing the previous one. It must be atomic (a
    /// crash leaves the previous snapshot or the new one, never a mix) and
    /// durable when the future completes.
    fn save<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, Result<()>>;
}

/// Checkpoints in one JSON file, replaced atomically (written beside it,
/// synced, renamed over it).
#[derive(Debug, Clone)]
pub struct FileCheckpoint {
    path: std::path::PathBuf,
}

impl FileCheckpoint {
    /// Checkpoints in `path`.
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Reads the snapshot in the file.
    pub fn load(&self) -> Result<Snapshot> {
        let text = crate::files::read_regular_text(
            &self.path,
            "the checkpoint",
            crate::files::MAX_CHECKPOINT_BYTES,
        )?;
        Snapshot::from_json(&text)
    }
}

impl CheckpointStore for FileCheckpoint {
    fn save<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let text = snapshot.to_json()?;
            let path = self.path.clone();
            tokio::task::spawn_blocking(move || write_atomically(&path, text.as_bytes()))
                .await
                .map_err(|err| {
                    WorkflowError::Runtime(format!("a checkpoint write panicked: {err}"))
                })?
        })
    }
}

/// Writes `bytes` to `path` atomically: into a temporary file beside it
/// (named after this process and a counter, so concurrent saves never share
/// one), synced, then renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let fail = |err| {
        WorkflowError::io(
            format!("cannot write the checkpoint {}", path.display()),
            err,
        )
    };
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(fail)
}

impl Snapshot {
    /// The snapshot as JSON text.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|err| {
            WorkflowError::ContextSerde(format!("cannot serialize the snapshot: {err}"))
        })
    }

    /// Parses a snapshot, refusing anything that is not a complete snapshot
    /// of a known format version.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|err| {
            WorkflowError::ContextSerde(format!("the snapshot is not valid JSON: {err}"))
        })?;
        match value.get("format").and_then(Value::as_str) {
            Some(SNAPSHOT_FORMAT) => {}
            Some(other) => {
                return Err(WorkflowError::ContextSerde(format!(
                    "not a wflow snapshot: format is {other:?}, expected {SNAPSHOT_FORMAT:?}"
                )));
            }
            None => {
                return Err(WorkflowError::ContextSerde(
                    "not a wflow snapshot: no \"format\" field".into(),
                ));
            }
        }
        match value.get("version").and_then(Value::as_u64) {
            Some(v) if v == u64::from(SNAPSHOT_VERSION) => {}
            Some(v) => {
                return Err(WorkflowError::ContextSerde(format!(
                    "snapshot format version {v} is not supported (this host reads version {SNAPSHOT_VERSION})"
                )));
            }
            None => {
                return Err(WorkflowError::ContextSerde(
                    "the snapshot has no format version".into(),
                ));
            }
        }
        serde_json::from_value(value).map_err(|err| {
            WorkflowError::ContextSerde(format!("the snapshot is incomplete or damaged: {err}"))
        })
    }

    /// Checks that this snapshot belongs to the workflow `expected`
    /// identifies (`Workflow::identity`).
    pub fn check_workflow(&self, expected: &WorkflowIdentity) -> Result<()> {
        if self.workflow.name != expected.name {
            return Err(WorkflowError::ContextSerde(format!(
                "the snapshot belongs to workflow {:?}, not {:?}",
                self.workflow.name, expected.name
            )));
        }
        if self.workflow.components != expected.components {
            return Err(WorkflowError::ContextSerde(format!(
                "the snapshot was taken with other components of workflow {:?} (their SHA-256 differ)",
                expected.name
            )));
        }
        Ok(())
    }
}
