//! `mar verify`: check signatures against trusted public keys.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use mar::{SignatureOutcome, Verifier};

use crate::cli::{load_public_keys, open_archive};

/// Verify signatures; exit 0 when at least THRESHOLD distinct trusted keys verify, else 1.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The archive.
    file: PathBuf,
    /// A trusted public key (Ed25519 or RSA, PEM or DER); repeat for several.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// How many distinct trusted keys must verify.
    #[arg(long, default_value_t = 1)]
    threshold: usize,
}

impl VerifyArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        verify_archive(&self.file, &self.keys, self.threshold)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Verifies and prints one line per signature; shared with Mozilla-style `mar -v`.
pub(crate) fn verify_archive(
    file: &Path,
    keys: &[PathBuf],
    threshold: usize,
) -> anyhow::Result<()> {
    let verifier = Verifier::new(load_public_keys(keys)?).with_threshold(threshold);
    let mar = open_archive(file)?;
    let verified = verifier.verify(mar)?;
    for (i, (algorithm, outcome)) in verified.report().outcomes().iter().enumerate() {
        let what = match outcome {
            SignatureOutcome::Verified(id) => format!("verified by key {id}"),
            SignatureOutcome::NotVerified => "not verified by any trusted key".to_owned(),
            SignatureOutcome::UnknownAlgorithm(id) => format!("unknown algorithm {id:#x}"),
        };
        println!("signature {i} ({}): {what}", algorithm.name());
    }
    println!("Verification OK");
    Ok(())
}
