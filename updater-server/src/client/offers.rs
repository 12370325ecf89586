//! Offers served, per (release, rule): how many clients were sent each release by each rule.
//!
//! Counted on the hot path with one atomic add and no lock: every published snapshot carries an
//! immutable [`OfferTable`] whose counters are `Arc`s shared with the [`OfferRegistry`], so
//! counts survive snapshot swaps and the registry (locked only when a snapshot is published or
//! the counts are read) sees every increment.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Every counter ever created, by (release, rule id).
#[derive(Debug, Default)]
pub struct OfferRegistry {
    counters: Mutex<HashMap<(String, i64), Arc<AtomicU64>>>,
    unattributed: Arc<AtomicU64>,
}

/// The counters one snapshot can touch: the releases its rules map (mapping and fallback).
#[derive(Debug, Default)]
pub struct OfferTable {
    by_release: HashMap<String, Vec<(i64, Arc<AtomicU64>)>>,
    unattributed: Arc<AtomicU64>,
}

impl OfferRegistry {
    /// The table for a snapshot whose rules map these `(rule_id, release)` pairs; existing
    /// counters are reused.
    pub fn table<'a>(&self, pairs: impl Iterator<Item = (i64, &'a str)>) -> OfferTable {
        let mut counters = match self.counters.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut by_release: HashMap<String, Vec<(i64, Arc<AtomicU64>)>> = HashMap::new();
        for (rule, release) in pairs {
            let counter = counters
                .entry((release.to_owned(), rule))
                .or_default()
                .clone();
            let list = by_release.entry(release.to_owned()).or_default();
            if !list.iter().any(|(r, _)| *r == rule) {
                list.push((rule, counter));
            }
        }
        OfferTable {
            by_release,
            unattributed: Arc::clone(&self.unattributed),
        }
    }

    /// Offers of `release` by rule id (rules that never offered it are absent).
    pub fn counts(&self, release: &str) -> Vec<(i64, u64)> {
        let counters = match self.counters.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out: Vec<(i64, u64)> = counters
            .iter()
            .filter(|((name, _), _)| name == release)
            .map(|((_, rule), c)| (*rule, c.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort_unstable();
        out
    }

    /// Every non-zero counter as `(release, rule, offers)`, for `/metrics`.
    pub fn all(&self) -> Vec<(String, i64, u64)> {
        let counters = match self.counters.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out: Vec<(String, i64, u64)> = counters
            .iter()
            .map(|((name, rule), c)| (name.clone(), *rule, c.load(Ordering::Relaxed)))
            .filter(|(_, _, n)| *n > 0)
            .collect();
        out.sort();
        out
    }

    /// Offers whose release no rule maps directly (a pinned release).
    pub fn unattributed(&self) -> u64 {
        self.unattributed.load(Ordering::Relaxed)
    }
}

impl OfferTable {
    /// Counts one offer of `release` by `rule`.
    pub fn count(&self, release: &str, rule: i64) {
        let counter = self
            .by_release
            .get(release)
            .and_then(|list| list.iter().find(|(r, _)| *r == rule))
            .map_or(&self.unattributed, |(_, c)| c);
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_survive_a_new_table() {
        let registry = OfferRegistry::default();
        let first = registry.table([(1, "A"), (1, "B"), (2, "A")].into_iter());
        first.count("A", 1);
        first.count("A", 2);
        first.count("C", 1);
        let second = registry.table([(1, "A")].into_iter());
        second.count("A", 1);
        assert_eq!(registry.counts("A"), vec![(1, 2), (2, 1)]);
        assert_eq!(registry.unattributed(), 1);
    }
}
