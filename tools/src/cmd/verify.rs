//! `kiln verify --dir DIR --key PUBKEY`: every `.sig`, every listed artifact has one (MARs carry
//! their signature inside), every Linux tarball's `.asc`, and both SUMS files with their OpenPGP
//! signatures; with `--authenticode-ca`, the Authenticode signature of every `.exe` and `.dll` in
//! every Windows build (`.zip`). Exit 1 on any failure.

use std::path::PathBuf;
use std::process::ExitCode;

use rayon::prelude::*;

use crate::checksums;
use crate::signing::authenticode::load_certificates;
use crate::signing::ed25519::{sig_path, ArtifactVerifier};
use crate::signing::openpgp::ReleaseCert;
use crate::signing::windows::{is_pe_name, Trust};

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
    /// The Authenticode root to trust (`authenticode-ca.pem`): every `.exe` and `.dll` in every
    /// `.zip` build must carry a code-signing signature chaining to it.
    #[arg(long)]
    pub authenticode_ca: Option<PathBuf>,
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
        let mut pe_builds = 0;
        if let Some(ca) = &self.authenticode_ca {
            let trust = Trust::roots(load_certificates(ca)?);
            for rel in checksums::artifacts(&self.dir)? {
                if !rel.ends_with(".zip") {
                    continue;
                }
                let mut files = Vec::new();
                l10n_repack::read_files(&self.dir.join(&rel), |path, data| {
                    if is_pe_name(path) {
                        files.push((path.to_owned(), data.to_vec()));
                    }
                })?;
                pe_builds += 1;
                problems.extend(
                    trust
                        .problems(files.iter().map(|(p, d)| (p.as_str(), d.as_slice())))
                        .into_iter()
                        .map(|p| format!("{rel}: {p}")),
                );
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
            if self.authenticode_ca.is_some() {
                println!("OK: Authenticode on every .exe and .dll of {pe_builds} Windows builds");
            }
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("{} problem(s)", problems.len());
            Ok(ExitCode::from(1))
        }
    }
}
