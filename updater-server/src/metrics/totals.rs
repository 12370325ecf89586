//! The report totals `/metrics` shows (`kiln_update_reports_total`), read from the database at
//! most once per `[reports] totals_max_age_secs`, so a scrape never scans the reports table
//! itself: an unauthenticated endpoint on the client listener must not be able to make the
//! database run a `GROUP BY` per request. The exposition says how old the figures are
//! (`kiln_update_reports_totals_age_seconds`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Release, result, count.
pub type Totals = Arc<Vec<(String, String, i64)>>;

/// A cached copy of the totals with the time it was read.
#[derive(Debug)]
pub struct TotalsCache {
    max_age: Duration,
    cached: Mutex<Option<(Instant, Totals)>>,
    /// Held while one scrape refreshes; others serve the copy they find meanwhile.
    refreshing: Mutex<()>,
}

impl TotalsCache {
    /// A cache whose copy is re-read once older than `max_age`.
    pub fn new(max_age: Duration) -> TotalsCache {
        TotalsCache {
            max_age,
            cached: Mutex::new(None),
            refreshing: Mutex::new(()),
        }
    }

    fn current(&self) -> Option<(Instant, Totals)> {
        self.cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The totals and their age: the cached copy while it is younger than `max_age` (or while
    /// another caller is reading a new one), else a fresh read through `read`, which runs for
    /// at most one caller at a time.
    pub fn get<E>(
        &self,
        read: impl FnOnce() -> Result<Vec<(String, String, i64)>, E>,
    ) -> Result<(Totals, Duration), E> {
        let fresh = |c: &Option<(Instant, Totals)>| {
            c.as_ref()
                .filter(|(at, _)| at.elapsed() < self.max_age)
                .map(|(at, t)| (Arc::clone(t), at.elapsed()))
        };
        if let Some(hit) = fresh(&self.current()) {
            return Ok(hit);
        }
        let _refreshing = match self.refreshing.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                if let Some((at, totals)) = self.current() {
                    return Ok((totals, at.elapsed()));
                }
                self.refreshing.lock().unwrap_or_else(|p| p.into_inner())
            }
        };
        // Another caller may have refreshed while this one waited.
        if let Some(hit) = fresh(&self.current()) {
            return Ok(hit);
        }
        let totals: Totals = Arc::new(read()?);
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), Arc::clone(&totals)));
        Ok((totals, Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn reads_once_per_max_age_whoever_asks() {
        let cache = TotalsCache::new(Duration::from_millis(200));
        let reads = AtomicUsize::new(0);
        let read = || -> Result<_, ()> {
            let n = reads.fetch_add(1, Ordering::SeqCst) as i64;
            Ok(vec![("R".to_owned(), "ok".to_owned(), n)])
        };
        // Eight threads scraping 50 times each within the age: one read.
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        cache.get(read).unwrap();
                    }
                });
            }
        });
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        std::thread::sleep(Duration::from_millis(250));
        let (totals, age) = cache.get(read).unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        assert_eq!((totals[0].2, age), (1, Duration::ZERO));
    }
}
