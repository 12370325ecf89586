//! An install tree to generate updates from: a directory on disk, or a complete MAR unwrapped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::compression::DecodingReader;
use crate::entry_path::EntryPath;
use crate::reader::Mar;
use crate::update::apply::MANIFEST_ENTRY;
use crate::update::generate::GenerateError;

use super::memo::CountingMemo;

/// Where a file's bytes are.
#[derive(Clone, Debug)]
enum FileData {
    Disk(PathBuf),
    Memory(Arc<[u8]>),
    /// A MAR entry's stored (compressed) bytes, decoded each time they are read.
    Stored {
        name: EntryPath,
        bytes: Arc<[u8]>,
        limit: u64,
    },
}

/// Stored MAR entries of at least this size go through [`StoredDigests`].
const STORED_DIGEST_THRESHOLD: usize = 64 * 1024;

/// What [`StoredDigests`] remembers of one stored entry: its content's SHA-256 and length.
type Decoded = ([u8; 32], u64);

/// The content digests of stored MAR entries, keyed by the SHA-256 of their stored bytes.
///
/// The complete MARs of one release carry each platform's binaries as byte-identical entries
/// (every locale's MAR compresses them alike), so a partial generated from any of them needs
/// the content's digest — the diff cache's key — without decoding it again: hashing the stored
/// bytes is much cheaper than decoding them. Identical stored bytes decode to identical
/// content, so a remembered digest is exact. Use one per release run.
#[derive(Debug, Default)]
pub struct StoredDigests {
    known: CountingMemo<[u8; 32], Decoded>,
}

impl StoredDigests {
    /// An empty memo.
    pub fn new() -> StoredDigests {
        StoredDigests::default()
    }

    /// Large entries left stored because their digest was known.
    pub fn hits(&self) -> u64 {
        self.known.hits()
    }

    /// Large entries decoded to learn their digest.
    pub fn misses(&self) -> u64 {
        self.known.misses()
    }
}

/// One regular file of a tree.
///
/// Its SHA-256 is computed at most once, from the bytes first read, and shared by every clone
/// of the tree: a tree's files must not change while updates are generated from it.
#[derive(Clone, Debug)]
pub struct TreeFile {
    mode: u32,
    len: u64,
    data: FileData,
    digest: Arc<OnceLock<[u8; 32]>>,
}

impl TreeFile {
    /// Permission bits (masked to `0o777`).
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// The file's length in bytes (as found when the tree was read).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The SHA-256 of the file's contents (read and hashed on first use).
    pub fn sha256(&self) -> Result<[u8; 32], GenerateError> {
        match self.digest.get() {
            Some(digest) => Ok(*digest),
            None => Ok(self.digest_of(&self.read()?)),
        }
    }

    /// The file's SHA-256, given `bytes` just read from it: computed from them on first use.
    pub(crate) fn digest_of(&self, bytes: &[u8]) -> [u8; 32] {
        *self.digest.get_or_init(|| super::sha256(bytes))
    }

    /// The file's bytes.
    pub fn read(&self) -> Result<Arc<[u8]>, GenerateError> {
        match &self.data {
            FileData::Disk(path) => fs::read(path)
                .map(Arc::from)
                .map_err(GenerateError::io(path)),
            FileData::Memory(bytes) => Ok(bytes.clone()),
            FileData::Stored { name, bytes, limit } => {
                let decoded = decode(name, bytes, *limit)?;
                let digest = super::sha256(&decoded);
                if decoded.len() as u64 != self.len || self.digest.get() != Some(&digest) {
                    return Err(GenerateError::Mar(crate::Error::Decode {
                        name: name.to_string(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "decoded to other content than the same stored bytes did before",
                        ),
                    }));
                }
                Ok(decoded.into())
            }
        }
    }
}

/// Decodes an entry's stored bytes, at most `limit` bytes of content.
fn decode(name: &EntryPath, stored: &[u8], limit: u64) -> Result<Vec<u8>, GenerateError> {
    let decode_error = |source| {
        GenerateError::Mar(crate::Error::Decode {
            name: name.to_string(),
            source,
        })
    };
    let (mut reader, _) = DecodingReader::new(stored, limit).map_err(decode_error)?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).map_err(decode_error)?;
    Ok(out)
}

/// The files (with modes) and directories of an install, keyed by install-relative path.
///
/// Every path is a valid [`EntryPath`]; symlinks and special files are refused, as a MAR cannot
/// carry them. `update*.manifest` files at the root are left out.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    files: BTreeMap<EntryPath, TreeFile>,
    dirs: BTreeSet<EntryPath>,
}

impl Tree {
    /// Reads an install directory.
    pub fn from_dir(root: &Path) -> Result<Tree, GenerateError> {
        let mut tree = Tree::default();
        tree.walk(root, root)?;
        Ok(tree)
    }

