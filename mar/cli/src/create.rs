//! `mar create`: build an archive from files and directories.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use mar::keys::SigningKey;
use mar::{Compression, MarBuilder, ProductInfo};

use crate::progress;

/// Entry compression on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum CompressionArg {
    /// zstd (Kiln's default).
    Zstd,
    /// xz with CRC64 (what Firefox's updater reads).
    Xz,
    /// No compression.
    None,
}

/// Create an archive (current layout; PIB when -H and -V are given).
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The archive to write.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Resolve PATHs relative to this directory; entry names are relative to it.
    #[arg(short = 'C', long = "directory", default_value = ".")]
    directory: PathBuf,
    /// MAR channel id for the product information block.
    #[arg(short = 'H', long = "channel", requires = "version")]
    channel: Option<String>,
    /// Product version for the product information block.
    #[arg(short = 'V', long = "product-version", requires = "channel")]
    version: Option<String>,
    /// How to compress entries.
    #[arg(long, value_enum, default_value = "zstd")]
    compression: CompressionArg,
    /// Compression level (zstd 1-22, default 19; xz 0-9, default 6).
    #[arg(long)]
    level: Option<i32>,
    /// Sign with this private key (Ed25519 or RSA PEM); repeat for several signatures.
    #[arg(long = "sign-key")]
    sign_keys: Vec<PathBuf>,
    /// Files or directories (relative to -C) to add; directories are added recursively, sorted.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

impl CreateArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let compression = compression_setting(self.compression, self.level)?;
        let product_info = match (&self.channel, &self.version) {
            (Some(channel), Some(version)) => Some(ProductInfo::new(channel, version)?),
            _ => None,
        };
        create_archive(
            &self.output,
            &self.directory,
            &self.paths,
            compression,
            product_info,
            &self.sign_keys,
        )?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Maps the CLI's compression choice and optional level to a setting.
pub(crate) fn compression_setting(
    choice: CompressionArg,
    level: Option<i32>,
) -> anyhow::Result<Compression> {
    Ok(match choice {
        CompressionArg::Zstd => {
            let level = level.unwrap_or(19);
            anyhow::ensure!(
                (1..=22).contains(&level),
                "zstd level must be 1-22, got {level}"
            );
            Compression::Zstd { level }
        }
        CompressionArg::Xz => {
            let preset = level.unwrap_or(6);
            anyhow::ensure!(
                (0..=9).contains(&preset),
                "xz preset must be 0-9, got {preset}"
            );
            Compression::Xz {
                preset: preset as u32,
            }
        }
        CompressionArg::None => Compression::None,
    })
}

/// Builds and writes an archive; shared by `mar create` and Mozilla-style `mar -c`.
pub(crate) fn create_archive(
    output: &Path,
    directory: &Path,
    paths: &[PathBuf],
    compression: Compression,
    product_info: Option<ProductInfo>,
    sign_keys: &[PathBuf],
) -> anyhow::Result<()> {
    let mut builder = MarBuilder::new();
    builder.compression(compression);
    if let Some(pib) = product_info {
        builder.product_info(pib);
    }
    for path in sign_keys {
        builder.sign_with(SigningKey::load(path)?);
    }
    for path in paths {
        builder
            .add_path(directory, path)
            .with_context(|| format!("adding {}", path.display()))?;
    }
    let bar = progress::bytes_bar(builder.input_bytes(), "compressing");
    let progress_bar = bar.clone();
    builder.on_progress(Box::new(move |_, bytes| progress_bar.inc(bytes)));
    let summary = builder
        .write(output)
        .with_context(|| format!("writing {}", output.display()))?;
    bar.finish_and_clear();
    tracing::info!(
        entries = summary.entries,
        input_bytes = summary.input_bytes,
        file_len = summary.file_len,
        "wrote {}",
        output.display()
    );
    Ok(())
}
