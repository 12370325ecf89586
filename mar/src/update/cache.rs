//! The diff cache: content-addressed, atomic, self-verifying, shared by processes.
//!
//! Layout under the cache directory:
//!
//! ```text
//! <dir>/v1/<first two hex digits of the source SHA-256>/<source sha256>-<target sha256>-<params>.kpatch
//! ```
//!
//! where `<params>` is [`DIFF_PARAMS_VERSION`] (algorithm and parameters). Each file holds the
//! SHA-256 of its payload (32 bytes) followed by the payload: a zstd-compressed Kiln patch entry.
//!
//! Next to patches, the cache remembers how large a target compresses in full
//! (`<dir>/v1/sizes/<target sha256>-<compression>`, the decimal size), so deciding "patch or
//! add" for a cached patch does not recompress a large file for every locale.
//!
//! - Writes are atomic: a temporary file in the same directory, fsync, rename. Readers never see
//!   a partial entry, and concurrent workers or processes writing the same key write the same
//!   bytes, so the last rename wins harmlessly. No locks are needed.
//! - An entry is inserted only after the caller applied it and checked the result's hash.
//! - A read re-checks the entry's own hash and that its header names the key's source and
//!   target; the caller re-applies it before use. A corrupt or poisoned entry is deleted and
//!   counted, and the patch recomputed: the cache never needs purging by hand.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::update::generate::GenerateError;
use crate::update::generate::{sha256, DIFF_PARAMS_VERSION};
use crate::update::patch::{PatchHeader, KILN_PATCH_HEADER_LEN};

/// What a cache did, for reports (`--json` prints it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Entries found corrupt or poisoned and deleted.
    pub discarded: u64,
    /// Entries written.
    pub inserted: u64,
    /// Bytes read from valid entries.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
}

/// The cache key: which patch an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// SHA-256 of the source file.
    pub source_sha256: [u8; 32],
    /// SHA-256 of the target file.
    pub target_sha256: [u8; 32],
}

/// A diff cache directory. Safe to share between threads and processes.
#[derive(Debug)]
pub struct DiffCache {
    dir: PathBuf,
    hits: AtomicU64,
    misses: AtomicU64,
    discarded: AtomicU64,
    inserted: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

impl DiffCache {
    /// Opens (creating if needed) a cache in `dir`.
    pub fn open(dir: &Path) -> Result<DiffCache, GenerateError> {
        fs::create_dir_all(dir.join("v1")).map_err(GenerateError::io(dir))?;
        Ok(DiffCache {
            dir: dir.to_owned(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            inserted: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
        })
    }

    /// The file an entry lives in.
    pub fn entry_path(&self, key: &CacheKey) -> PathBuf {
        let source = hex::encode(key.source_sha256);
        self.dir.join("v1").join(&source[..2]).join(format!(
            "{source}-{}-{DIFF_PARAMS_VERSION}.kpatch",
            hex::encode(key.target_sha256)
        ))
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
            inserted: self.inserted.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
        }
    }

    /// The compressed patch for `key`, if a valid entry exists. A corrupt entry is deleted.
    pub fn get(&self, key: &CacheKey) -> Option<Vec<u8>> {
        let path = self.entry_path(key);
        let Ok(bytes) = fs::read(&path) else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        if bytes.len() < 32
            || sha256(&bytes[32..]) != bytes[..32]
            || !header_matches(&bytes[32..], key)
        {
            self.discard(key);
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.bytes_read
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Some(bytes[32..].to_vec())
    }

    /// Deletes an entry found wrong (e.g. its patch did not reproduce the target).
    pub fn discard(&self, key: &CacheKey) {
        if fs::remove_file(self.entry_path(key)).is_ok() {
            self.discarded.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn size_path(&self, target_sha256: &[u8; 32], compression: &str) -> PathBuf {
        self.dir
            .join("v1")
            .join("sizes")
            .join(format!("{}-{compression}", hex::encode(target_sha256)))
    }

    /// The remembered compressed size of a target under a compression setting (e.g. `zstd19`).
    pub fn full_size(&self, target_sha256: &[u8; 32], compression: &str) -> Option<u64> {
        fs::read_to_string(self.size_path(target_sha256, compression))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Remembers the compressed size of a target (atomically, like patches).
    pub fn insert_full_size(
        &self,
        target_sha256: &[u8; 32],
        compression: &str,
        size: u64,
    ) -> Result<(), GenerateError> {
        let path = self.size_path(target_sha256, compression);
        let dir = path.parent().expect("sizes live in a subdirectory");
        fs::create_dir_all(dir).map_err(GenerateError::io(dir))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(GenerateError::io(dir))?;
        temp.write_all(size.to_string().as_bytes())
            .map_err(GenerateError::io(temp.path()))?;
        temp.persist(&path)
            .map_err(|e| GenerateError::io(&path)(e.error))?;
        Ok(())
    }

    /// Stores a compressed patch the caller has applied and checked.
    pub fn insert(&self, key: &CacheKey, patch: &[u8]) -> Result<(), GenerateError> {
        let path = self.entry_path(key);
        let dir = path.parent().expect("entries live in a subdirectory");
        fs::create_dir_all(dir).map_err(GenerateError::io(dir))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(GenerateError::io(dir))?;
        temp.write_all(&sha256(patch))
            .and_then(|()| temp.write_all(patch))
            .and_then(|()| temp.as_file().sync_all())
            .map_err(GenerateError::io(temp.path()))?;
        temp.persist(&path)
            .map_err(|e| GenerateError::io(&path)(e.error))?;
        self.inserted.fetch_add(1, Ordering::Relaxed);
        self.bytes_written
            .fetch_add(patch.len() as u64 + 32, Ordering::Relaxed);
        Ok(())
    }
}

/// True when the compressed patch's header names the key's source and target.
fn header_matches(compressed: &[u8], key: &CacheKey) -> bool {
    let Ok(decoder) = zstd::stream::read::Decoder::new(compressed) else {
        return false;
    };
    let mut head = Vec::with_capacity(KILN_PATCH_HEADER_LEN);
    if decoder
        .take(KILN_PATCH_HEADER_LEN as u64)
        .read_to_end(&mut head)
        .is_err()
    {
        return false;
    }
    PatchHeader::decode(&head)
        .is_ok_and(|h| h.source_sha256 == key.source_sha256 && h.target_sha256 == key.target_sha256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::generate::make_patch;

    #[test]
    fn hits_misses_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiffCache::open(dir.path()).unwrap();
        let (old, new) = (b"old contents".repeat(50), b"new contents".repeat(50));
        let key = CacheKey {
            source_sha256: sha256(&old),
            target_sha256: sha256(&new),
        };
        assert_eq!(cache.get(&key), None);
        let patch = make_patch(&old, &new).unwrap();
        cache.insert(&key, &patch).unwrap();
        assert_eq!(cache.get(&key).as_deref(), Some(&patch[..]));
        // Flip a byte: the entry's own hash no longer matches, so it is discarded.
        let path = cache.entry_path(&key);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(cache.get(&key), None);
        assert!(!path.exists());
        // A self-consistent entry for another key (poisoned) is discarded too.
        let other = make_patch(&new, &old).unwrap();
        let mut poisoned = sha256(&other).to_vec();
        poisoned.extend_from_slice(&other);
        fs::write(&path, poisoned).unwrap();
        assert_eq!(cache.get(&key), None);
        let stats = cache.stats();
        assert_eq!(
            (stats.hits, stats.misses, stats.discarded, stats.inserted),
            (1, 3, 2, 1)
        );
    }
}
