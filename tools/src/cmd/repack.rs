//! `kiln repack --fixtures DIR --version V --out DIR [--product NAME] [--jobs N] [--chunk K/N]
//! [--sign-key KEY]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use l10n_repack::{Chunk, Job, JobOutcome, Product, Progress, RepackInputs, RepackOptions};

use crate::signing::ed25519::ArtifactKey;

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
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only chunk K of N of the sorted job list.
    #[arg(long)]
    pub chunk: Option<Chunk>,
    /// Ed25519 private key (PKCS#8 PEM): write `<archive>.sig` beside every archive.
    #[arg(long)]
    pub sign_key: Option<PathBuf>,
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

impl RepackArgs {
    /// Runs the repack; fails if any job failed (after every other job ran).
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let key = self
            .sign_key
            .as_deref()
            .map(ArtifactKey::load)
            .transpose()
            .context("loading the signing key")?;
        let inputs = RepackInputs::load(&self.fixtures, &self.product, &self.version)?;
        let options = RepackOptions {
            jobs: self.jobs,
            chunk: self.chunk,
            partner_build: self.partner_build,
            partners: self.partners.as_deref(),
            signer: key.as_ref().map(|k| k as &dyn l10n_repack::ArtifactSigner),
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
        Ok(ExitCode::SUCCESS)
    }
}
