//! `mar sign`: sign an unsigned archive with one or more keys.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use mar::keys::SigningKey;

use crate::cli::open_archive;

/// Copy an unsigned archive to OUT with signatures from every --key (Ed25519 or RSA PEM).
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The unsigned archive.
    input: PathBuf,
    /// Where to write the signed archive.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// A private key to sign with; repeat to sign with several (e.g. during a key rotation).
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
}

impl SignArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let keys = self
            .keys
            .iter()
            .map(|p| SigningKey::load(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut mar = open_archive(&self.input)?;
        mar::sign_archive(&mut mar, &keys, &self.output)
            .with_context(|| format!("signing {}", self.input.display()))?;
        Ok(ExitCode::SUCCESS)
    }
}
