//! The errors of the host library: the seed's error kinds, as one enum.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use thiserror::Error;

/// Everything that can go wrong loading or running a workflow. The variants
/// are the seed's error classes; [`WorkflowError::kind`] gives that name.
#[derive(Debug, Clone, Error)]
pub enum WorkflowError {
    /// The workflow's steps or event graph are invalid (checked before any
    /// run).
    #[error("{0}")]
    Validation(String),
    /// A logical configuration error: a bad manifest, an unknown step in an
    /// override, conflicting state declarations.
    #[error("{0}")]
    Configuration(String),
    /// A component could not be loaded, compiled or built.
    #[error("{0}")]
    Load(String),
    /// The run exceeded its timeout.
    #[error("{0}")]
    Timeout(String),
    /// An error while routing events or running steps.
    #[error("{0}")]
    Runtime(String),
    /// A step failed and its retry policy gave up.
    #[error("{0}")]
    StepFailed(Box<StepFailure>),
    /// The run was cancelled by its caller.
    #[error("{0}")]
    Cancelled(String),
    /// A step name that the workflow does not have.
    #[error("{0}")]
    StepDoesNotExist(String),
    /// A context could not be serialized or restored.
    #[error("{0}")]
    ContextSerde(String),
    /// An input (start event, an event sent from outside) does not fit its
    /// type's schema.
    #[error("{0}")]
    InvalidEvent(String),
    /// A run exceeded one of its limits (events, stream, state, buffers).
    #[error("{0}")]
    LimitExceeded(String),
    /// An event was sent to, or a snapshot asked of, a run that has ended.
    #[error("{0}")]
    RunEnded(String),
    /// An event sent from outside was not taken: the run's queue holds
    /// `limits.max_queued_bytes` already. The run goes on; try again later.
    #[error("{0}")]
    QueueFull(String),
    /// A checkpoint could not be saved (the store's own error is the
    /// source).
    #[error("cannot save the checkpoint of {run}: {source}")]
    Checkpoint {
        /// The run (or handler) whose checkpoint it was.
        run: String,
        /// The store's error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// An I/O error, e.g. reading a manifest.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl WorkflowError {
    /// The seed's name for this kind of error (`WorkflowTimeoutError`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Validation(_) => "WorkflowValidationError",
            Self::Configuration(_) => "WorkflowConfigurationError",
            Self::Load(_) => "WorkflowLoadError",
            Self::Timeout(_) => "WorkflowTimeoutError",
            Self::Runtime(_) | Self::RunEnded(_) => "WorkflowRuntimeError",
            Self::StepFailed { .. } => "WorkflowStepError",
            Self::Cancelled(_) => "WorkflowCancelledByUser",
            Self::StepDoesNotExist(_) => "WorkflowStepDoesNotExistError",
            Self::ContextSerde(_) => "ContextSerdeError",
            Self::InvalidEvent(_) => "WorkflowEventValidationError",
            Self::LimitExceeded(_) | Self::QueueFull(_) => "WorkflowLimitError",
            Self::Checkpoint { .. } => "WorkflowCheckpointError",
            Self::Io { .. } => "IOError",
        }
    }

    /// A checkpoint of `run` that the store could not save.
    pub fn checkpoint(
        run: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Checkpoint {
            run: run.into(),
            source: Arc::new(source),
        }
    }

    /// An I/O error while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }
}

/// Why a step failed, as the run's caller gets it: the step's own error (its
/// kind is the guest's error type, `ValueError` say, or one of the host's
/// kinds for what the host stopped), where, after how many attempts, and
/// what caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepFailure {
    /// The step that failed.
    pub step: String,
    /// The error's type name: the guest's (`ValueError`, `TypeError`), or
    /// the host's (`StepTimeoutError`, `WasmTrap`, `MemoryLimitExceeded`,
    /// `FuelExhausted`, `UndeclaredEventError`, `InvalidEventError`, ...).
    pub kind: String,
    /// The error's message, without its kind.
    pub message: String,
    /// Attempts made, the first one included.
    pub attempts: u32,
    /// What ended the last attempt.
    pub cause: FailureCause,
}

/// What ended a step's attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCause {
    /// The guest raised (or returned) an error.
    Raised,
    /// A context call failed and the guest passed its error on.
    Context,
    /// The guest trapped: a panic, an `unreachable`, a stack overflow.
    Trap,
    /// The call outran the step's timeout.
    Timeout,
    /// The instance hit one of its limits: memory, tables, fuel.
    Limit,
    /// The step returned or sent what it may not: an undeclared type, a
    /// payload that is no object or does not match its schema.
    InvalidOutput,
    /// The host could not give the step an instance (grants, instantiation).
    Host,
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step `{}` failed: {}: {}",
            self.step, self.kind, self.message
        )?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// The result type of the host library.
pub type Result<T, E = WorkflowError> = std::result::Result<T, E>;
