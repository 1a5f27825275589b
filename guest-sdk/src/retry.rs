//! Retry policies, declared with `#[step(retry = ...)]`.

use serde::{Deserialize, Serialize};

use crate::bindings::wflow::workflow::types as wit;
use crate::defaults::defaults;

/// How the delay between retries grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    /// The same delay every time.
    Constant,
    /// The delay is multiplied after each retry.
    Exponential,
}

/// When and how a failed step is retried; each retry runs on a fresh
/// instance. Built like `RetryPolicy::constant(3, 100)` or
/// `RetryPolicy::exponential(100).max_attempts(5).jitter(0.2)`; what a
/// policy does not set is the shared default of `wit/sdk-defaults.json`
/// (as in the Python and JavaScript SDKs).
///
/// Its serde form is the WIT `retry-policy` record with snake_case field
/// names, as `wit/sdk-defaults.json` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    pub(crate) max_attempts: Option<u32>,
    pub(crate) max_elapsed_ms: Option<u64>,
    pub(crate) delay_ms: u64,
    pub(crate) backoff: Backoff,
    pub(crate) multiplier: Option<f64>,
    pub(crate) max_delay_ms: Option<u64>,
    pub(crate) jitter: f64,
    pub(crate) retry_on: Vec<String>,
    pub(crate) retry_on_message: Vec<String>,
}

impl Default for RetryPolicy {
    /// The shared default policy (`retry_policy` in `wit/sdk-defaults.json`):
    /// the seed's `ConstantDelayRetryPolicy()`, 3 attempts 5 seconds apart.
    fn default() -> Self {
        defaults().retry.clone()
    }
}

impl RetryPolicy {
    /// The seed's `ConstantDelayRetryPolicy`: at most `max_attempts`
    /// attempts in all, `delay_ms` apart.
    pub fn constant(max_attempts: u32, delay_ms: u64) -> Self {
        Self {
            max_attempts: Some(max_attempts),
            delay_ms,
            backoff: Backoff::Constant,
            ..Self::default()
        }
    }

    /// Exponential backoff starting at `initial_delay_ms`, multiplied by
    /// the shared default multiplier (2) after each retry, with the default
    /// number of attempts (3) unless changed.
    pub fn exponential(initial_delay_ms: u64) -> Self {
        Self {
            delay_ms: initial_delay_ms,
            ..defaults().exponential.clone()
        }
    }

    /// Stops after `attempts` attempts in all.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Stops once `ms` milliseconds have passed since the first failure.
    pub fn max_elapsed_ms(mut self, ms: u64) -> Self {
        self.max_elapsed_ms = Some(ms);
        self
    }

    /// The growth factor of exponential backoff.
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = Some(multiplier);
        self
    }

    /// Caps every delay at `ms` milliseconds.
    pub fn max_delay_ms(mut self, ms: u64) -> Self {
        self.max_delay_ms = Some(ms);
        self
    }

    /// Randomises each delay by up to this fraction of it.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// Retries errors of kind `kind`: an error type's name, as
    /// [`StepError`](crate::StepError) gives it (may be given several
    /// times). With no `retry_on` and no `retry_on_message`, every error is
    /// retried.
    pub fn retry_on(mut self, kind: impl Into<String>) -> Self {
        self.retry_on.push(kind.into());
        self
    }

    /// Retries errors whose message contains `pattern` (may be given several
    /// times).
    pub fn retry_on_message(mut self, pattern: impl Into<String>) -> Self {
        self.retry_on_message.push(pattern.into());
        self
    }

    pub(crate) fn into_wit(self) -> wit::RetryPolicy {
        wit::RetryPolicy {
            max_attempts: self.max_attempts,
            max_elapsed_ms: self.max_elapsed_ms,
            delay_ms: self.delay_ms,
            backoff: match self.backoff {
                Backoff::Constant => wit::Backoff::Constant,
                Backoff::Exponential => wit::Backoff::Exponential,
            },
            multiplier: self.multiplier,
            max_delay_ms: self.max_delay_ms,
            jitter: self.jitter,
            retry_on: self.retry_on,
            retry_on_message: self.retry_on_message,
        }
    }
}
