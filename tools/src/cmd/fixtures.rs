//! `kiln fixtures --out DIR [--seed N] [--size small|large] [--locales N|L1,L2,…] [--versions …]
//! [--product NAME] [--mar-channel-id ID] [--repo DIR]`.

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
    /// Shipped locales: a count, en-US included (5 = en-US de fr ja ja-JP-mac), or names
    /// (`fr,ja`; en-US always ships, `ja` brings `ja-JP-mac` for mac).
    #[arg(long, default_value_t = kiln_fixtures::Locales::default())]
    pub locales: kiln_fixtures::Locales,
    /// Versions to build, comma-separated, oldest first (121.0, 121.0.1, 132.0b3, 128.5.0esr:
    /// each build's channel settings follow its line).
    #[arg(long, value_delimiter = ',', default_values_t = kiln_fixtures::DEFAULT_VERSIONS.map(String::from))]
    pub versions: Vec<String>,
    /// The product: `[App] Name` of the builds; archive and app names follow it
    /// (`thunderbird-121.0.tar.xz`, `thunderbird/`, `Thunderbird.app`).
    #[arg(long, default_value = kiln_fixtures::DEFAULT_PRODUCT)]
    pub product: String,
    /// The MAR channel id the builds accept (default `<lowercase product>-mozilla-release`).
    #[arg(long)]
    pub mar_channel_id: Option<String>,
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
            product: self.product,
            mar_channel_id: self.mar_channel_id,
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
