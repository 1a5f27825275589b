//! Why a step call failed, as the broker and the retry policy see it.

use crate::bindings::ContextError;

/// Why a step call failed.
#[derive(Debug, Clone)]
pub(crate) struct StepFailure {
    /// `Kind: message`.
    pub(crate) message: String,
    /// A run-wide limit was exceeded: the run fails at once, no retry.
    pub(crate) limit: bool,
}

impl StepFailure {
    pub(crate) fn step(message: String) -> Self {
        Self {
            message,
            limit: false,
        }
    }

    pub(crate) fn limit(message: String) -> Self {
        Self {
            message,
            limit: true,
        }
    }
}

/// The error a host import traps a guest with when the guest broke a
/// run-wide limit; the broker fails the run with it.
#[derive(Debug)]
pub(crate) struct LimitTrap(pub(crate) String);

impl std::fmt::Display for LimitTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitTrap {}

/// A context error as the `Kind: message` text a step failure carries.
pub(crate) fn describe_context_error(err: &ContextError) -> String {
    match err {
        ContextError::InvalidPath(m) => format!("ValueError: {m}"),
        ContextError::MissingPath(m) => format!("ValueError: {m}"),
        ContextError::SchemaViolation(m) => format!("ValueError: {m}"),
        ContextError::InvalidJson(m) => format!("ValueError: {m}"),
        ContextError::StepDoesNotExist(m) => format!("WorkflowRuntimeError: {m}"),
        ContextError::EventNotAccepted(m) => format!("WorkflowRuntimeError: {m}"),
        ContextError::Timeout(m) => format!("TimeoutError: {m}"),
        ContextError::AlreadyEditing(m) => format!("RuntimeError: {m}"),
        ContextError::RunEnded(m) => format!("WorkflowRuntimeError: {m}"),
    }
}
