//! `kiln keys generate --out DIR` and `kiln keys rotate --dir DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::signing::openpgp::{self, ReleaseCert};
use crate::signing::release_keys;

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

impl KeysArgs {
    /// Runs the action.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.action {
            KeysAction::Generate { out, user_id } => {
                let keys = release_keys::generate(&out, &user_id)?;
                println!("ed25519 key id {}", keys.ed25519_key_id);
                println!("OpenPGP fingerprint {}", keys.openpgp_fingerprint);
            }
            KeysAction::Rotate { dir } => {
                let path = dir.join("openpgp.key");
                let cert = ReleaseCert::load(&path)?;
                let rotated = openpgp::rotate_signing_subkey(&cert)?;
                crate::checksums::write_atomic_mode(&path, &rotated.to_armored_secret()?, 0o600)?;
                crate::checksums::write_atomic(&dir.join("KEY"), &rotated.to_armored_public()?)?;
                let subkeys = rotated.signing_subkeys()?;
                println!("signing subkeys (oldest first): {}", subkeys.join(", "));
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
