//! Locks that survive a panic elsewhere.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, using it even when a thread panicked while holding it: every guarded update
/// in this server is a few inserts or assignments with no fallible step between them, so the
/// data is never left half-changed, and refusing it would take the app down for one bug.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
