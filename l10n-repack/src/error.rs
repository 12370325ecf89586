//! The error type of the repack engine.

use std::path::PathBuf;

/// Why a repack (or loading its inputs) failed. Every variant names the file (and line, for
/// text configs) or archive entry at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepackError {
    /// Reading or writing a file failed.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line of `repack.cfg` or `shipped-locales` is malformed.
    #[error("{path}:{line}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// A shipped locale has no source directory.
    #[error("{path}:{line}: locale {locale} has no sources at {expected}")]
    MissingLocale {
        /// The `shipped-locales` file naming the locale.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The locale.
        locale: String,
        /// Where its sources were expected.
        expected: PathBuf,
    },
    /// An en-US build the repack needs is missing.
    #[error("missing en-US build {path}")]
    MissingBuild {
        /// The expected archive.
        path: PathBuf,
    },
    /// A command-line style value (locale, platform, chunk, version) is malformed.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidValue {
        /// What kind of value.
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// An archive cannot be decoded (truncated, corrupt, wrong format).
    #[error("corrupt archive {path}: {message}")]
    CorruptArchive {
        /// The archive.
        path: PathBuf,
        /// The decoder's complaint.
        message: String,
    },
    /// An archive entry is hostile: a path with `..`, an absolute path, a symlink pointing
    /// outside the tree, a duplicate, or an unsupported entry type.
    #[error("hostile entry {entry:?} in {path}: {reason}")]
    HostileEntry {
        /// The archive (or source directory).
        path: PathBuf,
        /// The raw entry name.
        entry: String,
        /// What makes it hostile.
        reason: &'static str,
    },
    /// An archive exceeds a [`Limits`](crate::Limits) bound.
    #[error("archive {path} exceeds the {what} limit of {limit}")]
    LimitExceeded {
        /// The archive.
        path: PathBuf,
        /// Which limit.
        what: &'static str,
        /// The bound.
        limit: u64,
    },
    /// The archive is not laid out like a product build (app dir missing or extra top-level
    /// entries).
    #[error("unexpected layout in {path}: {message}")]
    UnexpectedLayout {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A locale source file is not a localized resource, so a repack may not replace it.
    #[error("{path} is not a localized resource ({reason})")]
    NotLocalized {
        /// The source file.
        path: PathBuf,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The caller's [`crate::BuildFileSigner`] refused a file.
    #[error("cannot sign {entry} in {path}: {message}")]
    Signing {
        /// The build archive.
        path: PathBuf,
        /// The file inside it.
        entry: String,
        /// The signer's explanation.
        message: String,
    },
    /// Writing a zip (an output archive or `omni.ja`) failed.
    #[error("cannot write zip {what}: {source}")]
    Zip {
        /// Which archive.
        what: String,
        /// The underlying error.
        source: zip::result::ZipError,
    },
}

impl RepackError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> RepackError + '_ {
        move |source| RepackError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
