//! `kiln sign --dir DIR --key KEY`: writes `<file>.sig` (Ed25519) for every listed artifact of a
//! build directory except MARs, which carry their signature inside.
//! `kiln sign --authenticode FILE… --cert CHAIN --key KEY [--timestamp-url URL]`:
//! Authenticode-signs PE files in place, optionally with an RFC 3161 timestamp.

use std::path::PathBuf;
use std::process::ExitCode;

use l10n_repack::ArtifactSigner;
use rayon::prelude::*;

use anyhow::Context;

use crate::checksums;
use crate::signing::authenticode::CodeSigner;
use crate::signing::ed25519::{sig_path, ArtifactKey};
use crate::signing::timestamp::Timestamper;

/// Arguments of `kiln sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The build directory.
    #[arg(
        long,
        required_unless_present = "authenticode",
        conflicts_with = "authenticode"
    )]
    pub dir: Option<PathBuf>,
    /// Authenticode-sign these PE files (`.exe`, `.dll`) in place instead, replacing any
    /// signature they carry.
    #[arg(long, num_args = 1.., requires = "cert")]
    pub authenticode: Vec<PathBuf>,
    /// With `--authenticode`: the certificate chain, PEM, leaf first (`authenticode.pem`).
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// With `--authenticode`: timestamp each signature at this RFC 3161 time-stamping
    /// authority (as `signtool /tr` and `osslsigncode -ts`).
    #[arg(long, requires = "authenticode")]
    pub timestamp_url: Option<String>,
    /// The private key: Ed25519 (PKCS#8 PEM, `ed25519.key`) for `--dir`, ECDSA P-256 (PKCS#8
    /// PEM, `authenticode.key`) for `--authenticode`.
    #[arg(long)]
    pub key: PathBuf,
}

impl SignArgs {
    /// Signs every artifact (re-signing existing ones).
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let Some(dir) = self.dir else {
            let cert = self.cert.context("--authenticode needs --cert")?;
            let mut signer = CodeSigner::load(&cert, &self.key)?;
            if let Some(url) = &self.timestamp_url {
                signer = signer.with_timestamper(Timestamper::new(url));
            }
            self.authenticode
                .par_iter()
                .try_for_each(|path| signer.sign_file(path))?;
            println!("Authenticode-signed {} files", self.authenticode.len());
            return Ok(ExitCode::SUCCESS);
        };
        let key = ArtifactKey::load(&self.key)?;
        let artifacts: Vec<String> = checksums::artifacts(&dir)?
            .into_iter()
            .filter(|rel| !rel.ends_with(".mar"))
            .collect();
        artifacts
            .par_iter()
            .try_for_each(|rel| -> anyhow::Result<()> {
                let path = dir.join(rel);
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
