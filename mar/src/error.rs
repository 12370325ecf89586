//! The crate's error type: what went wrong and where (offset, entry, path).

use std::path::PathBuf;

use crate::entry_path::EntryPathError;
use crate::keys::KeyError;
use crate::product_info::ProductInfoError;

/// Everything that can go wrong reading, writing, signing, verifying or extracting a MAR.
///
/// Variants about archive structure carry the byte offset or entry name involved; messages are
/// lowercase fragments meant to follow "cannot read archive: ".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on the archive itself.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An I/O error on a file or directory outside the archive.
    #[error("cannot access {path}")]
    File {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file does not start with `MAR1`.
    #[error("not a MAR archive (bad magic)")]
    BadMagic,
    /// The archive ends before a structure it declares.
    #[error("truncated: {what} at offset {offset} needs {needed} bytes, the file has {file_len}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// How many bytes it needs.
        needed: u64,
        /// The file's real length.
        file_len: u64,
    },
    /// A declared size or count exceeds a [`Limits`](crate::Limits) bound.
    #[error("{what} is {value}, the limit is {limit}")]
    LimitExceeded {
        /// What was too large.
        what: &'static str,
        /// Its declared value.
        value: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The header's `file_size` differs from the real length.
    #[error("file_size field says {declared} bytes, the file has {actual}")]
    FileSizeMismatch {
        /// The field's value.
        declared: u64,
        /// The real length.
        actual: u64,
    },
    /// The index does not end where the file ends.
    #[error("index ends at {index_end}, the file at {file_len}")]
    IndexNotAtEnd {
        /// End of the index.
        index_end: u64,
        /// The real length.
        file_len: u64,
    },
    /// An index entry is malformed.
    #[error("index entry at offset {offset}: {reason}")]
    BadIndexEntry {
        /// Where the entry starts.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// An entry's name is unsafe.
    #[error("entry name {name:?} {reason}")]
    BadEntryName {
        /// The name, lossily decoded.
        name: String,
        /// Why it is unsafe.
        reason: EntryPathError,
    },
    /// Two entries have the same name.
    #[error("duplicate entry {name}")]
    DuplicateEntry {
        /// The name.
        name: String,
    },
    /// An entry's bytes lie outside the content region.
    #[error("entry {name} at offset {offset} with {size} bytes lies outside the content region {start}..{end}")]
    EntryOutOfBounds {
        /// The entry.
        name: String,
        /// Its stored offset.
        offset: u64,
        /// Its stored size.
        size: u64,
        /// Start of the content region.
        start: u64,
        /// End of the content region (the index offset).
        end: u64,
    },
    /// Two entries' bytes overlap.
    #[error("entries {first} and {second} overlap")]
    OverlappingEntries {
        /// One entry.
        first: String,
        /// The other.
        second: String,
    },
    /// An additional block is malformed.
    #[error("additional block at offset {offset}: {reason}")]
    BadAdditionalBlock {
        /// Where the block starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The product information block is invalid.
    #[error(transparent)]
    ProductInfo(#[from] ProductInfoError),
    /// No entry has the requested name.
    #[error("no entry named {name}")]
    NoSuchEntry {
        /// The name asked for.
        name: String,
    },
    /// An entry's stored bytes could not be decoded.
    #[error("cannot decode entry {name}")]
    Decode {
        /// The entry.
        name: String,
        /// What the decoder said.
        source: std::io::Error,
    },
    /// A key could not be loaded or used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Signing failed inside the crypto library.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The archive already carries signatures; adding one would invalidate them.
    #[error("archive already has {count} signature(s); signatures cover each other's headers, so sign with every key at once from the unsigned archive")]
    AlreadySigned {
        /// How many signatures it has.
        count: usize,
    },
    /// Signature verification did not reach the threshold.
    #[error("verification failed: {verified} of the required {threshold} trusted key(s) verified{}", describe_unverified(.problems))]
    VerificationFailed {
        /// How many distinct trusted keys verified.
        verified: usize,
        /// How many were required.
        threshold: usize,
        /// One line per signature that did not verify.
        problems: Vec<String>,
    },
    /// Something the writer was asked to produce would break Mozilla's reader or the format.
    #[error("cannot write archive: {0}")]
    Unwritable(String),
    /// Extraction refused to write a path (it exists as a directory, a symlink, ...).
    #[error("refusing to extract {name} to {path}: {reason}")]
    UnsafeDestination {
        /// The entry.
        name: String,
        /// The destination path.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
}

fn describe_unverified(problems: &[String]) -> String {
    if problems.is_empty() {
        String::new()
    } else {
        format!(" ({})", problems.join("; "))
    }
}

impl Error {
    pub(crate) fn file(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::File { path, source }
    }

    /// True when the archive was well-formed but its signatures did not verify (exit code 1 in
    /// the CLI, as opposed to 2 for malformed input).
    pub fn is_verification_failure(&self) -> bool {
        matches!(self, Error::VerificationFailed { .. })
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
