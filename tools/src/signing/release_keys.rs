//! A release's key set, as `kiln keys generate` writes it into a directory: `ed25519.key`
//! (PKCS#8 PEM, 0600) and `ed25519.pub`; `openpgp.key` (armored secret certificate, 0600) and
//! `KEY` (its public part); a local Authenticode CA, `authenticode-ca.pem` (the root to trust),
//! `authenticode.pem` (the code-signing leaf, then the root) and `authenticode.key` (0600).
//! Quickstart and tests make theirs the same way.

use std::path::Path;

use anyhow::Context;

use crate::signing::code_signing_ca;
use crate::signing::ed25519::ArtifactKey;
use crate::signing::openpgp;

/// What [`generate`] made, for the operator's record.
#[derive(Debug, Clone)]
pub struct KeySet {
    /// The Ed25519 key's id.
    pub ed25519_key_id: String,
    /// The OpenPGP certificate's fingerprint.
    pub openpgp_fingerprint: String,
}

/// Writes a secret file readable only by its owner; never overwrites one.
fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    mar::keys::write_secret_file(path, bytes)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))
}

/// Writes every key of a release into `out` (created if missing), the OpenPGP certificate with
/// `user_id`. Refuses, before writing anything, when any of the secret keys exists already.
pub fn generate(out: &Path, user_id: &str) -> anyhow::Result<KeySet> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for name in ["ed25519.key", "openpgp.key", "authenticode.key"] {
        anyhow::ensure!(
            !out.join(name).exists(),
            "{} already exists; refusing to overwrite a key",
            out.join(name).display()
        );
    }
    let ed = ArtifactKey::generate()?;
    let public = ed.public_key();
    write_secret(&out.join("ed25519.key"), ed.to_pkcs8_pem()?.as_bytes())?;
    crate::checksums::write_atomic(&out.join("ed25519.pub"), public.to_pem()?.as_bytes())?;
    let cert = openpgp::generate(user_id)?;
    write_secret(&out.join("openpgp.key"), &cert.to_armored_secret()?)?;
    crate::checksums::write_atomic(&out.join("KEY"), &cert.to_armored_public()?)?;
    let code = code_signing_ca::generate()?;
    write_secret(&out.join("authenticode.key"), code.key_pem.as_bytes())?;
    crate::checksums::write_atomic(&out.join("authenticode.pem"), code.chain_pem.as_bytes())?;
    crate::checksums::write_atomic(&out.join("authenticode-ca.pem"), code.ca_pem.as_bytes())?;
    Ok(KeySet {
        ed25519_key_id: public.key_id().to_string(),
        openpgp_fingerprint: cert.fingerprint(),
    })
}
