//! Release signing: Ed25519 detached signatures beside every archive ([`ed25519`]) and OpenPGP
//! certificates and detached armored signatures for the checksum files ([`openpgp`]), and
//! Authenticode on Windows PE files ([`authenticode`] over [`pe`], certificates from
//! [`code_signing_ca`], optionally timestamped by an RFC 3161 authority through [`timestamp`];
//! applied to Windows builds by [`windows`]); a release's whole key set by [`release_keys`].

pub mod authenticode;
pub mod code_signing_ca;
pub mod ed25519;
pub mod openpgp;
pub mod pe;
pub mod release_keys;
pub mod timestamp;
pub mod windows;

use std::path::PathBuf;

/// Why a signing or verification step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An Ed25519 key could not be loaded or encoded.
    #[error(transparent)]
    Key(#[from] mar::keys::KeyError),
    /// The key file holds a key of another kind (e.g. RSA) where Ed25519 is required.
    #[error("{path} is not an Ed25519 key")]
    NotEd25519 {
        /// The key file.
        path: PathBuf,
    },
    /// An OpenPGP operation failed (parsing, generating, signing, verifying).
    #[error("OpenPGP: {what}: {message}")]
    OpenPgp {
        /// What was being done.
        what: String,
        /// Sequoia's explanation.
        message: String,
    },
}

impl SigningError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> SigningError + '_ {
        move |source| SigningError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
