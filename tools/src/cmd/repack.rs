//! `kiln repack --fixtures DIR --version V --out DIR [--product NAME] [--platforms P,…]
//! [--jobs N] [--chunk K/N] [--sign-key KEY] [--pgp-key KEY] [--state-dir DIR]
//! [--partner-build M] [--partners a,b]`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use l10n_repack::{
    Chunk, Job, JobOutcome, Platform, Product, Progress, RepackInputs, RepackOptions,
};
use sha2::{Digest, Sha256};

use crate::checksums::SUMS_FILES;
use crate::signing::ed25519::ArtifactKey;
use crate::signing::openpgp::ReleaseCert;

/// Arguments of `kiln repack`.
#[derive(Debug, clap::Args)]
pub struct RepackArgs {
    /// Input directory laid out like `kiln fixtures` output.
    #[arg(long)]
    pub fixtures: PathBuf,
    /// The version to repack (e.g. 121.0).
    #[arg(long)]
    pub version: String,
    /// Output directory: `<platform>/<locale>/<archive>` and `partner-repacks/…`.
    #[arg(long)]
    pub out: PathBuf,
    /// The product whose builds are repacked; archive and app names follow it
    /// (`thunderbird-121.0.tar.xz`, `thunderbird/`, `Thunderbird.app`).
    #[arg(long, default_value = "Firefox")]
    pub product: Product,
    /// Only these platforms (comma-separated; default: all three): a release's `[platforms]`.
    /// Nothing of another platform is read.
    #[arg(long, value_delimiter = ',')]
    pub platforms: Option<Vec<Platform>>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only chunk K of N of the sorted job list.
    #[arg(long)]
    pub chunk: Option<Chunk>,
    /// Ed25519 private key (PKCS#8 PEM): write `<archive>.sig` beside every archive.
    #[arg(long)]
    pub sign_key: Option<PathBuf>,
    /// Armored secret OpenPGP certificate (`openpgp.key`): afterwards, sign the Linux tarballs
    /// that lack a valid `.asc` and rewrite OUT's SHA256SUMS, SHA512SUMS, their `.asc` and KEY,
    /// as `kiln checksums` does. Needed when OUT already holds checksums (a partner respin into
    /// a build directory). Not with `--chunk`: run `kiln checksums` once every chunk is done.
    #[arg(long, conflicts_with = "chunk")]
    pub pgp_key: Option<PathBuf>,
    /// The repack journal (scratch state that makes reruns resumable), outside OUT. Default:
    /// `$XDG_CACHE_HOME/kiln/repack/<digest of OUT's absolute path>` (`~/.cache` without
    /// `XDG_CACHE_HOME`, the system temp dir without either).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Partner build number M of `partner-repacks/<partner>/<sub>/v<M>/`.
    #[arg(long, default_value_t = 1)]
    pub partner_build: u32,
    /// Only partner repacks of these partners (comma-separated; no locale repacks), e.g. for an
    /// off-cycle respin with `--partner-build 2`.
    #[arg(long, value_delimiter = ',')]
    pub partners: Option<Vec<String>>,
}

/// Drives an indicatif progress bar from repack events (hidden when stderr is not a terminal).
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&self, total: usize) {
        self.0.set_length(total as u64);
    }

    fn finished(&self, job: &Job, outcome: JobOutcome) {
        if outcome == JobOutcome::Failed {
            self.0.println(format!("failed: {}", job.id()));
        }
        self.0.set_message(job.id().to_owned());
        self.0.inc(1);
    }
}

/// The default journal directory of a repack into `out`: under the user's cache directory
/// (`$XDG_CACHE_HOME`, else `$HOME/.cache`, else the system temp dir), one per output directory.
pub fn default_state_dir(out: &Path) -> anyhow::Result<PathBuf> {
    let out = std::path::absolute(out).with_context(|| format!("{}", out.display()))?;
    let digest = hex::encode(Sha256::digest(out.as_os_str().as_encoded_bytes()));
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let cache = absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    Ok(cache.join("kiln").join("repack").join(&digest[..16]))
}

impl RepackArgs {
    /// Runs the repack; fails if any job failed (after every other job ran).
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let key = self
            .sign_key
            .as_deref()
            .map(ArtifactKey::load)
            .transpose()
            .context("loading the signing key")?;
        let cert = self
            .pgp_key
            .as_deref()
            .map(ReleaseCert::load)
            .transpose()
            .context("loading the OpenPGP release certificate")?;
        let summed: Vec<&str> = SUMS_FILES
            .into_iter()
            .filter(|name| self.out.join(name).exists())
            .collect();
        anyhow::ensure!(
            summed.is_empty() || cert.is_some() || self.chunk.is_some(),
            "{} holds {}, which new builds would leave stale: pass --pgp-key to rewrite them",
            self.out.display(),
            summed.join(" and ")
        );
        let journal = match &self.state_dir {
            Some(dir) => dir.clone(),
            None => default_state_dir(&self.out)?,
        };
        anyhow::ensure!(
            !std::path::absolute(&journal)?.starts_with(std::path::absolute(&self.out)?),
            "--state-dir {} is inside --out: the repack journal is scratch state, keep it out of \
             the output directory",
            journal.display()
        );
        let platforms = self.platforms.as_deref().unwrap_or(&Platform::ALL);
        let inputs =
            RepackInputs::load_for(&self.fixtures, &self.product, &self.version, platforms)?;
        let options = RepackOptions {
            jobs: self.jobs,
            chunk: self.chunk,
            partner_build: self.partner_build,
            partners: self.partners.as_deref(),
            signer: key.as_ref().map(|k| k as &dyn l10n_repack::ArtifactSigner),
            journal: Some(&journal),
            ..RepackOptions::default()
        };
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let started = std::time::Instant::now();
        let report = l10n_repack::run(&inputs, &options, &self.out, &Bar(bar.clone()))?;
        bar.finish_and_clear();
        println!(
            "{} written, {} kept from an earlier run, {} failed in {:.1}s",
            report.written.len(),
            report.skipped.len(),
            report.failures.len(),
            started.elapsed().as_secs_f64()
        );
        for (job, error) in &report.failures {
            eprintln!("kiln: {job}: {error}");
        }
        anyhow::ensure!(
            report.failures.is_empty(),
            "{} repack job(s) failed",
            report.failures.len()
        );
        if let Some(cert) = &cert {
            crate::cmd::checksums::write_and_report(&self.out, cert)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
