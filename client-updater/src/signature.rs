//! `Content-Signature` on update responses (`docs/update-protocol.md` Part A):
//! `keyid=<id>; expires=<unix seconds>; ed25519=<base64url>`, an Ed25519 signature over `expires`
//! as 8 big-endian bytes followed by the exact body. A response is accepted only when a pinned
//! key verifies it and it has not expired.

use std::time::SystemTime;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::clock::unix_secs;
use crate::limits::Limits;

/// Why a response's signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// The response has no `Content-Signature` header.
    #[error("response has no Content-Signature")]
    Missing,
    /// The header is not `keyid=…; expires=…; ed25519=…`.
    #[error("malformed Content-Signature: {0}")]
    Malformed(&'static str),
    /// No pinned key has this key id.
    #[error("response signed by unknown key {0}")]
    UnknownKey(String),
    /// The signature does not verify (tampered body, wrong expiry, wrong key).
    #[error("response signature does not verify")]
    Invalid,
    /// The signature has expired: a frozen or replayed response (freeze attack).
    #[error("freeze attack: response signature expired at {expires} (now {now})")]
    Expired {
        /// The signature's expiry.
        expires: u64,
        /// The client's time.
        now: u64,
    },
    /// The signature expires further ahead than allowed (clock skew or forged lifetime).
    #[error("response signature expires at {expires}, beyond the allowed lifetime (now {now})")]
    TooFarAhead {
        /// The signature's expiry.
        expires: u64,
        /// The client's time.
        now: u64,
    },
    /// The response is older than one already accepted (a replay).
    #[error("replayed response: expires at {expires}, older than the accepted {seen}")]
    Replayed {
        /// This response's expiry.
        expires: u64,
        /// The latest expiry accepted before.
        seen: u64,
    },
}

/// A pinned response-signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseKey {
    key: VerifyingKey,
    id: String,
}

impl ResponseKey {
    /// Wraps an Ed25519 public key.
    pub fn new(key: VerifyingKey) -> ResponseKey {
        let id = hex::encode(&Sha256::digest(key.as_bytes())[..8]);
        ResponseKey { key, id }
    }

    /// Parses a PEM (SPKI) or DER Ed25519 public key.
    pub fn from_pem(text: &[u8]) -> Result<ResponseKey, crate::Error> {
        let key = mar::keys::PublicKey::from_bytes(text, "response key")
            .map_err(|e| crate::Error::Config(e.to_string()))?;
        key.as_ed25519()
            .map(|k| ResponseKey::new(*k))
            .ok_or_else(|| crate::Error::Config("a response key must be Ed25519".to_owned()))
    }

    /// The key id the server sends: hex of the first 8 bytes of SHA-256 of the raw key.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A parsed `Content-Signature` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentSignature {
    /// The signing key's id.
    pub key_id: String,
    /// Expiry, Unix seconds.
    pub expires: u64,
    /// The Ed25519 signature.
    pub signature: [u8; 64],
}

