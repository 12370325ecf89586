//! Crash points for the kill tests (feature `crash-points` only; no-ops otherwise).
//!
//! With `KILN_CLIENT_KILL_AT=N` in the environment, every crash point reached (this crate's points
//! and, once [`arm`]ed, `mar`'s applier points, counted together) prints `KILN-KILL-POINT-PASSED n`
//! on stderr, except the N-th, which prints `KILN-KILL-POINT N` and hangs until the test kills
//! the process. `N = 0` only counts. Without the variable the points do nothing, so a
//! `crash-points` build behaves like a shipped one. The program embedding the crate needs no code
//! for this: the `kiln-client` built for the crash tests is the ordinary one.

#[cfg(feature = "crash-points")]
mod enabled {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Once, OnceLock};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    fn kill_at() -> Option<usize> {
        static AT: OnceLock<Option<usize>> = OnceLock::new();
        *AT.get_or_init(|| std::env::var("KILN_CLIENT_KILL_AT").ok()?.parse().ok())
    }

    pub(crate) fn kill_point() {
        let Some(at) = kill_at() else { return };
        let n = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
        let mut err = std::io::stderr().lock();
        if n != at {
            let _ = writeln!(err, "KILN-KILL-POINT-PASSED {n}");
            return;
        }
        let _ = writeln!(err, "KILN-KILL-POINT {n}");
        let _ = err.flush();
        drop(err);
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }

    pub(crate) fn arm() {
        static ARMED: Once = Once::new();
        ARMED.call_once(|| {
            mar::update::apply::set_kill_point_hook(kill_point);
        });
    }
}

#[cfg(feature = "crash-points")]
pub(crate) use enabled::{arm, kill_point};

/// A crash point (no-op without the `crash-points` feature).
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub(crate) fn kill_point() {}

/// Routes `mar`'s applier crash points through [`kill_point`]; called before every call into
/// `mar`'s applier or recovery (no-op without the `crash-points` feature).
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub(crate) fn arm() {}
