//! The errors of the host library: the seed's error kinds, as one enum.

use std::sync::Arc;

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
    #[error("step `{step}` failed: {message}")]
    StepFailed {
        /// The step that failed.
        step: String,
        /// The step's last error.
        message: String,
    },
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
            Self::Runtime(_) => "WorkflowRuntimeError",
            Self::StepFailed { .. } => "WorkflowStepError",
            Self::Cancelled(_) => "WorkflowCancelledByUser",
            Self::StepDoesNotExist(_) => "WorkflowStepDoesNotExistError",
            Self::ContextSerde(_) => "ContextSerdeError",
            Self::InvalidEvent(_) => "WorkflowEventValidationError",
            Self::LimitExceeded(_) => "WorkflowLimitError",
            Self::Io { .. } => "IOError",
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

/// The result type of the host library.
pub type Result<T, E = WorkflowError> = std::result::Result<T, E>;
