//! Retry policies: whether a failed step runs again, and after what delay.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bindings::{WitBackoff, WitRetryPolicy};

/// How the delay between retries grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// The same delay every time (the seed's `ConstantDelayRetryPolicy`).
    #[default]
    Constant,
    /// The delay is multiplied after every retry.
    Exponential,
}

/// When a failed step is retried (each time on a fresh instance) and how long
/// to wait first. At least as expressive as the seed's policies: constant or
/// exponential delays with a cap and jitter, stop after a number of attempts
/// or an elapsed time, retry only errors matching a pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; `None` for no limit.
    pub max_attempts: Option<u32>,
    /// Give up once this much time passed since the first attempt began.
    pub max_elapsed: Option<Duration>,
    /// The delay before the first retry.
    pub delay: Duration,
    /// How the delay grows.
    pub backoff: Backoff,
    /// The growth factor of exponential backoff.
    pub multiplier: f64,
    /// The largest delay.
    pub max_delay: Option<Duration>,
    /// Each delay is drawn uniformly from `delay * (1 ± jitter)`.
    pub jitter: f64,
    /// Retry only errors of these kinds (a guest error's type name, or one
    /// of the host's kinds: `StepTimeoutError`, `WasmTrap`, ...) ...
    pub retry_on: Vec<String>,
    /// ... or whose message contains one of these. With both empty, every
    /// error is retried.
    pub retry_on_message: Vec<String>,
}

impl RetryPolicy {
    /// At most `max_attempts` attempts, `delay` apart.
    pub fn constant(max_attempts: u32, delay: Duration) -> Self {
        Self {
            max_attempts: Some(max_attempts),
            max_elapsed: None,
            delay,
            backoff: Backoff::Constant,
            multiplier: 2.0,
            max_delay: None,
            jitter: 0.0,
            retry_on: Vec::new(),
            retry_on_message: Vec::new(),
        }
    }

    /// Whether the policy retries an error of `kind` saying `message`.
    pub fn retries(&self, kind: &str, message: &str) -> bool {
        if self.retry_on.is_empty() && self.retry_on_message.is_empty() {
            return true;
        }
        self.retry_on.iter().any(|wanted| wanted == kind)
            || self
                .retry_on_message
                .iter()
                .any(|pattern| message.contains(pattern.as_str()))
    }

    /// The delay before the next attempt, or `None` to give up. `failures` is
    /// how many attempts failed so far (1 after the first), `elapsed` the
    /// time since the first attempt began, `kind` and `message` the last
    /// error's.
    pub fn next_delay(
        &self,
        failures: u32,
        elapsed: Duration,
        kind: &str,
        message: &str,
    ) -> Option<Duration> {
        if !self.retries(kind, message) {
            return None;
        }
        if self.max_attempts.is_some_and(|max| failures >= max) {
            return None;
        }
        let mut delay = self.delay.as_secs_f64();
        if self.backoff == Backoff::Exponential {
            let exponent = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
            delay *= self.multiplier.max(1.0).powi(exponent);
        }
        if self.jitter > 0.0 {
            let jitter = self.jitter.min(1.0);
            delay *= 1.0 - jitter + 2.0 * jitter * fastrand::f64();
        }
        if let Some(max) = self.max_delay {
            delay = delay.min(max.as_secs_f64());
        }
        let delay = Duration::try_from_secs_f64(delay.max(0.0)).unwrap_or(Duration::MAX);
        if self
            .max_elapsed
            .is_some_and(|max| elapsed.saturating_add(delay) > max)
        {
            return None;
        }
        Some(delay)
    }
}

impl From<WitRetryPolicy> for RetryPolicy {
    fn from(policy: WitRetryPolicy) -> Self {
        Self {
            max_attempts: policy.max_attempts,
            max_elapsed: policy.max_elapsed_ms.map(Duration::from_millis),
            delay: Duration::from_millis(policy.delay_ms),
            backoff: match policy.backoff {
                WitBackoff::Constant => Backoff::Constant,
                WitBackoff::Exponential => Backoff::Exponential,
            },
            multiplier: policy.multiplier.unwrap_or(2.0),
            max_delay: policy.max_delay_ms.map(Duration::from_millis),
            jitter: policy.jitter.clamp(0.0, 1.0),
            retry_on: policy.retry_on,
            retry_on_message: policy.retry_on_message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn constant_stops_after_max_attempts() {
        let policy = RetryPolicy::constant(3, 10 * MS);
        assert_eq!(
            policy.next_delay(1, Duration::ZERO, "E", "e"),
            Some(10 * MS)
        );
        assert_eq!(
            policy.next_delay(2, Duration::ZERO, "E", "e"),
            Some(10 * MS)
        );
        assert_eq!(policy.next_delay(3, Duration::ZERO, "E", "e"), None);
    }

    #[test]
    fn exponential_grows_and_caps() {
        let policy = RetryPolicy {
            backoff: Backoff::Exponential,
            max_attempts: None,
            max_delay: Some(50 * MS),
            ..RetryPolicy::constant(0, 10 * MS)
        };
        let delays: Vec<_> = (1..=4)
            .map(|n| policy.next_delay(n, Duration::ZERO, "E", "e").unwrap())
            .collect();
        assert_eq!(delays, vec![10 * MS, 20 * MS, 40 * MS, 50 * MS]);
    }

    #[test]
    fn jitter_stays_in_range() {
        let policy = RetryPolicy {
            jitter: 0.5,
            ..RetryPolicy::constant(100, 100 * MS)
        };
        for _ in 0..200 {
            let d = policy.next_delay(1, Duration::ZERO, "E", "e").unwrap();
            assert!(d >= 50 * MS && d <= 150 * MS, "{d:?}");
        }
    }

    #[test]
    fn elapsed_and_kind_filters_stop_retries() {
        let policy = RetryPolicy {
            max_elapsed: Some(100 * MS),
            retry_on: vec!["TransientError".into()],
            ..RetryPolicy::constant(10, 30 * MS)
        };
        assert_eq!(
            policy.next_delay(1, 50 * MS, "TransientError", "x"),
            Some(30 * MS)
        );
        assert_eq!(policy.next_delay(1, 80 * MS, "TransientError", "x"), None);
        assert_eq!(
            policy.next_delay(1, Duration::ZERO, "ValueError", "x"),
            None
        );
        // A kind is matched whole, not as a part of another kind.
        let partial = RetryPolicy {
            retry_on: vec!["Transient".into()],
            ..RetryPolicy::constant(10, 30 * MS)
        };
        assert!(!partial.retries("TransientError", "x"));
    }

    #[test]
    fn message_patterns_are_matched_when_asked_for() {
        let policy = RetryPolicy {
            retry_on: vec!["TimeoutError".into()],
            retry_on_message: vec!["try again".into()],
            ..RetryPolicy::constant(10, 30 * MS)
        };
        assert!(policy.retries("TimeoutError", "slow"));
        assert!(policy.retries("ValueError", "busy, try again later"));
        assert!(!policy.retries("ValueError", "bad value: 42"));
        assert!(RetryPolicy::constant(10, 30 * MS).retries("AnyError", "anything"));
    }
}
