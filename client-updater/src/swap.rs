//! Swapping a staged update in at start, crash-safe.
//!
//! The staged copy is `<install>/updated` (the name Firefox uses). The swap writes a journal
//! (`<install>/.kiln-swap.journal`: the top-level names of the old and the new tree), moves every
//! old top-level entry into `<install>/.kiln-old/`, moves every staged entry into the install,
//! runs the caller's check of the new tree (a failure rolls back), then creates
//! `<install>/.kiln-swap.committed` and cleans up. [`recover`] rolls an interrupted
//! swap forward (commit marker present: finish the cleanup) or back (move new entries back into
//! `updated/`, old entries back into place); each step is a single `rename` and idempotent, so the
//! install is always exactly old or exactly new, and recovery may itself be interrupted.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::crash::kill_point;
use crate::error::Error;
use crate::status::write_atomic;

/// The staged copy's directory name inside the install.
pub const STAGED_DIR: &str = "updated";
/// Where the old entries wait during a swap.
pub const OLD_DIR: &str = ".kiln-old";
/// The swap journal's name.
pub const JOURNAL: &str = ".kiln-swap.journal";
/// The swap's commit marker.
pub const COMMITTED: &str = ".kiln-swap.committed";

/// Names in the install that are never swapped: the updater's own.
pub(crate) fn is_reserved(name: &str) -> bool {
    matches!(name, STAGED_DIR | OLD_DIR | JOURNAL | COMMITTED)
        || name.starts_with(".kiln-swap.")
        || name == mar::update::apply::journal::JOURNAL_NAME
        || name == mar::update::apply::journal::COMMITTED_NAME
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    old: Vec<String>,
    new: Vec<String>,
}

fn names(dir: &Path, keep: &[String]) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| Error::Swap(format!("non-UTF-8 name {n:?}")))?;
        if !is_reserved(&name) && !keep.contains(&name) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    fs::rename(from, to)
        .map_err(|e| Error::Swap(format!("{} → {}: {e}", from.display(), to.display())))?;
    kill_point();
    Ok(())
}

/// Swaps `<install>/updated` in. `keep` are top-level names that stay (the update directory).
/// `check` sees the install with the new entries in place, before the commit: its error rolls
/// the swap back, as does any other error.
pub fn swap(
    install: &Path,
    keep: &[String],
    check: &dyn Fn(&Path) -> Result<(), Error>,
) -> Result<(), Error> {
    recover(install)?;
    let staged = install.join(STAGED_DIR);
    let journal = Journal {
        old: names(install, keep)?,
        new: names(&staged, keep)?,
    };
    write_atomic(
        &install.join(JOURNAL),
        &serde_json::to_vec(&journal).expect("serializable"),
    )?;
    let result = (|| {
        let old_dir = install.join(OLD_DIR);
        if !old_dir.is_dir() {
            fs::create_dir(&old_dir).map_err(Error::io(&old_dir))?;
        }
        for name in &journal.old {
            rename(&install.join(name), &old_dir.join(name))?;
        }
        for name in &journal.new {
            rename(&staged.join(name), &install.join(name))?;
        }
        check(install)?;
        write_atomic(&install.join(COMMITTED), b"committed\n")
    })();
    if let Err(e) = result {
        roll_back(install, &journal)?;
        return Err(e);
    }
    roll_forward(install)
}

/// Finishes or undoes an interrupted swap; returns whether there was one.
pub fn recover(install: &Path) -> Result<bool, Error> {
    let path = install.join(JOURNAL);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(_) => {
            let _ = fs::remove_file(install.join(COMMITTED));
            return Ok(false);
        }
    };
    let journal: Journal = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Swap(format!("swap journal is corrupt: {e}")))?;
    if install.join(COMMITTED).exists() {
        roll_forward(install)?;
    } else {
        roll_back(install, &journal)?;
    }
    Ok(true)
}

fn roll_forward(install: &Path) -> Result<(), Error> {
    for dir in [OLD_DIR, STAGED_DIR] {
        let dir = install.join(dir);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(Error::io(&dir))?;
            kill_point();
        }
    }
    for file in [JOURNAL, COMMITTED] {
        let file = install.join(file);
        if file.exists() {
            fs::remove_file(&file).map_err(Error::io(&file))?;
            kill_point();
        }
    }
    Ok(())
}

fn roll_back(install: &Path, journal: &Journal) -> Result<(), Error> {
    let staged = install.join(STAGED_DIR);
    let old_dir = install.join(OLD_DIR);
    for name in journal.new.iter().rev() {
        let (live, back) = (install.join(name), staged.join(name));
        if fs::symlink_metadata(&live).is_ok() && fs::symlink_metadata(&back).is_err() {
            rename(&live, &back)?;
        }
    }
    for name in journal.old.iter().rev() {
        let (live, kept) = (install.join(name), old_dir.join(name));
        if fs::symlink_metadata(&kept).is_ok() {
            rename(&kept, &live)?;
        }
    }
    if old_dir.exists() {
        fs::remove_dir(&old_dir).map_err(Error::io(&old_dir))?;
    }
    let path = install.join(JOURNAL);
    fs::remove_file(&path).map_err(Error::io(&path))?;
    kill_point();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_and_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("a"), "old a").unwrap();
        fs::write(d.join("gone"), "old").unwrap();
        fs::create_dir_all(d.join("updates/0")).unwrap();
        fs::create_dir_all(d.join("updated")).unwrap();
        fs::write(d.join("updated/a"), "new a").unwrap();
        fs::write(d.join("updated/b"), "new b").unwrap();
        // An interrupted swap: journal written, one old entry moved, nothing committed.
        let journal = Journal {
            old: vec!["a".into(), "gone".into()],
            new: vec!["a".into(), "b".into()],
        };
        fs::write(d.join(JOURNAL), serde_json::to_vec(&journal).unwrap()).unwrap();
        fs::create_dir(d.join(OLD_DIR)).unwrap();
        fs::rename(d.join("a"), d.join(OLD_DIR).join("a")).unwrap();
        assert!(recover(d).unwrap());
        assert_eq!(fs::read_to_string(d.join("a")).unwrap(), "old a");
        assert!(d.join("gone").exists() && !d.join(OLD_DIR).exists());
        // A failing check rolls the swap back.
        let refuse = |_: &Path| Err(Error::Swap("not the expected build".to_owned()));
        assert!(swap(d, &["updates".to_owned()], &refuse).is_err());
        assert_eq!(fs::read_to_string(d.join("a")).unwrap(), "old a");
        assert_eq!(fs::read_to_string(d.join("updated/b")).unwrap(), "new b");
        assert!(d.join("gone").exists() && !d.join("b").exists());
        swap(d, &["updates".to_owned()], &|_| Ok(())).unwrap();
        assert_eq!(fs::read_to_string(d.join("a")).unwrap(), "new a");
        assert_eq!(fs::read_to_string(d.join("b")).unwrap(), "new b");
        assert!(!d.join("gone").exists() && !d.join("updated").exists());
        assert!(d.join("updates/0").is_dir());
        assert!(!recover(d).unwrap());
    }
}
