//! OpenPGP release certificates and detached armored signatures, with sequoia-openpgp.
//!
//! A release certificate is a v4 (RFC 4880) Cv25519 certificate: a certification-only primary
//! key and a signing subkey. v4 because stock GnuPG 2.2 (Debian 12) rejects v6 keys. Signatures
//! are made by the newest signing subkey; [`rotate_signing_subkey`] adds a newer one and leaves
//! the old ones valid, so signatures made before a rotation still verify against the rotated
//! certificate (as Mozilla's signing-subkey rotation keeps old releases verifiable).

use std::io::Write;
use std::time::{Duration, SystemTime};

use sequoia_openpgp as pgp;

use pgp::cert::prelude::*;
use pgp::parse::stream::{
    DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationHelper,
};
use pgp::parse::Parse;
use pgp::policy::StandardPolicy;
use pgp::serialize::stream::{Armorer, Message, Signer};
use pgp::serialize::SerializeInto;
use pgp::types::KeyFlags;

use super::SigningError;

/// The user id of certificates made by [`generate`].
pub const DEFAULT_USER_ID: &str = "Kiln Release Signing <release@kiln.invalid>";

fn pgp_err(what: &str) -> impl FnOnce(anyhow::Error) -> SigningError + '_ {
    move |e| SigningError::OpenPgp {
        what: what.to_owned(),
        message: format!("{e:#}"),
    }
}

/// A release certificate (with or without secret key material).
#[derive(Clone, Debug)]
pub struct ReleaseCert {
    cert: Cert,
}

impl ReleaseCert {
    /// Parses an armored or binary certificate (public, or secret as written by
    /// [`ReleaseCert::to_armored_secret`]).
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<ReleaseCert, SigningError> {
        let cert = Cert::from_bytes(bytes).map_err(pgp_err(what))?;
        Ok(ReleaseCert { cert })
    }

    /// Reads a certificate file.
    pub fn load(path: &std::path::Path) -> Result<ReleaseCert, SigningError> {
        let bytes = std::fs::read(path).map_err(SigningError::io(path))?;
        ReleaseCert::from_bytes(&bytes, &path.display().to_string())
    }

