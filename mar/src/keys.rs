//! Signing and verification keys: Kiln's Ed25519 keys and Mozilla's RSA keys, loaded from PEM/DER.
//!
//! Ed25519 private keys are PKCS#8 PEM and public keys SPKI PEM (what `mar keygen` and
//! `kiln keys generate` write). RSA keys are read the way Mozilla's tools hand them out: private keys
//! as PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 PEM/DER, public keys as SPKI or PKCS#1 PEM/DER.
//! Every key has a [`KeyId`]: the first 8 bytes (hex) of SHA-256 of the raw Ed25519 public key, or of
//! the DER SubjectPublicKeyInfo for RSA.

use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

/// Why a key could not be loaded, generated or encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The bytes are neither an Ed25519 nor an RSA key in a supported encoding.
    #[error("{what} is not a supported Ed25519 or RSA {kind} key (PEM or DER)")]
    Unrecognized {
        /// Where the key came from (a path, or "key data").
        what: String,
        /// "private" or "public".
        kind: &'static str,
    },
    /// The key could not be encoded (should not happen for keys this crate generated).
    #[error("cannot encode key: {0}")]
    Encode(String),
}

/// A short, stable identifier of a public key: 16 lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct KeyId(String);

impl KeyId {
    fn of_bytes(bytes: &[u8]) -> KeyId {
        KeyId(hex::encode(&Sha256::digest(bytes)[..8]))
    }

    /// The id as 16 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })
}

/// A private key that can sign MARs (and, for Ed25519, any other artifact).
#[derive(Clone)]
pub enum SigningKey {
    /// Kiln's Ed25519 key (signs with algorithm `ED25`, Ed25519ph).
    Ed25519(Box<ed25519_dalek::SigningKey>),
    /// A Mozilla-style RSA key (signs with algorithm 2, RSA PKCS#1 v1.5 SHA-384).
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secret material.
        let kind = match self {
            SigningKey::Ed25519(_) => "Ed25519",
            SigningKey::Rsa(_) => "Rsa",
        };
        write!(f, "SigningKey::{kind}({})", self.public_key().key_id())
    }
}

impl SigningKey {
    /// Generates a new Ed25519 key from the operating system's random source.
    pub fn generate_ed25519() -> SigningKey {
        SigningKey::Ed25519(Box::new(ed25519_dalek::SigningKey::generate(
            &mut rand_core::OsRng,
        )))
    }

    /// Reads a private key file (PEM or DER, Ed25519 or RSA).
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        SigningKey::from_bytes(&read_key_file(path)?, &path.display().to_string())
    }

    /// Parses a private key from PEM or DER bytes; `what` names the source in errors.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<SigningKey, KeyError> {
        let unrecognized = || KeyError::Unrecognized {
            what: what.to_owned(),
            kind: "private",
        };
        if let Ok(pem) = std::str::from_utf8(bytes) {
            if pem.contains("-----BEGIN") {
                if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
                    return Ok(SigningKey::Ed25519(Box::new(key)));
                }
                if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
                    return Ok(SigningKey::Rsa(Box::new(key)));
                }
                if let Ok(key) = rsa::RsaPrivateKey::from_pkcs1_pem(pem) {
                    return Ok(SigningKey::Rsa(Box::new(key)));
                }
                return Err(unrecognized());
            }
        }
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_der(bytes) {
            return Ok(SigningKey::Ed25519(Box::new(key)));
        }
        if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_der(bytes) {
            return Ok(SigningKey::Rsa(Box::new(key)));
        }
        if let Ok(key) = rsa::RsaPrivateKey::from_pkcs1_der(bytes) {
            return Ok(SigningKey::Rsa(Box::new(key)));
        }
        Err(unrecognized())
    }

    /// Encodes the key as PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        let pem = match self {
            SigningKey::Ed25519(key) => key.to_pkcs8_pem(Default::default()),
            SigningKey::Rsa(key) => key.to_pkcs8_pem(Default::default()),
        }
        .map_err(|e| KeyError::Encode(e.to_string()))?;
        Ok(pem.to_string())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::Ed25519(key) => PublicKey::Ed25519(key.verifying_key()),
            SigningKey::Rsa(key) => PublicKey::Rsa(Box::new(key.to_public_key())),
        }
    }

    /// The Ed25519 key inside, for signing artifacts other than MARs.
    pub fn as_ed25519(&self) -> Option<&ed25519_dalek::SigningKey> {
        match self {
            SigningKey::Ed25519(key) => Some(key),
            SigningKey::Rsa(_) => None,
        }
    }
}

