//! `Content-Signature` on update responses: Ed25519 over `expires` (8 bytes big-endian) followed by
//! the exact body, so a client can reject replayed, frozen or tampered answers.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// A signing key that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("cannot load response signing key {path}: {reason}")]
pub struct KeyError {
    path: String,
    reason: String,
}

/// The key id of a public key: the first 8 bytes of SHA-256 of the raw key, in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// The message that is signed: `expires` as 8 big-endian bytes, then the body.
pub fn signed_message(expires: u64, body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(8 + body.len());
    msg.extend_from_slice(&expires.to_be_bytes());
    msg.extend_from_slice(body);
    msg
}

/// Signs response bodies.
#[derive(Debug)]
pub struct ResponseSigner {
    key: SigningKey,
    key_id: String,
    ttl_secs: u64,
}

impl ResponseSigner {
    /// Loads a PKCS#8 PEM Ed25519 private key.
    pub fn load(path: &Path, ttl_secs: u64) -> Result<Self, KeyError> {
        let err = |reason: String| KeyError {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| err(e.to_string()))?;
        Ok(Self::new(key, ttl_secs))
    }

    /// Wraps a key.
    pub fn new(key: SigningKey, ttl_secs: u64) -> Self {
        let key_id = key_id(&key.verifying_key());
        ResponseSigner {
            key,
            key_id,
            ttl_secs,
        }
    }

    /// The `Content-Signature` header value for `body`, expiring `ttl_secs` from now.
    pub fn header(&self, body: &[u8]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let expires = now + self.ttl_secs;
        let signature = self.key.sign(&signed_message(expires, body));
        format!(
            "keyid={}; expires={}; ed25519={}",
            self.key_id,
            expires,
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}
