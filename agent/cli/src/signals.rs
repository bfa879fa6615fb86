//! SIGTERM and SIGINT: the first one asks the run to stop between tasks; a second one
//! aborts at once (exit 128 + signal number, as a shell reports a killed process).
//!
//! The handler only records the signal in an atomic; the engine reads it before each task
//! (see `RunOptions::interrupt`), so a module's apply is never cut in the middle. A run
//! aborted by the second signal is in the same state as one killed with SIGKILL: every
//! file write is atomic and the kernel releases the run lock.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// The first SIGTERM/SIGINT received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

const ABORT_MESSAGE: &[u8] = b"agent: second signal: aborting at once\n";

extern "C" fn on_signal(sig: libc::c_int) {
    if RECEIVED
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is static.
        unsafe {
            libc::write(
                libc::STDERR_FILENO,
                ABORT_MESSAGE.as_ptr().cast(),
                ABORT_MESSAGE.len(),
            );
            libc::_exit(128 + sig);
        }
    }
}

/// Install the handlers for SIGTERM and SIGINT (once, at the start of a run).
/// `SA_RESTART` keeps system calls of modules from failing with EINTR.
pub fn install() -> Result<(), nix::Error> {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only touches an atomic and calls async-signal-safe
        // functions.
        unsafe { sigaction(s, &action) }?;
    }
    Ok(())
}

/// The flag the engine polls between tasks.
pub fn flag() -> &'static AtomicI32 {
    &RECEIVED
}

/// The signal received so far, if any, by name (`SIGTERM`).
pub fn received() -> Option<&'static str> {
    name(RECEIVED.load(Ordering::SeqCst))
}

/// `SIGTERM` for 15; None for 0 or an unknown number.
pub fn name(sig: i32) -> Option<&'static str> {
    if sig == 0 {
        return None;
    }
    Signal::try_from(sig).ok().map(Signal::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(0), None);
        assert_eq!(name(15), Some("SIGTERM"));
        assert_eq!(name(2), Some("SIGINT"));
        assert_eq!(name(-3), None);
    }
}
