//! `mar update`: make complete and partial update MARs, apply them, recover interrupted applies.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use mar::keys::SigningKey;
use mar::update::cache::DiffCache;
use mar::update::generate::{
    complete_mar, partial_mar, Decision, GenerateReport, PartialOptions, PatchFormat, Tree,
    UpdateParams,
};
use mar::update::{apply, recover, verify_update, ApplyOptions};
use mar::{Compression, Mar, ProductInfo};
use serde_json::json;

use crate::cli::{load_public_keys, open_archive};
use crate::create::{compression_setting, CompressionArg};
use crate::progress;

/// Make, apply and recover update MARs (exit code of apply/recover = Firefox's error code).
#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    #[command(subcommand)]
    command: UpdateCommand,
}

#[derive(Debug, Subcommand)]
enum UpdateCommand {
    Complete(CompleteArgs),
    Partial(PartialArgs),
    Apply(ApplyArgs),
    Recover(RecoverArgs),
}

impl UpdateArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            UpdateCommand::Complete(args) => args.run(),
            UpdateCommand::Partial(args) => args.run(),
            UpdateCommand::Apply(args) => args.run(),
            UpdateCommand::Recover(args) => args.run(),
        }
    }
}

/// Product information, compression and signing flags shared by `complete` and `partial`.
#[derive(Debug, Args)]
struct PackageArgs {
    /// The MAR to write.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// MAR channel id for the product information block.
    #[arg(short = 'H', long = "channel")]
    channel: String,
    /// Product version for the product information block.
    #[arg(short = 'V', long = "product-version")]
    version: String,
    /// Sign with this private key (Ed25519 or RSA PEM); repeat for several signatures.
    #[arg(long = "sign-key")]
    sign_keys: Vec<PathBuf>,
    /// How to compress entries (zstd by default, xz with `--patch-format mbdiff`; xz for
    /// Firefox's own updater).
    #[arg(long, value_enum)]
    compression: Option<CompressionArg>,
    /// Compression level (zstd 1-22, default 19; xz 0-9, default 6).
    #[arg(long)]
    level: Option<i32>,
    /// Print the manifest, per-file decisions and cache statistics as JSON.
    #[arg(long)]
    json: bool,
}

impl PackageArgs {
    /// The update parameters; entries are compressed with `default` unless `--compression` says.
    fn params(&self, default: CompressionArg) -> anyhow::Result<UpdateParams> {
        let choice = self.compression.unwrap_or(default);
        let compression: Compression = compression_setting(choice, self.level)?;
        let mut params = UpdateParams::new(ProductInfo::new(&self.channel, &self.version)?)
            .compression(compression);
        for path in &self.sign_keys {
            params = params.sign_with(SigningKey::load(path)?);
        }
        Ok(params)
    }