    /// The primary key's fingerprint (40 hex digits).
    pub fn fingerprint(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// The armored public certificate (the `KEY` file).
    pub fn to_armored_public(&self) -> Result<Vec<u8>, SigningError> {
        self.cert
            .armored()
            .to_vec()
            .map_err(pgp_err("export public certificate"))
    }

    /// The armored secret certificate (`openpgp.key`).
    pub fn to_armored_secret(&self) -> Result<Vec<u8>, SigningError> {
        self.cert
            .as_tsk()
            .armored()
            .to_vec()
            .map_err(pgp_err("export secret certificate"))
    }

    /// Fingerprints of the valid signing-capable subkeys, oldest first.
    pub fn signing_subkeys(&self) -> Result<Vec<String>, SigningError> {
        let policy = StandardPolicy::new();
        let valid = self
            .cert
            .with_policy(&policy, None)
            .map_err(pgp_err("validate certificate"))?;
        let mut keys: Vec<(SystemTime, String)> = valid
            .keys()
            .subkeys()
            .alive()
            .revoked(false)
            .for_signing()
            .map(|ka| (ka.key().creation_time(), ka.key().fingerprint().to_hex()))
            .collect();
        keys.sort();
        Ok(keys.into_iter().map(|(_, fpr)| fpr).collect())
    }

    /// A detached, armored signature of `data` by the newest signing subkey.
    pub fn sign_detached_armored(&self, data: &[u8]) -> Result<Vec<u8>, SigningError> {
        let policy = StandardPolicy::new();
        let valid = self
            .cert
            .with_policy(&policy, None)
            .map_err(pgp_err("validate certificate"))?;
        let key = valid
            .keys()
            .subkeys()
            .unencrypted_secret()
            .alive()
            .revoked(false)
            .for_signing()
            .max_by_key(|ka| ka.key().creation_time())
            .ok_or_else(|| SigningError::OpenPgp {
                what: "sign".to_owned(),
                message: "the certificate has no usable secret signing subkey".to_owned(),
            })?;
        let keypair = key
            .key()
            .clone()
            .into_keypair()
            .map_err(pgp_err("load signing key"))?;
        let mut out = Vec::new();
        {
            let message = Message::new(&mut out);
            let message = Armorer::new(message)
                .kind(pgp::armor::Kind::Signature)
                .build()
                .map_err(pgp_err("armor"))?;
            let mut signer = Signer::new(message, keypair)
                .map_err(pgp_err("sign"))?
                .detached()
                .build()
                .map_err(pgp_err("sign"))?;
            signer
                .write_all(data)
                .map_err(|e| pgp_err("sign")(e.into()))?;
            signer.finalize().map_err(pgp_err("sign"))?;
        }
        Ok(out)
    }

    /// Whether `signature` (armored or binary, detached) is a good signature of `data` by a key
    /// of this certificate.
    pub fn verify_detached(&self, data: &[u8], signature: &[u8]) -> Result<(), SigningError> {
        let policy = StandardPolicy::new();
        let helper = Helper { cert: &self.cert };
        let mut verifier = DetachedVerifierBuilder::from_bytes(signature)
            .map_err(pgp_err("parse signature"))?
            .with_policy(&policy, None, helper)
            .map_err(pgp_err("verify"))?;
        verifier.verify_bytes(data).map_err(pgp_err("verify"))
    }
}

struct Helper<'a> {
    cert: &'a Cert,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[pgp::KeyHandle]) -> pgp::Result<Vec<Cert>> {
        Ok(vec![self.cert.clone()])
    }

    fn check(&mut self, structure: MessageStructure) -> pgp::Result<()> {
        for layer in structure {
            if let MessageLayer::SignatureGroup { results } = layer {
                if results.iter().any(Result::is_ok) {
                    return Ok(());
                }
                if let Some(Err(e)) = results.into_iter().next() {
                    return Err(anyhow::anyhow!("bad signature: {e}"));
                }
            }
        }
        Err(anyhow::anyhow!("no good signature"))
    }
}

/// A new release certificate: v4, Cv25519, certification-only primary key, one signing subkey.
pub fn generate(user_id: &str) -> Result<ReleaseCert, SigningError> {
    let (cert, _revocation) = CertBuilder::new()
        .set_profile(pgp::Profile::RFC4880)
        .map_err(pgp_err("generate"))?
        .set_cipher_suite(CipherSuite::Cv25519)
        .set_primary_key_flags(KeyFlags::empty().set_certification())
        .add_userid(user_id)
        .add_signing_subkey()
        .generate()
        .map_err(pgp_err("generate"))?;
    Ok(ReleaseCert { cert })
}

/// Adds a new signing subkey, created strictly after every existing one, so it becomes the key
/// [`ReleaseCert::sign_detached_armored`] uses. Old subkeys stay valid: their signatures keep
/// verifying. Needs the primary secret key.
pub fn rotate_signing_subkey(cert: &ReleaseCert) -> Result<ReleaseCert, SigningError> {
    let policy = StandardPolicy::new();
    let newest = cert
        .cert
        .keys()
        .subkeys()
        .map(|ka| ka.key().creation_time())
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    // OpenPGP times have one-second resolution: wait until the new key is strictly newer.
    let not_before = newest + Duration::from_secs(1);
    while SystemTime::now() < not_before {
        std::thread::sleep(Duration::from_millis(50));
    }
    let valid = cert
        .cert
        .with_policy(&policy, None)
        .map_err(pgp_err("validate certificate"))?;
    let rotated = KeyBuilder::new(KeyFlags::empty().set_signing())
        .set_cipher_suite(CipherSuite::Cv25519)
        .subkey(valid)
        .map_err(pgp_err("rotate"))?
        .attach_cert()
        .map_err(pgp_err("rotate"))?;
    Ok(ReleaseCert { cert: rotated })
}
