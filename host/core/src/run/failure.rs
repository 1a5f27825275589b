//! Why a step call failed, as the broker and the retry policy see it.

use crate::bindings::{ContextError, GuestError};
use crate::error::{FailureCause, StepFailure};

/// Why one attempt of a step call failed.
#[derive(Debug, Clone)]
pub(crate) struct CallFailure {
    /// The error's type name.
    pub(crate) kind: String,
    /// Its message.
    pub(crate) message: String,
    /// What ended the attempt.
    pub(crate) cause: FailureCause,
    /// A run-wide limit was exceeded: the run fails at once, no retry.
    pub(crate) run_limit: bool,
}

impl CallFailure {
    /// An attempt that ended for `cause`.
    pub(crate) fn new(cause: FailureCause, kind: &str, message: impl Into<String>) -> Self {
        Self {
            kind: kind.to_string(),
            message: message.into(),
            cause,
            run_limit: false,
        }
    }

    /// The error the guest raised.
    pub(crate) fn raised(error: GuestError) -> Self {
        Self {
            kind: error.kind,
            message: error.message,
            cause: FailureCause::Raised,
            run_limit: false,
        }
    }

    /// A context error the guest passed on, under the kind the reference's
    /// context raises for it.
    pub(crate) fn context(error: ContextError) -> Self {
        let (kind, message) = match error {
            ContextError::InvalidPath(m)
            | ContextError::MissingPath(m)
            | ContextError::SchemaViolation(m)
            | ContextError::InvalidJson(m) => ("ValueError", m),
            ContextError::StepDoesNotExist(m)
            | ContextError::EventNotAccepted(m)
            | ContextError::RunEnded(m) => ("WorkflowRuntimeError", m),
            ContextError::Timeout(m) => ("TimeoutError", m),
            ContextError::AlreadyEditing(m) => ("RuntimeError", m),
        };
        Self::new(FailureCause::Context, kind, message)
    }

    /// A run-wide limit the step broke: the run fails with `text`, which
    /// names the limit (`TooManyEvents: ...`).
    pub(crate) fn run_limit(text: String) -> Self {
        Self {
            run_limit: true,
            ..Self::new(FailureCause::Limit, "WorkflowLimitError", text)
        }
    }

    /// The failure the run's caller gets, after `attempts` attempts.
    pub(crate) fn into_step_failure(self, step: &str, attempts: u32) -> StepFailure {
        StepFailure {
            step: step.to_string(),
            kind: self.kind,
            message: self.message,
            attempts,
            cause: self.cause,
        }
    }
}

/// How a step call failed, after its retries.
#[derive(Debug, Clone)]
pub(crate) enum FailedCall {
    /// It broke a run-wide limit: the run fails with this text.
    RunLimit(String),
    /// Its retry policy gave up.
    Step(Box<StepFailure>),
}

/// The error a host import traps a guest with when the guest broke a
/// run-wide limit (the text names it: `StreamBufferFull: ...`); the broker
/// fails the run with it.
#[derive(Debug)]
pub(crate) struct LimitTrap(pub(crate) String);

impl std::fmt::Display for LimitTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitTrap {}
