//! `kiln fixtures --out DIR [--seed N] [--size small|large] [--locales N] [--versions …]
//! [--repo DIR]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `kiln fixtures`.
#[derive(Debug, clap::Args)]
pub struct FixturesArgs {
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of every pseudo-random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Build size: small (a few MB, tests) or large (~100 MB, benchmarks).
    #[arg(long, default_value = "small")]
    pub size: kiln_fixtures::Size,
    /// Number of shipped locales, en-US included (5 = en-US de fr ja ja-JP-mac).
    #[arg(long, default_value_t = kiln_fixtures::DEFAULT_LOCALES.len())]
    pub locales: usize,
    /// Versions to build, comma-separated, oldest first.
    #[arg(long, value_delimiter = ',', default_values_t = kiln_fixtures::DEFAULT_VERSIONS.map(String::from))]
    pub versions: Vec<String>,
    /// Also create the product's git repository here, one commit per version (needs git).
    #[arg(long)]
    pub repo: Option<PathBuf>,
}

impl FixturesArgs {
    /// Generates the fixtures.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let options = kiln_fixtures::Options {
            seed: self.seed,
            size: self.size,
            locales: self.locales,
            versions: self.versions.clone(),
        };
        let summary = kiln_fixtures::generate(&self.out, &options)
            .with_context(|| format!("generating fixtures in {}", self.out.display()))?;
        println!(
            "wrote {} builds, {} locales and {} partner configs to {}",
            summary.builds.len(),
            summary.locales.len(),
            summary.partners.len(),
            self.out.display()
        );
        if let Some(repo) = &self.repo {
            for (version, commit) in kiln_fixtures::product_repo(repo, &self.versions)? {
                println!("{version}: commit {commit}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