    fn walk(&mut self, root: &Path, dir: &Path) -> Result<(), GenerateError> {
        let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)
            .map_err(GenerateError::io(dir))?
            .collect::<Result<_, _>>()
            .map_err(GenerateError::io(dir))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let rel = path.strip_prefix(root).expect("under root");
            let name = EntryPath::from_relative(rel).map_err(|reason| GenerateError::BadName {
                path: path.clone(),
                reason,
            })?;
            let meta = fs::symlink_metadata(&path).map_err(GenerateError::io(&path))?;
            if meta.is_dir() {
                self.dirs.insert(name);
                self.walk(root, &path)?;
            } else if meta.is_file() {
                if is_update_manifest(&name) {
                    continue;
                }
                self.files.insert(
                    name,
                    TreeFile {
                        mode: file_mode(&meta),
                        len: meta.len(),
                        data: FileData::Disk(path),
                        digest: Arc::default(),
                    },
                );
            } else {
                return Err(GenerateError::NotAFile { path });
            }
        }
        Ok(())
    }

    /// Unwraps a complete MAR: every entry but the manifest, with its mode; directories are the
    /// entries' parents.
    pub fn from_complete_mar<R: Read + Seek>(mar: &mut Mar<R>) -> Result<Tree, GenerateError> {
        let mut tree = Tree::default();
        for entry in mar.entries().to_vec() {
            if entry.name().as_str() == MANIFEST_ENTRY {
                continue;
            }
            let mut bytes = Vec::new();
            mar.copy_entry(&entry, &mut bytes)?;
            tree.insert(entry.name().clone(), entry.mode(), bytes);
        }
        Ok(tree)
    }

    /// Unwraps a complete MAR like [`Tree::from_complete_mar`], but leaves each large entry
    /// whose stored bytes `digests` already knows stored, with its digest: it is decoded only
    /// if its bytes are needed (a diff the cache does not hold), not to learn its digest.
    pub fn from_complete_mar_with<R: Read + Seek>(
        mar: &mut Mar<R>,
        digests: &StoredDigests,
    ) -> Result<Tree, GenerateError> {
        let mut tree = Tree::default();
        let limit = mar.limits().max_entry_unpacked_size;
        for entry in mar.entries().to_vec() {
            if entry.name().as_str() == MANIFEST_ENTRY {
                continue;
            }
            let mut stored = Vec::new();
            mar.stored_reader(&entry)?
                .read_to_end(&mut stored)
                .map_err(crate::Error::from)?;
            let name = entry.name().clone();
            if stored.len() < STORED_DIGEST_THRESHOLD {
                tree.insert(name.clone(), entry.mode(), decode(&name, &stored, limit)?);
                continue;
            }
            let stored_digest = super::sha256(&stored);
            let (digest, len, data) = match digests.known.get(&stored_digest) {
                Some((digest, len)) => (
                    digest,
                    len,
                    FileData::Stored {
                        name: name.clone(),
                        bytes: stored.into(),
                        limit,
                    },
                ),
                None => {
                    let decoded = decode(&name, &stored, limit)?;
                    let digest = super::sha256(&decoded);
                    let len = decoded.len() as u64;
                    digests.known.insert(stored_digest, (digest, len));
                    (digest, len, FileData::Memory(decoded.into()))
                }
            };
            tree.add_parents(&name);
            tree.files.insert(
                name,
                TreeFile {
                    mode: entry.mode() & 0o777,
                    len,
                    data,
                    digest: Arc::new(OnceLock::from(digest)),
                },
            );
        }
        Ok(tree)
    }

    fn add_parents(&mut self, path: &EntryPath) {
        let parts: Vec<&str> = path.as_str().split('/').collect();
        for depth in 1..parts.len() {
            self.dirs
                .insert(EntryPath::new(&parts[..depth].join("/")).expect("prefix of a valid path"));
        }
    }

    /// Adds (or replaces) an in-memory file, creating its parent directories.
    pub fn insert(&mut self, path: EntryPath, mode: u32, bytes: Vec<u8>) {
        self.add_parents(&path);
        self.files.insert(
            path,
            TreeFile {
                mode: mode & 0o777,
                len: bytes.len() as u64,
                data: FileData::Memory(bytes.into()),
                digest: Arc::default(),
            },
        );
    }

    /// The files, sorted by path.
    pub fn files(&self) -> &BTreeMap<EntryPath, TreeFile> {
        &self.files
    }

    /// The directories, sorted.
    pub fn dirs(&self) -> &BTreeSet<EntryPath> {
        &self.dirs
    }

    /// The file at `path`, if any.
    pub fn file(&self, path: &str) -> Option<&TreeFile> {
        EntryPath::new(path).ok().and_then(|p| self.files.get(&p))
    }
}

fn is_update_manifest(name: &EntryPath) -> bool {
    let s = name.as_str();
    !s.contains('/') && s.starts_with("update") && s.ends_with(".manifest")
}

#[cfg(unix)]
fn file_mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn file_mode(_meta: &fs::Metadata) -> u32 {
    0o644
}