impl ContentSignature {
    /// Parses the header value; every field is required, once.
    pub fn parse(value: &str) -> Result<ContentSignature, SignatureError> {
        let (mut key_id, mut expires, mut signature) = (None, None, None);
        for part in value.split(';') {
            let (name, v) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed("a field has no '='"))?;
            let slot = match name.trim() {
                "keyid" => &mut key_id,
                "expires" => &mut expires,
                "ed25519" => &mut signature,
                _ => continue,
            };
            if slot.replace(v.trim()).is_some() {
                return Err(SignatureError::Malformed("a field is repeated"));
            }
        }
        let key_id = key_id.ok_or(SignatureError::Malformed("no keyid"))?;
        let expires = expires
            .ok_or(SignatureError::Malformed("no expires"))?
            .parse::<u64>()
            .map_err(|_| SignatureError::Malformed("expires is not a number"))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(signature.ok_or(SignatureError::Malformed("no ed25519"))?)
            .map_err(|_| SignatureError::Malformed("ed25519 is not base64url"))?;
        let signature: [u8; 64] = bytes
            .try_into()
            .map_err(|_| SignatureError::Malformed("ed25519 is not 64 bytes"))?;
        Ok(ContentSignature {
            key_id: key_id.to_owned(),
            expires,
            signature,
        })
    }

    /// Verifies against the pinned keys and the time; `seen` is the latest expiry accepted
    /// before (replay protection).
    pub fn verify(
        &self,
        body: &[u8],
        keys: &[ResponseKey],
        now: SystemTime,
        seen: Option<u64>,
        limits: &Limits,
    ) -> Result<(), SignatureError> {
        let key = keys
            .iter()
            .find(|k| k.id == self.key_id)
            .ok_or_else(|| SignatureError::UnknownKey(self.key_id.clone()))?;
        let mut message = Vec::with_capacity(8 + body.len());
        message.extend_from_slice(&self.expires.to_be_bytes());
        message.extend_from_slice(body);
        key.key
            .verify_strict(&message, &Signature::from_bytes(&self.signature))
            .map_err(|_| SignatureError::Invalid)?;
        let now = unix_secs(now);
        if self.expires <= now {
            return Err(SignatureError::Expired {
                expires: self.expires,
                now,
            });
        }
        if self.expires > now.saturating_add(limits.max_signature_lifetime.as_secs()) {
            return Err(SignatureError::TooFarAhead {
                expires: self.expires,
                now,
            });
        }
        if let Some(seen) = seen {
            if self
                .expires
                .saturating_add(limits.replay_tolerance.as_secs())
                < seen
            {
                return Err(SignatureError::Replayed {
                    expires: self.expires,
                    seen,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use std::time::Duration;

    fn sign(key: &SigningKey, expires: u64, body: &[u8]) -> String {
        let mut m = expires.to_be_bytes().to_vec();
        m.extend_from_slice(body);
        format!(
            "keyid={}; expires={expires}; ed25519={}",
            ResponseKey::new(key.verifying_key()).id(),
            URL_SAFE_NO_PAD.encode(key.sign(&m).to_bytes())
        )
    }

    #[test]
    fn verifies_and_refuses() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let keys = [ResponseKey::new(key.verifying_key())];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let limits = Limits::default();
        let ok = ContentSignature::parse(&sign(&key, 1_000_100, b"body")).unwrap();
        ok.verify(b"body", &keys, now, None, &limits).unwrap();
        assert_eq!(
            ok.verify(b"bodY", &keys, now, None, &limits),
            Err(SignatureError::Invalid)
        );
        let unknown = ContentSignature::parse(&sign(&other, 1_000_100, b"body")).unwrap();
        assert!(matches!(
            unknown.verify(b"body", &keys, now, None, &limits),
            Err(SignatureError::UnknownKey(_))
        ));
        let expired = ContentSignature::parse(&sign(&key, 999_999, b"body")).unwrap();
        assert!(matches!(
            expired.verify(b"body", &keys, now, None, &limits),
            Err(SignatureError::Expired { .. })
        ));
        let far = ContentSignature::parse(&sign(&key, 1_000_000 + 30 * 86400, b"body")).unwrap();
        assert!(matches!(
            far.verify(b"body", &keys, now, None, &limits),
            Err(SignatureError::TooFarAhead { .. })
        ));
        assert!(matches!(
            ok.verify(b"body", &keys, now, Some(1_100_000), &limits),
            Err(SignatureError::Replayed { .. })
        ));
        for bad in [
            "",
            "keyid=a; expires=x; ed25519=AA",
            "keyid=a; keyid=b; expires=1; ed25519=AA",
            "keyid=a; expires=1; ed25519=AA",
        ] {
            assert!(
                matches!(
                    ContentSignature::parse(bad),
                    Err(SignatureError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }
}
