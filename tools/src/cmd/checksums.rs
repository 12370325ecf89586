//! `kiln checksums --dir DIR --pgp-key KEY`.

use std::path::{Path, PathBuf};
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
        write_and_report(&self.dir, &cert)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// [`crate::checksums::write_signed`] over `dir`, then prints what the sums list and who signed.
pub fn write_and_report(dir: &Path, cert: &ReleaseCert) -> anyhow::Result<()> {
    let count = crate::checksums::write_signed(dir, cert)?;
    println!(
        "listed {count} files in {}/SHA256SUMS and SHA512SUMS, signed by {}",
        dir.display(),
        cert.fingerprint()
    );
    Ok(())
}
