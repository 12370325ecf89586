//! [`ApplyError`]: why an update was not applied, with Firefox's numeric error code.

use std::path::PathBuf;

use crate::update::manifest::{ManifestError, ManifestErrorKind};
use crate::update::mbdiff::MbdiffError;
use crate::update::patch::PatchError;

/// Why an update was refused or failed. Whatever the error, the install is left exactly as it
/// was before the call (failed updates are rolled back before the error is returned).
///
/// [`ApplyError::code`] gives the error code Firefox's updater reports for the same failure
/// (`updatererrors.h`), which `mar update apply` uses as its exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The archive's signatures did not verify against the trusted keys (19).
    #[error("signature verification failed")]
    Signature(#[source] crate::Error),
    /// The archive has no product information block (21).
    #[error("archive has no product information block")]
    NoProductInfo,
    /// The archive's channel is not in the install's `ACCEPTED_MAR_CHANNEL_IDS` (22).
    #[error("archive channel {channel:?} is not accepted by the install (accepted: {accepted:?})")]
    ChannelMismatch {
        /// The archive's channel.
        channel: String,
        /// The install's accepted channels.
        accepted: Vec<String>,
    },
    /// The archive's version is older than the installed one (23).
    #[error("archive version {update} is older than the installed {installed}")]
    Downgrade {
        /// The installed version.
        installed: String,
        /// The archive's version.
        update: String,
    },
    /// The manifest or the installed `precomplete` is malformed (5), or empty (1).
    #[error("{what}")]
    Manifest {
        /// Which file.
        what: &'static str,
        /// What is wrong with it.
        #[source]
        source: ManifestError,
    },
    /// The archive lacks an entry the manifest names, or an entry cannot be decoded (40).
    #[error("archive entry {name}")]
    Archive {
        /// The entry.
        name: String,
        /// What went wrong.
        #[source]
        source: crate::Error,
    },
    /// A file to patch is missing (6).
    #[error("file to patch {} is missing", path.display())]
    SourceMissing {
        /// The file.
        path: PathBuf,
    },
    /// A Kiln patch could not be applied; the source checks give 2 (size) and 4 (hash).
    #[error("patching {}", path.display())]
    KilnPatch {
        /// The patched file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: PatchError,
    },
    /// An MBDIFF10 patch could not be applied; the source checks give 2 (size) and 4 (CRC).
    #[error("patching {}", path.display())]
    Mbdiff {
        /// The patched file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: MbdiffError,
    },
    /// A patch entry is neither a Kiln patch nor MBDIFF10 (41).
    #[error("patch entry {name} has an unknown format")]
    UnknownPatchFormat {
        /// The entry.
        name: String,
    },
    /// Reading a file of the install failed (6).
    #[error("reading {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing, renaming or removing a file of the install failed (7).
    #[error("writing {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A path to write or remove is not a regular file, or passes through a symlink (42).
    #[error("refusing to touch {}: {reason}", path.display())]
    UnexpectedFileType {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The staging directory already exists and is not empty (3).
    #[error("staging directory {} is not empty", path.display())]
    StagingNotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// The updated tree is not the build expected of it (22): its `application.ini` says another
    /// version or build ID (see [`ApplyOptions::expect_build`](crate::update::ApplyOptions::expect_build)).
    /// The update was rolled back.
    #[error("the updated install is {found}, not the expected {expected}")]
    UnexpectedBuild {
        /// The version and build ID expected.
        expected: String,
        /// What the updated tree's `application.ini` says.
        found: String,
    },
    /// The directory given is not an install root (42): it is inside a mac bundle.
    #[error(transparent)]
    InstallRoot(#[from] crate::update::layout::InstallRootError),
    /// The journal of an interrupted update is unreadable (42); the install needs a manual check.
    #[error("update journal {} is corrupt: {reason}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl ApplyError {
    /// Firefox's error code for this failure (`updatererrors.h`).
    pub fn code(&self) -> u8 {
        match self {
            ApplyError::Signature(_) => 19,
            ApplyError::NoProductInfo => 21,
            ApplyError::ChannelMismatch { .. } | ApplyError::UnexpectedBuild { .. } => 22,
            ApplyError::Downgrade { .. } => 23,
            ApplyError::Manifest { source, .. } if source.kind == ManifestErrorKind::Empty => 1,
            ApplyError::Manifest { .. } => 5,
            ApplyError::Archive { .. } => 40,
            ApplyError::SourceMissing { .. } | ApplyError::Read { .. } => 6,
            ApplyError::KilnPatch { source, .. } => match source {
                PatchError::SourceSize { .. } => 2,
                PatchError::SourceHash => 4,
                _ => 41,
            },
            ApplyError::Mbdiff { source, .. } => match source {
                MbdiffError::SourceSize { .. } => 2,
                MbdiffError::SourceCrc { .. } => 4,
                _ => 41,
            },
            ApplyError::UnknownPatchFormat { .. } => 41,
            ApplyError::Write { .. } => 7,
            ApplyError::StagingNotEmpty { .. } => 3,
            ApplyError::UnexpectedFileType { .. }
            | ApplyError::InstallRoot(_)
            | ApplyError::Journal { .. } => 42,
        }
    }

    pub(crate) fn read(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ApplyError {
        let path = path.into();
        move |source| ApplyError::Read { path, source }
    }

    pub(crate) fn write(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ApplyError {
        let path = path.into();
        move |source| ApplyError::Write { path, source }
    }
}
