//! The status files, in meaning like Firefox's: `updates/0/update.status` (the state),
//! `updates/0/update.version` (the version being installed) and `updates/active-update.json`
//! (the update in progress). Every write is atomic (temporary file, fsync, rename).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::crash::kill_point;
use crate::error::Error;
use crate::offer::PatchType;

/// The state of the update in `updates/0/update.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateState {
    /// Being downloaded (resumable).
    Downloading,
    /// Downloaded and verified; applied in place at the next start.
    Pending,
    /// Being applied (staged copy or in place).
    Applying,
    /// Applied to the staged copy; swapped in at the next start.
    Applied,
    /// The install is the new version.
    Succeeded,
    /// The download failed (size, hash, network); a network failure resumes next time.
    DownloadFailed,
    /// Refused or failed with Firefox's error code; the install is unchanged.
    Failed(u8),
}

impl fmt::Display for UpdateState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateState::Downloading => f.write_str("downloading"),
            UpdateState::Pending => f.write_str("pending"),
            UpdateState::Applying => f.write_str("applying"),
            UpdateState::Applied => f.write_str("applied"),
            UpdateState::Succeeded => f.write_str("succeeded"),
            UpdateState::DownloadFailed => f.write_str("download-failed"),
            UpdateState::Failed(code) => write!(f, "failed: {code}"),
        }
    }
}

impl FromStr for UpdateState {
    type Err = ();

    fn from_str(s: &str) -> Result<UpdateState, ()> {
        Ok(match s.trim() {
            "downloading" => UpdateState::Downloading,
            "pending" => UpdateState::Pending,
            "applying" => UpdateState::Applying,
            "applied" => UpdateState::Applied,
            "succeeded" => UpdateState::Succeeded,
            "download-failed" => UpdateState::DownloadFailed,
            other => UpdateState::Failed(
                other
                    .strip_prefix("failed: ")
                    .and_then(|c| c.parse().ok())
                    .ok_or(())?,
            ),
        })
    }
}

/// The update in progress (`active-update.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveUpdate {
    /// The version before the update.
    pub from_version: String,
    /// The build ID before the update.
    pub from_build_id: String,
    /// The new version.
    pub app_version: String,
    /// The version to show.
    pub display_version: String,
    /// The new build ID.
    pub build_id: String,
    /// The selected patch.
    pub patch_type: PatchType,
    /// The selected patch's URL.
    pub url: String,
    /// The selected patch's SHA-512.
    pub sha512: String,
    /// The selected patch's size.
    pub size: u64,
    /// `promptWaitTime`, if given.
    pub prompt_wait_time: Option<u64>,
    /// `showPrompt`.
    pub show_prompt: bool,
    /// When the download completed (Unix seconds).
    pub downloaded_at: Option<u64>,
    /// The state, as in `update.status`.
    pub state: String,
    /// The error code of a failure.
    pub error_code: Option<u8>,
    /// Whether a partial of this update already failed (the next attempt takes the complete).
    pub partial_failed: bool,
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file = std::fs::File::create(&tmp).map_err(Error::io(&tmp))?;
    file.write_all(bytes).map_err(Error::io(&tmp))?;
    file.sync_all().map_err(Error::io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(Error::io(path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    kill_point();
    Ok(())
}

/// The update root's files.
#[derive(Clone, Debug)]
pub struct StatusFiles {
    root: PathBuf,
}

impl StatusFiles {
    /// The status files under `update_root`.
    pub fn new(update_root: &Path) -> StatusFiles {
        StatusFiles {
            root: update_root.to_owned(),
        }
    }

    /// `updates/0/`.
    pub fn slot(&self) -> PathBuf {
        self.root.join("0")
    }

    /// `updates/0/update.mar`.
    pub fn mar(&self) -> PathBuf {
        self.slot().join("update.mar")
    }

    /// `updates/downloading/`.
    pub fn downloading(&self) -> PathBuf {
        self.root.join("downloading")
    }

    fn status_path(&self) -> PathBuf {
        self.slot().join("update.status")
    }

    fn active_path(&self) -> PathBuf {
        self.root.join("active-update.json")
    }

    /// The current state, if any (an unreadable file reads as none).
    pub fn state(&self) -> Option<UpdateState> {
        std::fs::read_to_string(self.status_path())
            .ok()
            .and_then(|s| s.parse().ok())
    }

    /// Writes `update.status` and the state in `active-update.json`.
    pub fn set_state(&self, state: UpdateState) -> Result<(), Error> {
        write_atomic(&self.status_path(), format!("{state}\n").as_bytes())?;
        if let Some(mut active) = self.active() {
            active.state = state.to_string();
            active.error_code = match state {
                UpdateState::Failed(code) => Some(code),
                _ => None,
            };
            self.set_active(&active)?;
        }
        Ok(())
    }

    /// `update.version`.
    pub fn version(&self) -> Option<String> {
        std::fs::read_to_string(self.slot().join("update.version"))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// Writes `update.version`.
    pub fn set_version(&self, version: &str) -> Result<(), Error> {
        write_atomic(
            &self.slot().join("update.version"),
            format!("{version}\n").as_bytes(),
        )
    }

    /// `active-update.json`, if present and readable.
    pub fn active(&self) -> Option<ActiveUpdate> {
        let bytes = std::fs::read(self.active_path()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes `active-update.json`.
    pub fn set_active(&self, active: &ActiveUpdate) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(active).expect("serializable");
        write_atomic(&self.active_path(), &json)
    }

    /// The latest response signature expiry accepted (replay protection).
    pub fn seen_expiry(&self) -> Option<u64> {
        std::fs::read_to_string(self.root.join("response-expiry"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Records an accepted response signature expiry (keeps the maximum).
    pub fn record_expiry(&self, expires: u64) -> Result<(), Error> {
        if self.seen_expiry().is_some_and(|seen| seen >= expires) {
            return Ok(());
        }
        write_atomic(
            &self.root.join("response-expiry"),
            format!("{expires}\n").as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for state in [
            UpdateState::Downloading,
            UpdateState::Pending,
            UpdateState::Applying,
            UpdateState::Applied,
            UpdateState::Succeeded,
            UpdateState::DownloadFailed,
            UpdateState::Failed(22),
        ] {
            assert_eq!(state.to_string().parse::<UpdateState>(), Ok(state));
        }
        assert_eq!(
            "failed: 4\n".parse::<UpdateState>(),
            Ok(UpdateState::Failed(4))
        );
        assert!("failed: x".parse::<UpdateState>().is_err());
        assert!("bogus".parse::<UpdateState>().is_err());
    }
}
