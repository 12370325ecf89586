//! Crash points for the kill tests (feature `crash-points` only; no-ops otherwise).
//!
//! With `KILN_CLIENT_KILL_AT=N`, the N-th crash point reached (counting this crate's points and
//! `mar`'s applier points) prints `KILN-KILL-POINT N` on stderr and hangs until the test kills
//! the process. [`kill_points_passed`] tells how many points a run went through.

#[cfg(feature = "crash-points")]
mod enabled {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    fn kill_at() -> Option<usize> {
        static AT: OnceLock<Option<usize>> = OnceLock::new();
        *AT.get_or_init(|| std::env::var("KILN_CLIENT_KILL_AT").ok()?.parse().ok())
    }

    pub(crate) fn kill_point() {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
        if kill_at() == Some(n) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "KILN-KILL-POINT {n}");
            let _ = err.flush();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
    }

    /// How many crash points this process has passed.
    pub fn kill_points_passed() -> usize {
        COUNTER.load(Ordering::SeqCst)
    }

    /// Routes `mar`'s applier crash points through this crate's counter.
    pub fn install_kill_points() {
        mar::update::apply::set_kill_point_hook(kill_point);
    }
}

#[cfg(feature = "crash-points")]
pub(crate) use enabled::kill_point;
#[cfg(feature = "crash-points")]
pub use enabled::{install_kill_points, kill_points_passed};

/// A crash point (no-op without the `crash-points` feature).
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub(crate) fn kill_point() {}