/// A public key that can verify MAR signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// Kiln's Ed25519 key (verifies algorithm `ED25`).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// A Mozilla-style RSA key (verifies algorithms 1 and 2).
    Rsa(Box<rsa::RsaPublicKey>),
}

impl PublicKey {
    /// Reads a public key file (PEM or DER; SPKI for both kinds, PKCS#1 also for RSA).
    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        PublicKey::from_bytes(&read_key_file(path)?, &path.display().to_string())
    }

    /// Parses a public key from PEM or DER bytes; `what` names the source in errors.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<PublicKey, KeyError> {
        let unrecognized = || KeyError::Unrecognized {
            what: what.to_owned(),
            kind: "public",
        };
        if let Ok(pem) = std::str::from_utf8(bytes) {
            if pem.contains("-----BEGIN") {
                if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
                    return Ok(PublicKey::Ed25519(key));
                }
                if let Ok(key) = rsa::RsaPublicKey::from_public_key_pem(pem) {
                    return Ok(PublicKey::Rsa(Box::new(key)));
                }
                if let Ok(key) = rsa::RsaPublicKey::from_pkcs1_pem(pem) {
                    return Ok(PublicKey::Rsa(Box::new(key)));
                }
                return Err(unrecognized());
            }
        }
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_der(bytes) {
            return Ok(PublicKey::Ed25519(key));
        }
        if let Ok(key) = rsa::RsaPublicKey::from_public_key_der(bytes) {
            return Ok(PublicKey::Rsa(Box::new(key)));
        }
        if let Ok(key) = rsa::RsaPublicKey::from_pkcs1_der(bytes) {
            return Ok(PublicKey::Rsa(Box::new(key)));
        }
        Err(unrecognized())
    }

    /// Encodes the key as SPKI PEM.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        match self {
            PublicKey::Ed25519(key) => key.to_public_key_pem(Default::default()),
            PublicKey::Rsa(key) => key.to_public_key_pem(Default::default()),
        }
        .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// The key's stable identifier.
    pub fn key_id(&self) -> KeyId {
        match self {
            PublicKey::Ed25519(key) => KeyId::of_bytes(key.as_bytes()),
            PublicKey::Rsa(key) => match key.to_public_key_der() {
                Ok(der) => KeyId::of_bytes(der.as_bytes()),
                // Encoding a valid RSA public key cannot fail; fall back to the modulus.
                Err(_) => KeyId::of_bytes(&key.n().to_bytes_be()),
            },
        }
    }

    /// The Ed25519 key inside, for verifying artifacts other than MARs.
    pub fn as_ed25519(&self) -> Option<&ed25519_dalek::VerifyingKey> {
        match self {
            PublicKey::Ed25519(key) => Some(key),
            PublicKey::Rsa(_) => None,
        }
    }
}

/// Writes a new secret file (a private key) readable and writable by its owner only (0600 on
/// Unix, set at creation so no other user can ever open it). An existing file is never
/// overwritten: the error is [`std::io::ErrorKind::AlreadyExists`].
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/data/mar/keys");

    #[test]
    fn ed25519_pem_round_trip_keeps_key_id() {
        let key = SigningKey::generate_ed25519();
        let pem = key.to_pkcs8_pem().unwrap();
        let again = SigningKey::from_bytes(pem.as_bytes(), "test").unwrap();
        assert_eq!(key.public_key().key_id(), again.public_key().key_id());
        let public =
            PublicKey::from_bytes(key.public_key().to_pem().unwrap().as_bytes(), "pub").unwrap();
        assert_eq!(public, key.public_key());
        assert_eq!(public.key_id().as_str().len(), 16);
    }

    #[test]
    fn mozilla_rsa_fixture_keys_load_in_every_encoding() {
        let dir = Path::new(FIXTURE_KEYS);
        let pkcs1 = SigningKey::load(&dir.join("rsa4096-private.pem")).unwrap();
        let pkcs8 = SigningKey::load(&dir.join("rsa4096-private.pk8.der")).unwrap();
        let spki_pem = PublicKey::load(&dir.join("rsa4096-public.pem")).unwrap();
        let spki_der = PublicKey::load(&dir.join("rsa4096-public.der")).unwrap();
        assert_eq!(pkcs1.public_key(), spki_pem);
        assert_eq!(pkcs8.public_key(), spki_der);
        assert_eq!(spki_pem.key_id(), spki_der.key_id());
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert!(matches!(
            SigningKey::from_bytes(b"-----BEGIN NONSENSE-----\n", "x"),
            Err(KeyError::Unrecognized {
                kind: "private",
                ..
            })
        ));
        assert!(matches!(
            PublicKey::from_bytes(&[0u8; 40], "x"),
            Err(KeyError::Unrecognized { kind: "public", .. })
        ));
    }
}
