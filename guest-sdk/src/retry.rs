//! Retry policies, declared with `#[step(retry = ...)]`.

use crate::bindings::wflow::workflow::types as wit;

/// How the delay between retries grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// The same delay every time.
    Constant,
    /// The delay is multiplied after each retry.
    Exponential,
}

/// When and how a failed step is retried; each retry runs on a fresh
/// instance. Built like `RetryPolicy::constant(3, 100)` or
/// `RetryPolicy::exponential(100).max_attempts(5).jitter(0.2)`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_attempts: Option<u32>,
    max_elapsed_ms: Option<u64>,
    delay_ms: u64,
    backoff: Backoff,
    multiplier: Option<f64>,
    max_delay_ms: Option<u64>,
    jitter: f64,
    retry_on: Vec<String>,
}

impl RetryPolicy {
    /// The seed's `ConstantDelayRetryPolicy`: at most `max_attempts`
    /// attempts in all, `delay_ms` apart.
    pub fn constant(max_attempts: u32, delay_ms: u64) -> Self {
        Self {
            max_attempts: Some(max_attempts),
            max_elapsed_ms: None,
            delay_ms,
            backoff: Backoff::Constant,
            multiplier: None,
            max_delay_ms: None,
            jitter: 0.0,
            retry_on: Vec::new(),
        }
    }

    /// Exponential backoff starting at `initial_delay_ms`, doubling each
    /// time; three attempts in all unless changed.
    pub fn exponential(initial_delay_ms: u64) -> Self {
        Self {
            backoff: Backoff::Exponential,
            ..Self::constant(3, initial_delay_ms)
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

    /// Retries only errors whose kind or message contains `pattern` (may be
    /// given several times).
    pub fn retry_on(mut self, pattern: impl Into<String>) -> Self {
        self.retry_on.push(pattern.into());
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
        }
    }
}
