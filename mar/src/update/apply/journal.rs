//! The apply journal: what makes an interrupted update reversible (or finishable).
//!
//! Before the install is touched, the applier writes `<install>/.kiln-update.journal` (atomically:
//! a temporary file, fsync, rename) listing every directory it will create, every file it will
//! write (and whether it existed), every file it will remove and every `rmdir`, the last three in
//! manifest order. Drafts go beside
//! targets (`<file>.kiln-draft`), replaced files and removed files are renamed to
//! `<file>.moz-backup`, and once every rename is done `<install>/.kiln-update.committed` is created.
//!
//! [`recover`] reads the journal: with the commit marker it rolls forward (deletes backups and runs
//! the `rmdir`s, in journal order); without it, it rolls back (restores backups, deletes new files and drafts,
//! removes the directories it created). Every step is idempotent, so recovery itself may be
//! interrupted and run again. Either way the install ends exactly old or exactly new.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::entry_path::EntryPath;
use crate::update::apply::{kill_point, ApplyError};

/// The journal's file name in the install directory.
pub const JOURNAL_NAME: &str = ".kiln-update.journal";
/// The commit marker's file name in the install directory.
pub const COMMITTED_NAME: &str = ".kiln-update.committed";
const JOURNAL_TMP_NAME: &str = ".kiln-update.journal.tmp";
const JOURNAL_HEADER: &str = "kiln-update-journal 1";
/// Suffix of the draft written beside a target.
pub const DRAFT_EXT: &str = ".kiln-draft";
/// Suffix of the backup of a replaced or removed file (Mozilla's `BACKUP_EXT`).
pub const BACKUP_EXT: &str = ".moz-backup";

/// One step recorded in the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JournalOp {
    /// A directory the update creates.
    Mkdir(EntryPath),
    /// A file the update writes; `existed` says whether it had to be backed up.
    Write { path: EntryPath, existed: bool },
    /// A file the update removes.
    Remove(EntryPath),
    /// A directory removed, if empty, after success.
    Rmdir(EntryPath),
}

/// What [`recover`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// There was no interrupted update.
    Clean,
    /// An interrupted update was undone: the install is exactly as before it.
    RolledBack,
    /// An update had committed; its cleanup was finished: the install is exactly the new one.
    RolledForward,
}

/// `<install>/<path><ext>`.
pub(crate) fn sidecar(install: &Path, path: &EntryPath, ext: &str) -> PathBuf {
    let mut name = install.join(path.to_relative_path()).into_os_string();
    name.push(ext);
    PathBuf::from(name)
}

