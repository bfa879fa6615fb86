//! A task's `timeout`: the time by which the running task must finish.
//!
//! Ansible interrupts a task that runs past its `timeout` (an alarm in the worker) and
//! fails it with `Timed out after N second(s).` The agent runs modules in its own process,
//! so it stops what it can stop: a command a module is waiting for is killed when the
//! deadline passes ([`crate::command`]'s `spawn`), which ends the module; a task that
//! ran past its deadline otherwise (without a command to kill) finishes, and is then
//! failed as timed out all the same.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// While it lives, the running task has a deadline.
pub struct Deadline {
    at: Instant,
    outer: Option<Instant>,
}

/// Give the running task `after` to finish.
pub fn enter(after: Duration) -> Deadline {
    let now = Instant::now();
    // A deadline past what the clock can hold is no deadline at all in practice.
    let at = now
        .checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
    let outer = DEADLINE.with(|d| d.replace(Some(at)));
    Deadline { at, outer }
}

impl Deadline {
    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.at
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.outer));
    }
}

/// How long the running task has left (`None`: no deadline).
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .with(Cell::get)
        .map(|at| at.saturating_duration_since(Instant::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_deadlines_restore_the_outer_one() {
        assert_eq!(remaining(), None);
        let outer = enter(Duration::from_secs(60));
        assert!(remaining().is_some_and(|r| r > Duration::from_secs(50)));
        {
            let inner = enter(Duration::ZERO);
            assert!(inner.expired());
            assert_eq!(remaining(), Some(Duration::ZERO));
        }
        assert!(remaining().is_some_and(|r| r > Duration::from_secs(50)));
        assert!(!outer.expired());
        drop(outer);
        assert_eq!(remaining(), None);
    }
}
