//! The error a step returns.

use std::fmt;

use crate::bindings::wflow::workflow::types::{
    ContextError, GuestError, StepError as WitStepError,
};

/// Why a step failed. Any `std::error::Error` converts into it with `?`,
/// keeping its type name as the error kind, so retry policies can match on
/// it.
#[derive(Debug, Clone)]
pub enum StepError {
    /// The step failed: `kind` names the error type, `message` says why.
    Failed {
        /// The error's kind, e.g. `ValueError` or `ParseIntError`.
        kind: String,
        /// What went wrong.
        message: String,
    },
    /// The input event could not be decoded.
    InvalidEvent(String),
    /// A context call failed.
    Context(ContextError),
}

impl StepError {
    /// A failure with kind `StepError` and this message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::new("StepError", message)
    }

    /// A failure of the given kind.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Failed {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// An input event that could not be decoded.
    pub fn invalid_event(message: impl Into<String>) -> Self {
        Self::InvalidEvent(message.into())
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed { kind, message } => write!(f, "{kind}: {message}"),
            Self::InvalidEvent(message) => write!(f, "invalid event: {message}"),
            Self::Context(err) => write!(f, "context error: {err:?}"),
        }
    }
}

impl<E: std::error::Error> From<E> for StepError {
    fn from(err: E) -> Self {
        let full = std::any::type_name::<E>();
        let kind = full.rsplit("::").next().unwrap_or(full);
        Self::new(kind, err.to_string())
    }
}

/// Converts a context call's error into a step error (kept as is, so the
/// host sees exactly which call failed).
pub(crate) fn context_error(err: ContextError) -> StepError {
    StepError::Context(err)
}

impl From<StepError> for WitStepError {
    fn from(err: StepError) -> Self {
        match err {
            StepError::Failed { kind, message } => {
                WitStepError::Failed(GuestError { kind, message })
            }
            StepError::InvalidEvent(message) => WitStepError::InvalidEvent(message),
            StepError::Context(err) => WitStepError::Context(err),
        }
    }
}

/// Returns early from a step with a [`StepError`] built like `format!`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return ::std::result::Result::Err($crate::StepError::msg(::std::format!($($arg)*)))
    };
}
