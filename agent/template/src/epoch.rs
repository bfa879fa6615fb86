//! Host epochs: when a cached reading of a host file (the local time zone here, the user
//! and group databases in agent-modules) may be trusted without looking at the file
//! again.
//!
//! By default nothing is trusted: every use checks the file's stamp first (a `stat`). A
//! run that promises to say when the host may have changed calls [`manage`]; from then
//! on a file checked once is trusted until [`touched`] starts a new epoch. The engine
//! calls it after every task that may have changed the host, and modules call it after
//! they run a program or apply a change, so a lookup later in the same task (a user's
//! uid after `useradd`) reads the file again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static MANAGED: AtomicBool = AtomicBool::new(false);
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// From now on, readings checked in the current epoch are trusted until [`touched`].
pub fn manage() {
    MANAGED.store(true, Ordering::SeqCst);
    touched();
}

/// The host may have changed: every cached reading is checked again at its next use.
pub fn touched() {
    EPOCH.fetch_add(1, Ordering::SeqCst);
}

/// The epoch a reading checked now belongs to; `None` when readings are not managed
/// (check every time).
pub fn current() -> Option<u64> {
    MANAGED
        .load(Ordering::SeqCst)
        .then(|| EPOCH.load(Ordering::SeqCst))
}

/// Whether a reading last checked in `checked` may be used without checking again.
pub fn trusted(checked: Option<u64>) -> bool {
    checked.is_some() && checked == current()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_only_within_a_managed_epoch() {
        // Not managed (this test binary's other tests never call manage): no trust.
        // The order of the checks below holds whether or not it is managed yet.
        assert!(!trusted(None));
        manage();
        let e = current();
        assert!(e.is_some());
        assert!(trusted(e));
        touched();
        assert!(!trusted(e));
        assert!(trusted(current()));
    }
}
