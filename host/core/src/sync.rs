//! Locks that outlive a panic.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking its data even when a thread panicked while holding
/// it: every critical section in the host leaves its data consistent, so a
/// panic elsewhere must not make the data unusable (nor spread the panic).
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
