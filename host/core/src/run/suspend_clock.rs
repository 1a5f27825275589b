//! The time a step call spends suspended in `wait_for_event`, which its
//! step timeout does not count: a suspended call runs no guest code.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::lock;

/// One worker's suspensions during its current call. Cheap to clone: the
/// clones share it (the host import starts suspensions, the call's timeout
/// reads them).
#[derive(Clone, Default)]
pub(crate) struct SuspendClock(Arc<Mutex<Suspensions>>);

#[derive(Default)]
struct Suspensions {
    /// When the suspension under way began.
    since: Option<Instant>,
    /// The call's suspensions that ended.
    total: Duration,
}

/// A suspension under way; it ends when dropped.
pub(crate) struct Suspended(SuspendClock);

impl Drop for Suspended {
    fn drop(&mut self) {
        self.0.end(Instant::now());
    }
}

impl SuspendClock {
    /// A new call begins: nothing suspended yet.
    pub(crate) fn reset(&self) {
        *lock(&self.0) = Suspensions::default();
    }

    /// Starts a suspension, ended when the result drops.
    pub(crate) fn start(&self) -> Suspended {
        self.begin(Instant::now());
        Suspended(self.clone())
    }

    fn begin(&self, at: Instant) {
        lock(&self.0).since = Some(at);
    }

    fn end(&self, at: Instant) {
        let mut suspensions = lock(&self.0);
        if let Some(since) = suspensions.since.take() {
            suspensions.total += at.saturating_duration_since(since);
        }
    }

    /// How long the call begun at `started` has run by `now`, not counting
    /// its suspensions.
    pub(crate) fn running(&self, started: Instant, now: Instant) -> Duration {
        let suspensions = lock(&self.0);
        let current = suspensions
            .since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        now.saturating_duration_since(started)
            .saturating_sub(suspensions.total + current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspensions_do_not_count_as_running() {
        let clock = SuspendClock::default();
        let started = Instant::now();
        let at = |secs| started + Duration::from_secs(secs);
        clock.begin(at(1));
        assert_eq!(clock.running(started, at(11)), Duration::from_secs(1));
        clock.end(at(11));
        assert_eq!(clock.running(started, at(13)), Duration::from_secs(3));
        clock.reset();
        assert_eq!(clock.running(at(13), at(13)), Duration::ZERO);
    }
}
