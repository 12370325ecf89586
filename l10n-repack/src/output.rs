//! Atomic output files and the journal that makes reruns resumable.
//!
//! Every output is written to a hidden temp file in its destination directory and renamed into
//! place, so a crash or error never leaves a partial file under its real name; the temp file is
//! deleted when dropped. After an archive (and its `.sig`) is in place, a journal record
//! `<journal>/<job>.state` (the caller's [`crate::RepackOptions::journal`], scratch space kept
//! outside the published output) stores the job's input fingerprint and the archive's SHA-256.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::RepackError;

/// Where earlier versions kept the journal: `<out>/.kiln-repack/`, inside the output directory,
/// which published it. Such a directory is a stale leftover now; callers may remove it.
pub const JOURNAL_DIR: &str = ".kiln-repack";

/// Writes `bytes` to `path` atomically (temp file in the same directory, then rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RepackError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(RepackError::io(parent))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(parent)
        .map_err(RepackError::io(parent))?;
    // Outputs are published: world-readable, not the temp file's private 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(RepackError::io(path))?;
    }
    temp.write_all(bytes)
        .map_err(RepackError::io(temp.path()))?;
    temp.as_file().sync_data().map_err(RepackError::io(path))?;
    temp.persist(path).map_err(|e| RepackError::Io {
        path: path.to_owned(),
        source: e.error,
    })?;
    Ok(())
}

/// The journal file of a job in the journal directory `journal`.
pub(crate) fn journal_path(journal: &Path, job_id: &str) -> PathBuf {
    journal.join(format!("{}.state", job_id.replace('/', "+")))
}

/// The journal record text.
pub(crate) fn record(fingerprint: &[u8; 32], output: &[u8]) -> String {
    format!(
        "fingerprint {}\nsha256 {}\n",
        hex::encode(fingerprint),
        hex::encode(Sha256::digest(output))
    )
}
