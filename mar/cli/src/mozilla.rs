//! Mozilla-compatible invocations (`mar -c/-t/-T/-x/-v`), for existing scripts.
//!
//! Flags follow build-mar (PyPI `mar`) and the C `mar` tool: `-x` writes entries as stored unless
//! `--auto`, `-J` or `-j` asks for decompression, as both Mozilla tools do; `-j` (bzip2) is read
//! only, so creating with it is refused.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use mar::{Compression, ExtractMode, ProductInfo};

use crate::cli::open_archive;
use crate::{create, extract, list, verify};

/// Mode flags that mark a Mozilla-style invocation.
const MODE_FLAGS: [&str; 5] = ["-c", "-t", "-T", "-x", "-v"];

/// True when the arguments use Mozilla's flags rather than a subcommand.
pub(crate) fn is_mozilla_invocation(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .any(|a| a.to_str().is_some_and(|a| MODE_FLAGS.contains(&a)))
        && args
            .get(1)
            .and_then(|a| a.to_str())
            .is_some_and(|a| a.starts_with('-') && a != "-h" && a != "--help" && a != "--version")
}

/// Mozilla-compatible flags of the `mar` tool.
#[derive(Debug, Parser)]
#[command(name = "mar", disable_version_flag = true)]
#[command(group(ArgGroup::new("mode").required(true).args(["create", "list", "list_detailed", "extract", "verify"])))]
pub(crate) struct MozillaArgs {
    /// Create an archive.
    #[arg(short = 'c', value_name = "OUT")]
    create: Option<PathBuf>,
    /// List entries.
    #[arg(short = 't', value_name = "FILE")]
    list: Option<PathBuf>,
    /// List entries with signature and product information.
    #[arg(short = 'T', value_name = "FILE")]
    list_detailed: Option<PathBuf>,
    /// Extract entries (as stored unless --auto, -J or -j).
    #[arg(short = 'x', value_name = "FILE")]
    extract: Option<PathBuf>,
    /// Verify signatures with -k public keys.
    #[arg(short = 'v', value_name = "FILE")]
    verify: Option<PathBuf>,
    /// MAR channel id (with -c).
    #[arg(short = 'H')]
    channel: Option<String>,
    /// Product version (with -c).
    #[arg(short = 'V')]
    version: Option<String>,
    /// Directory to read files from (-c) or extract into (-x).
    #[arg(short = 'C', default_value = ".")]
    directory: PathBuf,
    /// xz compression (-c) or decompression (-x).
    #[arg(short = 'J')]
    xz: bool,
    /// bzip2 (-x only; Kiln does not write bzip2).
    #[arg(short = 'j')]
    bzip2: bool,
    /// Decompress by detected format when extracting.
    #[arg(long)]
    auto: bool,
    /// Private key to sign with (-c) or public key to verify with (-v); repeatable.
    #[arg(short = 'k')]
    keys: Vec<PathBuf>,
    /// Files to add (with -c).
    files: Vec<PathBuf>,
}

impl MozillaArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        if let Some(out) = &self.create {
            anyhow::ensure!(!self.bzip2, "-j (bzip2) cannot be written: Firefox's updater only reads xz; use -J or Kiln's zstd default");
            anyhow::ensure!(
                !self.files.is_empty(),
                "must specify at least one file to add"
            );
            let product_info = match (&self.channel, &self.version) {
                (Some(channel), Some(version)) => Some(ProductInfo::new(channel, version)?),
                (None, None) => None,
                _ => anyhow::bail!("-H and -V must be given together"),
            };
            let compression = if self.xz {
                Compression::XZ_DEFAULT
            } else {
                Compression::default()
            };
            create::create_archive(
                out,
                &self.directory,
                &self.files,
                compression,
                product_info,
                &self.keys,
            )?;
        } else if let Some(file) = &self.list {
            list::write_table(&mut std::io::stdout().lock(), &open_archive(file)?)?;
        } else if let Some(file) = &self.list_detailed {
            print_detailed(file)?;
        } else if let Some(file) = &self.extract {
            let mode = if self.auto || self.xz || self.bzip2 {
                ExtractMode::Decompress
            } else {
                ExtractMode::Raw
            };
            extract::extract_archive(file, &self.directory, mode)?;
        } else if let Some(file) = &self.verify {
            anyhow::ensure!(!self.keys.is_empty(), "-v needs at least one -k public key");
            verify::verify_archive(file, &self.keys, self.keys.len())?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `-T`: signatures and product information, then the entry table (build-mar's layout).
fn print_detailed(file: &std::path::Path) -> anyhow::Result<()> {
    let mar = open_archive(file)?;
    if mar.layout() == mar::Layout::Current {
        let count = mar.signatures().len();
        println!(
            "Signature block found with {count} signature{}",
            if count == 1 { "" } else { "s" }
        );
        for signature in mar.signatures() {
            println!(
                "- Signature {} size {}",
                signature.algorithm().id(),
                signature.value().len()
            );
        }
        println!();
        if let Some(pib) = mar.product_info() {
            println!("1 additional block found:");
            println!("  - Product Information Block:");
            println!("    - MAR channel name: {}", pib.channel());
            println!("    - Product version: {}", pib.version());
            println!();
        }
    }
    list::write_table(&mut std::io::stdout().lock(), &mar)?;
    Ok(())
}
