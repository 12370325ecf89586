//! `kiln verify --dir DIR --key PUBKEY`: every `.sig`, every listed artifact has one (MARs carry
//! their signature inside), every Linux tarball's `.asc`, and both SUMS files with their OpenPGP
//! signatures. Exit 1 on any failure.

use std::path::PathBuf;
use std::process::ExitCode;

use rayon::prelude::*;

use crate::checksums;
use crate::signing::ed25519::{sig_path, ArtifactVerifier};
use crate::signing::openpgp::ReleaseCert;

/// Arguments of `kiln verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The build directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// The Ed25519 public key (SPKI PEM, `ed25519.pub`).
    #[arg(long)]
    pub key: PathBuf,
    /// The OpenPGP public certificate to check the SUMS signatures with (default: DIR/KEY;
    /// pin a copy obtained out of band for real trust).
    #[arg(long)]
    pub pgp_cert: Option<PathBuf>,
}

impl VerifyArgs {
    /// Verifies everything and reports each problem; exit code 1 if there is any.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let verifier = ArtifactVerifier::load(&self.key)?;
        let mut problems = Vec::new();
        let mut sigs = Vec::new();
        for entry in walkdir::WalkDir::new(&self.dir).follow_links(false) {
            let entry = entry?;
            let rel = entry
                .path()
                .strip_prefix(&self.dir)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .replace('\\', "/");
            if entry.file_type().is_file()
                && rel.ends_with(".sig")
                && !rel.split('/').any(|c| c.starts_with('.'))
            {
                sigs.push(entry.path().to_owned());
            }
        }
        sigs.sort();
        let results: Vec<Option<String>> = sigs
            .par_iter()
            .map(|sig| {
                let artifact = sig.with_extension("");
                match verifier.verify_file(&artifact) {
                    Ok(true) => None,
                    Ok(false) => Some(format!(
                        "{}: bad signature (key {})",
                        sig.display(),
                        verifier.key_id()
                    )),
                    Err(e) => Some(format!("{}: {e}", sig.display())),
                }
            })
            .collect();
        problems.extend(results.into_iter().flatten());
        for rel in checksums::artifacts(&self.dir)? {
            let path = self.dir.join(&rel);
            if !rel.ends_with(".mar") && !sig_path(&path).is_file() {
                problems.push(format!("{rel}: no .sig"));
            }
        }
        let cert_path = self
            .pgp_cert
            .clone()
            .unwrap_or_else(|| self.dir.join("KEY"));
        match ReleaseCert::load(&cert_path) {
            Ok(cert) => problems.extend(checksums::verify(&self.dir, &cert)?),
            Err(e) => problems.push(format!("{}: {e}", cert_path.display())),
        }
        for problem in &problems {
            eprintln!("FAIL {problem}");
        }
        if problems.is_empty() {
            println!(
                "OK: {} signatures, Linux tarball .asc files, SHA256SUMS and SHA512SUMS verified",
                sigs.len()
            );
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("{} problem(s)", problems.len());
            Ok(ExitCode::from(1))
        }
    }
}
