//! `mar extract`: safe extraction into a directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use mar::ExtractMode;

use crate::cli::open_archive;
use crate::progress;

/// Extract every entry into a directory (decompressed unless --raw).
#[derive(Debug, Args)]
pub(crate) struct ExtractArgs {
    /// The archive.
    file: PathBuf,
    /// Destination directory (created if missing).
    #[arg(short = 'C', long = "directory", default_value = ".")]
    directory: PathBuf,
    /// Write entries as stored, without decompressing.
    #[arg(long)]
    raw: bool,
}

impl ExtractArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let mode = if self.raw {
            ExtractMode::Raw
        } else {
            ExtractMode::Decompress
        };
        extract_archive(&self.file, &self.directory, mode)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Extracts with a progress bar; shared by `mar extract` and Mozilla-style `mar -x`.
pub(crate) fn extract_archive(
    file: &Path,
    directory: &Path,
    mode: ExtractMode,
) -> anyhow::Result<()> {
    let mut mar = open_archive(file)?;
    let stored: u64 = mar
        .entries()
        .iter()
        .map(|e| u64::from(e.stored_size()))
        .sum();
    let bar = progress::bytes_bar(stored, "extracting");
    let sizes: std::collections::HashMap<String, u64> = mar
        .entries()
        .iter()
        .map(|e| (e.name().to_string(), u64::from(e.stored_size())))
        .collect();
    let summary = mar::extract_all(&mut mar, directory, mode, &mut |name, _| {
        bar.inc(sizes.get(name).copied().unwrap_or(0))
    })
    .with_context(|| format!("extracting {} into {}", file.display(), directory.display()))?;
    bar.finish_and_clear();
    tracing::info!(files = summary.files, bytes = summary.bytes, "extracted");
    Ok(())
}
