//! [`EntryCache`]: compressed MAR entries shared between the update MARs of one run, so a file
//! that every locale's MAR carries unchanged (a platform's binaries) is compressed once.

use std::sync::Arc;

use super::memo::CountingMemo;

/// Files smaller than this are compressed every time (the lookup would cost about as much).
pub const ENTRY_CACHE_THRESHOLD: usize = 64 * 1024;

/// (content SHA-256, compression tag).
type Key = ([u8; 32], String);

/// In-memory map from (content SHA-256, compression) to the compressed entry. Entries are kept
/// for the cache's lifetime: use one per release run, not one per process.
#[derive(Debug, Default)]
pub struct EntryCache {
    entries: CountingMemo<Key, Arc<Vec<u8>>>,
}

impl EntryCache {
    /// An empty cache.
    pub fn new() -> EntryCache {
        EntryCache::default()
    }

    /// Lookups answered from the cache.
    pub fn hits(&self) -> u64 {
        self.entries.hits()
    }

    /// Lookups that compressed.
    pub fn misses(&self) -> u64 {
        self.entries.misses()
    }

    /// The compressed form of `bytes` (whose SHA-256 `digest` gives) under `tag`, computed by
    /// `compress` at most once per content (two threads racing on the same content may both
    /// compute it; results agree).
    pub(crate) fn get_or_compress<E>(
        &self,
        bytes: &[u8],
        digest: impl FnOnce() -> [u8; 32],
        tag: &str,
        compress: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, E> {
        if bytes.len() < ENTRY_CACHE_THRESHOLD {
            return compress();
        }
        let key = (digest(), tag.to_owned());
        if let Some(entry) = self.entries.get(&key) {
            return Ok(entry.as_ref().clone());
        }
        let compressed = compress()?;
        self.entries.insert(key, Arc::new(compressed.clone()));
        Ok(compressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::generate::{complete_mar, Tree, UpdateParams};
    use crate::{EntryPath, ProductInfo};

    #[test]
    fn shared_entries_are_compressed_once_and_change_no_byte() {
        let tree = |locale: &str| {
            let mut tree = Tree::default();
            let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
            tree.insert(EntryPath::new("libxul.so").unwrap(), 0o755, big);
            tree.insert(
                EntryPath::new("precomplete").unwrap(),
                0o644,
                b"remove \"libxul.so\"\n".to_vec(),
            );
            tree.insert(
                EntryPath::new("update.locale").unwrap(),
                0o644,
                locale.as_bytes().to_vec(),
            );
            tree
        };
        let dir = tempfile::tempdir().unwrap();
        let plain = UpdateParams::new(ProductInfo::new("c", "2.0").unwrap());
        let cache = Arc::new(EntryCache::new());
        let shared = plain.clone().entry_cache(cache.clone());
        for locale in ["de", "fr", "ja"] {
            let (a, b) = (dir.path().join("a.mar"), dir.path().join("b.mar"));
            complete_mar(&tree(locale), &plain, &a).unwrap();
            complete_mar(&tree(locale), &shared, &b).unwrap();
            assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        }
        assert_eq!((cache.misses(), cache.hits()), (1, 2));
    }
}
