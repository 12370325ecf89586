//! Safe extraction into a destination directory.
//!
//! Safe by construction: names are [`EntryPath`](crate::EntryPath)s (no `..`, no absolute paths),
//! no existing symlink or non-directory is ever followed on the way to a file, modes are masked
//! to `0o777`, and every entry is first decoded into a private staging directory inside the
//! destination. Only when all entries decoded cleanly are they renamed into place (replacing an
//! existing file atomically); on any error the staging directory and any directory this call
//! created are removed, so nothing is left behind.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::reader::Mar;

/// How entries are written out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExtractMode {
    /// Decompress entries (zstd, xz, bz2 detected by magic).
    #[default]
    Decompress,
    /// Write the stored bytes as they are.
    Raw,
}

/// What an extraction wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtractSummary {
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Extracts every entry of `mar` under `dest` (created if missing).
///
/// `progress` is told each entry's name and written size.
pub fn extract_all<R: Read + Seek>(
    mar: &mut Mar<R>,
    dest: &Path,
    mode: ExtractMode,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<ExtractSummary> {
    fs::create_dir_all(dest).map_err(Error::file(dest))?;
    let staging = tempfile::Builder::new()
        .prefix(".mar-extract-")
        .tempdir_in(dest)
        .map_err(Error::file(dest))?;
    let mut created_dirs = Vec::new();
    let result = stage_and_place(mar, dest, staging.path(), mode, &mut created_dirs, progress);
    if result.is_err() {
        // Remove what this call created, deepest first; directories that are not empty (they
        // held something before) stay.
        for dir in created_dirs.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
    drop(staging);
    result
}

fn stage_and_place<R: Read + Seek>(
    mar: &mut Mar<R>,
    dest: &Path,
    staging: &Path,
    mode: ExtractMode,
    created_dirs: &mut Vec<PathBuf>,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<ExtractSummary> {
    let entries = mar.entries().to_vec();
    let mut staged = Vec::with_capacity(entries.len());
    let mut bytes = 0u64;
    for (i, entry) in entries.iter().enumerate() {
        let temp = staging.join(format!("{i}"));
        let mut file = File::create(&temp).map_err(Error::file(&temp))?;
        let written = match mode {
            ExtractMode::Decompress => mar.copy_entry(entry, &mut file)?,
            ExtractMode::Raw => io::copy(&mut mar.stored_reader(entry)?, &mut file)?,
        };
        file.flush().map_err(Error::file(&temp))?;
        set_mode(&temp, entry.mode())?;
        progress(entry.name().as_str(), written);
        bytes += written;
        staged.push((temp, entry));
    }
    check_destinations(dest, &entries)?;
    for (temp, entry) in &staged {
        let target = dest.join(entry.name().to_relative_path());
        let parent = target.parent().expect("joined onto dest");
        ensure_real_dirs(dest, parent, created_dirs)?;
        // A file or a symlink at the target is replaced by the rename itself; a symlink is
        // never followed.
        fs::rename(temp, &target).map_err(Error::file(&target))?;
    }
    Ok(ExtractSummary {
        files: staged.len(),
        bytes,
    })
}

/// Refuses, before anything is placed, entries that cannot all be written: a name that is also
/// another entry's directory, a directory in the way of a file, or a path through a symlink or
/// a file that already exists in the destination.
fn check_destinations(dest: &Path, entries: &[crate::Entry]) -> Result<()> {
    let names: std::collections::HashSet<&str> =
        entries.iter().map(|e| e.name().as_str()).collect();
    for entry in entries {
        let name = entry.name().as_str();
        let unsafe_destination = |path: PathBuf, reason| Error::UnsafeDestination {
            name: name.to_owned(),
            path,
            reason,
        };
        for (i, _) in name.match_indices('/') {
            if names.contains(&name[..i]) {
                return Err(unsafe_destination(
                    dest.join(&name[..i]),
                    "another entry is a file at a parent path",
                ));
            }
            match fs::symlink_metadata(dest.join(&name[..i])) {
                Ok(meta) if !meta.is_dir() => {
                    return Err(unsafe_destination(
                        dest.join(&name[..i]),
                        "a path component is a symlink or a file",
                    ))
                }
                _ => {}
            }
        }
        let target = dest.join(entry.name().to_relative_path());
        if fs::symlink_metadata(&target).is_ok_and(|meta| meta.is_dir()) {
            return Err(unsafe_destination(target, "a directory is in the way"));
        }
    }
    Ok(())
}

/// Creates `dir` (inside `dest`) component by component, refusing to pass through anything that
/// is not a real directory, such as a symlink planted in the destination.
fn ensure_real_dirs(dest: &Path, dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    let rel = dir.strip_prefix(dest).expect("inside dest");
    let mut current = dest.to_path_buf();
    for component in rel.components() {
        current.push(component);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::UnsafeDestination {
                    name: rel.display().to_string(),
                    path: current,
                    reason: "a path component is a symlink or a file",
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&current).map_err(Error::file(&current))?;
                created.push(current.clone());
            }
            Err(e) => return Err(Error::file(&current)(e)),
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o777)).map_err(Error::file(path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}
