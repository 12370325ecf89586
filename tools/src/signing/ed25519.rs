//! Ed25519 detached signatures: `<file>.sig` holds the 64-byte Ed25519 signature (RFC 8032,
//! pure Ed25519, no prehash) of the file's bytes. Keys are the `mar` crate's: PKCS#8 PEM private
//! keys and SPKI PEM public keys, identified by [`mar::keys::KeyId`].

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, Verifier};
use l10n_repack::ArtifactSigner;

use super::SigningError;

/// The signature file of `path`: the same name with `.sig` appended.
pub fn sig_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// An Ed25519 private key that signs artifacts.
#[derive(Debug)]
pub struct ArtifactKey {
    key: mar::keys::SigningKey,
    ed25519: ed25519_dalek::SigningKey,
}

impl ArtifactKey {
    fn from_mar(key: mar::keys::SigningKey, path: &Path) -> Result<ArtifactKey, SigningError> {
        let ed25519 = key
            .as_ed25519()
            .cloned()
            .ok_or_else(|| SigningError::NotEd25519 {
                path: path.to_owned(),
            })?;
        Ok(ArtifactKey { key, ed25519 })
    }

    /// Loads a PKCS#8 PEM (or DER) Ed25519 private key.
    pub fn load(path: &Path) -> Result<ArtifactKey, SigningError> {
        ArtifactKey::from_mar(mar::keys::SigningKey::load(path)?, path)
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> Result<ArtifactKey, SigningError> {
        ArtifactKey::from_mar(
            mar::keys::SigningKey::generate_ed25519(),
            Path::new("<generated key>"),
        )
    }

    /// The private key as PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<String, SigningError> {
        Ok(self.key.to_pkcs8_pem()?)
    }

    /// The public key (SPKI PEM via [`mar::keys::PublicKey::to_pem`], id via `key_id`).
    pub fn public_key(&self) -> mar::keys::PublicKey {
        self.key.public_key()
    }
}

impl ArtifactSigner for ArtifactKey {
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.ed25519.sign(data).to_bytes().to_vec()
    }

    fn verify(&self, data: &[u8], signature: &[u8]) -> bool {
        verify_with(&self.ed25519.verifying_key(), data, signature)
    }
}

fn verify_with(key: &ed25519_dalek::VerifyingKey, data: &[u8], signature: &[u8]) -> bool {
    match ed25519_dalek::Signature::from_slice(signature) {
        Ok(signature) => key.verify(data, &signature).is_ok(),
        Err(_) => false,
    }
}

/// An Ed25519 public key that verifies `.sig` files.
#[derive(Debug)]
pub struct ArtifactVerifier {
    key: ed25519_dalek::VerifyingKey,
    id: mar::keys::KeyId,
}

impl ArtifactVerifier {
    /// Loads an SPKI PEM (or DER) Ed25519 public key.
    pub fn load(path: &Path) -> Result<ArtifactVerifier, SigningError> {
        let public = mar::keys::PublicKey::load(path)?;
        let key = *public
            .as_ed25519()
            .ok_or_else(|| SigningError::NotEd25519 {
                path: path.to_owned(),
            })?;
        Ok(ArtifactVerifier {
            key,
            id: public.key_id(),
        })
    }

    /// The key id, as the `mar` crate computes it.
    pub fn key_id(&self) -> &mar::keys::KeyId {
        &self.id
    }

    /// Whether `path.sig` is a valid signature of `path`.
    pub fn verify_file(&self, path: &Path) -> Result<bool, SigningError> {
        let data = std::fs::read(path).map_err(SigningError::io(path))?;
        let sig = sig_path(path);
        let signature = std::fs::read(&sig).map_err(SigningError::io(&sig))?;
        Ok(verify_with(&self.key, &data, &signature))
    }
}
