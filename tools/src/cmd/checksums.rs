//! `kiln checksums --dir DIR --pgp-key KEY`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::signing::openpgp::ReleaseCert;

/// Arguments of `kiln checksums`.
#[derive(Debug, clap::Args)]
pub struct ChecksumsArgs {
    /// The build directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// The armored secret release certificate (`openpgp.key`).
    #[arg(long)]
    pub pgp_key: PathBuf,
}

impl ChecksumsArgs {
    /// Writes the Linux tarballs' `.asc`, SHA256SUMS, SHA512SUMS, their `.asc` and KEY.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let cert = ReleaseCert::load(&self.pgp_key)?;
        let count = crate::checksums::write_signed(&self.dir, &cert)?;
        println!(
            "listed {count} files in {}/SHA256SUMS and SHA512SUMS, signed by {}",
            self.dir.display(),
            cert.fingerprint()
        );
        Ok(ExitCode::SUCCESS)
    }
}