fn encode(ops: &[JournalOp]) -> String {
    let mut out = format!("{JOURNAL_HEADER}\n");
    for op in ops {
        let line = match op {
            JournalOp::Mkdir(p) => format!("mkdir \"{p}\""),
            JournalOp::Write { path, existed } => {
                format!(
                    "write \"{path}\" {}",
                    if *existed { "existed" } else { "new" }
                )
            }
            JournalOp::Remove(p) => format!("remove \"{p}\""),
            JournalOp::Rmdir(p) => format!("rmdir \"{p}\""),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("end\n");
    out
}

fn decode(text: &str) -> Result<Vec<JournalOp>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(JOURNAL_HEADER) {
        return Err("unknown header".to_owned());
    }
    let mut ops = Vec::new();
    for line in lines {
        if line == "end" {
            return Ok(ops);
        }
        let (word, rest) = line.split_once(' ').ok_or("line without arguments")?;
        let rest = rest.strip_prefix('"').ok_or("unquoted path")?;
        let (path, tail) = rest.split_once('"').ok_or("unterminated path")?;
        let path = EntryPath::new(path).map_err(|e| format!("path {path:?}: {e}"))?;
        ops.push(match (word, tail) {
            ("mkdir", "") => JournalOp::Mkdir(path),
            ("write", " existed") => JournalOp::Write {
                path,
                existed: true,
            },
            ("write", " new") => JournalOp::Write {
                path,
                existed: false,
            },
            ("remove", "") => JournalOp::Remove(path),
            ("rmdir", "") => JournalOp::Rmdir(path),
            _ => return Err(format!("bad line {line:?}")),
        });
    }
    Err("truncated (no end line)".to_owned())
}

fn sync_dir(dir: &Path) {
    // Directory fsync makes renames durable on power loss; not every platform supports it.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes the journal atomically and durably.
pub(crate) fn write_journal(install: &Path, ops: &[JournalOp]) -> Result<(), ApplyError> {
    let tmp = install.join(JOURNAL_TMP_NAME);
    let path = install.join(JOURNAL_NAME);
    let mut file = fs::File::create(&tmp).map_err(ApplyError::write(&tmp))?;
    kill_point();
    file.write_all(encode(ops).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(ApplyError::write(&tmp))?;
    kill_point();
    fs::rename(&tmp, &path).map_err(ApplyError::write(&path))?;
    sync_dir(install);
    kill_point();
    Ok(())
}

/// Marks the update committed: from now on recovery rolls forward.
pub(crate) fn commit(install: &Path) -> Result<(), ApplyError> {
    let path = install.join(COMMITTED_NAME);
    fs::File::create(&path)
        .and_then(|f| f.sync_all())
        .map_err(ApplyError::write(&path))?;
    sync_dir(install);
    kill_point();
    Ok(())
}

fn remove_file_if_exists(path: &Path) -> Result<(), ApplyError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ApplyError::write(path)(e)),
    }
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Undoes an uncommitted update described by `ops`, then deletes the journal.
pub(crate) fn roll_back(install: &Path, ops: &[JournalOp]) -> Result<(), ApplyError> {
    for op in ops.iter().rev() {
        match op {
            JournalOp::Write { path, existed } => {
                let target = install.join(path.to_relative_path());
                let backup = sidecar(install, path, BACKUP_EXT);
                if *existed {
                    if exists(&backup) {
                        remove_file_if_exists(&target)?;
                        kill_point();
                        fs::rename(&backup, &target).map_err(ApplyError::write(&target))?;
                        kill_point();
                    }
                } else {
                    remove_file_if_exists(&target)?;
                }
                remove_file_if_exists(&sidecar(install, path, DRAFT_EXT))?;
                kill_point();
            }
            JournalOp::Remove(path) => {
                let target = install.join(path.to_relative_path());
                let backup = sidecar(install, path, BACKUP_EXT);
                if exists(&backup) {
                    remove_file_if_exists(&target)?;
                    fs::rename(&backup, &target).map_err(ApplyError::write(&target))?;
                    kill_point();
                }
            }
            JournalOp::Mkdir(path) => {
                if fs::remove_dir(install.join(path.to_relative_path())).is_ok() {
                    kill_point();
                }
            }
            JournalOp::Rmdir(_) => {}
        }
    }
    finish_journal(install)
}

/// Completes a committed update described by `ops`, then deletes the journal: Mozilla's Finish,
/// in journal (manifest) order — a file's backup is deleted, an `rmdir` removes its directory if
/// it is empty by then (non-fatal otherwise, as in Mozilla's updater), repeats included.
pub(crate) fn roll_forward(install: &Path, ops: &[JournalOp]) -> Result<(), ApplyError> {
    for op in ops {
        match op {
            JournalOp::Write { path, .. } | JournalOp::Remove(path) => {
                remove_file_if_exists(&sidecar(install, path, BACKUP_EXT))?;
                kill_point();
            }
            JournalOp::Rmdir(path) => {
                if fs::remove_dir(install.join(path.to_relative_path())).is_ok() {
                    kill_point();
                }
            }
            JournalOp::Mkdir(_) => {}
        }
    }
    finish_journal(install)
}

/// Deletes the journal, then the commit marker (in that order: a marker without a journal means
/// nothing, a journal without its marker would roll back).
fn finish_journal(install: &Path) -> Result<(), ApplyError> {
    remove_file_if_exists(&install.join(JOURNAL_NAME))?;
    sync_dir(install);
    kill_point();
    remove_file_if_exists(&install.join(COMMITTED_NAME))?;
    remove_file_if_exists(&install.join(JOURNAL_TMP_NAME))?;
    Ok(())
}

/// Finishes or undoes an interrupted update of `install_dir`, leaving it exactly new or exactly
/// old. Safe to call at any time; [`apply`](crate::update::apply) calls it first.
pub fn recover(install_dir: &Path) -> Result<Recovery, ApplyError> {
    let path = install_dir.join(JOURNAL_NAME);
    let text = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A journal that never got renamed into place means nothing was touched yet.
            remove_file_if_exists(&install_dir.join(JOURNAL_TMP_NAME))?;
            remove_file_if_exists(&install_dir.join(COMMITTED_NAME))?;
            return Ok(Recovery::Clean);
        }
        Err(e) => return Err(ApplyError::read(&path)(e)),
    };
    let ops = std::str::from_utf8(&text)
        .map_err(|_| "not UTF-8".to_owned())
        .and_then(decode)
        .map_err(|reason| ApplyError::Journal {
            path: path.clone(),
            reason,
        })?;
    if exists(&install_dir.join(COMMITTED_NAME)) {
        roll_forward(install_dir, &ops)?;
        Ok(Recovery::RolledForward)
    } else {
        roll_back(install_dir, &ops)?;
        Ok(Recovery::RolledBack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_round_trips_and_rejects_truncation() {
        let p = |s: &str| EntryPath::new(s).unwrap();
        let ops = vec![
            JournalOp::Mkdir(p("a b")),
            JournalOp::Write {
                path: p("a b/c"),
                existed: true,
            },
            JournalOp::Write {
                path: p("d"),
                existed: false,
            },
            JournalOp::Remove(p("e")),
            JournalOp::Rmdir(p("f")),
        ];
        let text = encode(&ops);
        assert_eq!(decode(&text).unwrap(), ops);
        assert!(decode(&text[..text.len() - 4]).is_err());
        assert!(decode("other\nend\n").is_err());
    }
}
