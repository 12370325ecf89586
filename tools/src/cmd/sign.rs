//! `kiln sign --dir DIR --key KEY`: writes `<file>.sig` (Ed25519) for every listed artifact of a
//! build directory except MARs, which carry their signature inside.

use std::path::PathBuf;
use std::process::ExitCode;

use l10n_repack::ArtifactSigner;
use rayon::prelude::*;

use crate::checksums;
use crate::signing::ed25519::{sig_path, ArtifactKey};

/// Arguments of `kiln sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The build directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// The Ed25519 private key (PKCS#8 PEM, `ed25519.key`).
    #[arg(long)]
    pub key: PathBuf,
}

impl SignArgs {
    /// Signs every artifact (re-signing existing ones).
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let key = ArtifactKey::load(&self.key)?;
        let artifacts: Vec<String> = checksums::artifacts(&self.dir)?
            .into_iter()
            .filter(|rel| !rel.ends_with(".mar"))
            .collect();
        artifacts
            .par_iter()
            .try_for_each(|rel| -> anyhow::Result<()> {
                let path = self.dir.join(rel);
                let data = std::fs::read(&path).map_err(crate::signing::SigningError::io(&path))?;
                checksums::write_atomic(&sig_path(&path), &key.sign(&data))?;
                Ok(())
            })?;
        println!(
            "signed {} files with key {}",
            artifacts.len(),
            key.public_key().key_id()
        );
        Ok(ExitCode::SUCCESS)
    }
}
