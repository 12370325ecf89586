//! `kiln keys generate --out DIR` and `kiln keys rotate --dir DIR`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::signing::code_signing_ca;
use crate::signing::ed25519::ArtifactKey;
use crate::signing::openpgp::{self, ReleaseCert};

/// Arguments of `kiln keys`.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    /// What to do with keys.
    #[command(subcommand)]
    pub action: KeysAction,
}

/// `kiln keys` actions.
#[derive(Debug, clap::Subcommand)]
pub enum KeysAction {
    /// Write ed25519.key (PKCS#8 PEM), ed25519.pub, openpgp.key (armored secret cert), KEY, and
    /// a local Authenticode CA: authenticode-ca.pem (the root to trust), authenticode.pem (the
    /// code-signing leaf, then the root) and authenticode.key (its ECDSA P-256 key, PKCS#8 PEM).
    Generate {
        /// Directory to write the keys into (created if missing; existing keys are refused).
        #[arg(long)]
        out: PathBuf,
        /// User id of the OpenPGP release certificate.
        #[arg(long, default_value = openpgp::DEFAULT_USER_ID)]
        user_id: String,
    },
    /// Add a new OpenPGP signing subkey to DIR/openpgp.key (old signatures stay valid) and
    /// rewrite DIR/KEY.
    Rotate {
        /// Directory holding openpgp.key.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Writes a secret file readable only by its owner; never overwrites one.
fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    mar::keys::write_secret_file(path, bytes)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))
}

fn write_public(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::checksums::write_atomic(path, bytes)?;
    Ok(())
}

impl KeysArgs {
    /// Runs the action.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.action {
            KeysAction::Generate { out, user_id } => {
                std::fs::create_dir_all(&out)
                    .with_context(|| format!("creating {}", out.display()))?;
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
                write_public(&out.join("ed25519.pub"), public.to_pem()?.as_bytes())?;
                let cert = openpgp::generate(&user_id)?;
                write_secret(&out.join("openpgp.key"), &cert.to_armored_secret()?)?;
                write_public(&out.join("KEY"), &cert.to_armored_public()?)?;
                let code = code_signing_ca::generate()?;
                write_secret(&out.join("authenticode.key"), code.key_pem.as_bytes())?;
                write_public(&out.join("authenticode.pem"), code.chain_pem.as_bytes())?;
                write_public(&out.join("authenticode-ca.pem"), code.ca_pem.as_bytes())?;
                println!("ed25519 key id {}", public.key_id());
                println!("OpenPGP fingerprint {}", cert.fingerprint());
            }
            KeysAction::Rotate { dir } => {
                let path = dir.join("openpgp.key");
                let cert = ReleaseCert::load(&path)?;
                let rotated = openpgp::rotate_signing_subkey(&cert)?;
                crate::checksums::write_atomic_mode(&path, &rotated.to_armored_secret()?, 0o600)?;
                write_public(&dir.join("KEY"), &rotated.to_armored_public()?)?;
                let subkeys = rotated.signing_subkeys()?;
                println!("signing subkeys (oldest first): {}", subkeys.join(", "));
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
