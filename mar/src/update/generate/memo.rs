//! [`CountingMemo`]: a map shared between the threads of one release run that counts how often
//! it answered, so the caches built on it ([`EntryCache`](super::EntryCache),
//! [`StoredDigests`](super::StoredDigests)) can report their hits and misses.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A thread-safe map from `K` to `V` with hit and miss counters.
#[derive(Debug)]
pub(crate) struct CountingMemo<K, V> {
    map: Mutex<HashMap<K, V>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K, V> Default for CountingMemo<K, V> {
    fn default() -> Self {
        CountingMemo {
            map: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }
}

impl<K: Eq + Hash, V: Clone> CountingMemo<K, V> {
    /// The value for `key`, counted as a hit when there is one and as a miss otherwise.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        // A poisoned lock only means another thread panicked while inserting a whole value.
        let found = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remembers `value` for `key` (threads racing on one key insert equal values).
    pub(crate) fn insert(&self, key: K, value: V) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, value);
    }

    /// Lookups that found a value.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that found none.
    pub(crate) fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}
