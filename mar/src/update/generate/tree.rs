//! An install tree to generate updates from: a directory on disk, or a complete MAR unwrapped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::entry_path::EntryPath;
use crate::reader::Mar;
use crate::update::apply::MANIFEST_ENTRY;
use crate::update::generate::GenerateError;

/// Where a file's bytes are.
#[derive(Clone, Debug)]
enum FileData {
    Disk(PathBuf),
    Memory(Arc<[u8]>),
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
        }
    }
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

    /// Adds (or replaces) an in-memory file, creating its parent directories.
    pub fn insert(&mut self, path: EntryPath, mode: u32, bytes: Vec<u8>) {
        let parts: Vec<&str> = path.as_str().split('/').collect();
        for depth in 1..parts.len() {
            self.dirs
                .insert(EntryPath::new(&parts[..depth].join("/")).expect("prefix of a valid path"));
        }
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