    fn print(&self, report: &GenerateReport) -> anyhow::Result<()> {
        if !self.json {
            eprintln!(
                "wrote {} ({} bytes, {} manifest lines)",
                self.output.display(),
                report.file_len,
                report.manifest.instructions().len()
            );
            return Ok(());
        }
        let decisions: Vec<_> = report
            .decisions
            .iter()
            .map(|(path, decision)| {
                let mut value = match decision {
                    Decision::Unchanged => json!({"decision": "unchanged"}),
                    Decision::Remove => json!({"decision": "remove"}),
                    Decision::Add { reason, bytes, patch_bytes } => json!({
                        "decision": "add", "reason": reason.as_str(), "bytes": bytes, "patch_bytes": patch_bytes,
                    }),
                    Decision::Patch { bytes, full_bytes, cached, from } => json!({
                        "decision": "patch", "bytes": bytes, "full_bytes": full_bytes, "cached": cached,
                        "from": from.as_ref().map(|f| f.as_str()),
                    }),
                };
                value["path"] = json!(path.as_str());
                value
            })
            .collect();
        let cache = report.cache.map(|s| {
            json!({
                "hits": s.hits, "misses": s.misses, "discarded": s.discarded,
                "inserted": s.inserted, "bytes_read": s.bytes_read, "bytes_written": s.bytes_written,
            })
        });
        let out = json!({
            "output": self.output.display().to_string(),
            "kind": report.kind.as_str(),
            "file_len": report.file_len,
            "manifest": report.manifest.instructions().iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            "files": decisions,
            "cache": cache,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        Ok(())
    }
}

/// Make a complete update MAR from an install tree.
#[derive(Debug, Args)]
struct CompleteArgs {
    /// The install tree (must contain a precomplete).
    #[arg(long = "dir")]
    dir: PathBuf,
    #[command(flatten)]
    package: PackageArgs,
}

impl CompleteArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let tree = Tree::from_dir(&self.dir)?;
        let report = complete_mar(
            &tree,
            &self.package.params(CompressionArg::Zstd)?,
            &self.package.output,
        )
        .with_context(|| format!("writing {}", self.package.output.display()))?;
        self.package.print(&report)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Make a partial update MAR between two install trees or complete MARs.
#[derive(Debug, Args)]
struct PartialArgs {
    /// The old version: an install tree or a complete MAR.
    #[arg(long = "from")]
    from: PathBuf,
    /// The new version: an install tree or a complete MAR.
    #[arg(long = "to")]
    to: PathBuf,
    /// A diff cache directory shared across runs and processes (Kiln patches only).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Patch entries: Kiln's (smallest; renamed files patched) or Mozilla's MBDIFF10 with xz
    /// entries, which Firefox's own updater applies.
    #[arg(long, value_enum, default_value = "kiln")]
    patch_format: PatchFormatArg,
    #[command(flatten)]
    package: PackageArgs,
}

/// `--patch-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum PatchFormatArg {
    /// Kiln's patch entry.
    Kiln,
    /// Mozilla's MBDIFF10 (bsdiff), as Firefox's partials.
    Mbdiff,
}

fn load_tree(path: &Path) -> anyhow::Result<Tree> {
    if path.is_dir() {
        Ok(Tree::from_dir(path)?)
    } else {
        let mut mar = open_archive(path)?;
        Tree::from_complete_mar(&mut mar).with_context(|| format!("unwrapping {}", path.display()))
    }
}

impl PartialArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let old = load_tree(&self.from)?;
        let new = load_tree(&self.to)?;
        let cache = self.cache.as_deref().map(DiffCache::open).transpose()?;
        let total: u64 = new.files().values().map(|f| f.len()).sum();
        let bar = progress::bytes_bar(total, "diffing");
        let progress_bar = bar.clone();
        let on_progress = move |_: &mar::EntryPath, bytes: u64| progress_bar.inc(bytes);
        let (format, compression) = match self.patch_format {
            PatchFormatArg::Kiln => (PatchFormat::Kiln, CompressionArg::Zstd),
            PatchFormatArg::Mbdiff => (PatchFormat::Mbdiff, CompressionArg::Xz),
        };
        let mut options = PartialOptions::default()
            .progress(&on_progress)
            .patch_format(format);
        if let Some(cache) = &cache {
            anyhow::ensure!(
                format == PatchFormat::Kiln,
                "--cache holds Kiln patches only"
            );
            options = options.cache(cache);
        }
        let report = partial_mar(
            &old,
            &new,
            &self.package.params(compression)?,
            &options,
            &self.package.output,
        )
        .with_context(|| format!("writing {}", self.package.output.display()))?;
        bar.finish_and_clear();
        self.package.print(&report)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Apply an update MAR to an install (verified first; channel and version checked).
#[derive(Debug, Args)]
struct ApplyArgs {
    /// The install directory.
    install_dir: PathBuf,
    /// The update MAR.
    update: PathBuf,
    /// A trusted public key (Ed25519 or RSA, PEM or DER); repeat for several.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// The installed version (default: Version= in the install's application.ini).
    #[arg(long)]
    current_version: Option<String>,
    /// Apply into a copy of the install at DIR instead of the install itself.
    #[arg(long)]
    staged: Option<PathBuf>,
}

/// Prints an apply/recover failure with its causes and turns it into its Firefox error code.
fn failure(err: mar::update::ApplyError) -> ExitCode {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    eprintln!("mar: {message} (error {})", err.code());
    ExitCode::from(err.code())
}

impl ApplyArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let file = std::fs::File::open(&self.update)
            .with_context(|| format!("opening {}", self.update.display()))?;
        let mar = Mar::open(BufReader::new(file))
            .with_context(|| format!("reading {}", self.update.display()))?;
        let mut verified = match verify_update(mar, load_public_keys(&self.keys)?) {
            Ok(verified) => verified,
            Err(err) => return Ok(failure(err)),
        };
        let mut options = ApplyOptions::default();
        if let Some(version) = &self.current_version {
            options = options.current_version(version);
        }
        if let Some(staged) = &self.staged {
            options = options.staged(staged);
        }
        match apply(&self.install_dir, &mut verified, &options) {
            Ok(summary) => {
                eprintln!(
                    "applied to {}: {} added, {} patched, {} removed",
                    summary.applied_to.display(),
                    summary.added,
                    summary.patched,
                    summary.removed
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => Ok(failure(err)),
        }
    }
}

/// Finish or undo an interrupted update of an install (leaves it exactly old or new).
#[derive(Debug, Args)]
struct RecoverArgs {
    /// The install directory.
    install_dir: PathBuf,
}

impl RecoverArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        match recover(&self.install_dir) {
            Ok(outcome) => {
                eprintln!("{}: {outcome:?}", self.install_dir.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => Ok(failure(err)),
        }
    }
}
