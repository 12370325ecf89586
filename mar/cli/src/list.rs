//! `mar list`: the entry table, in Mozilla's `SIZE<TAB>MODE<TAB>NAME` layout.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cli::open_archive;

/// List entries: stored size, mode and name (Mozilla's layout).
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The archive.
    file: PathBuf,
    /// Also show each entry's storage format and unpacked size (decodes every entry).
    #[arg(long)]
    long: bool,
}

impl ListArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let mut mar = open_archive(&self.file)?;
        let mut out = std::io::stdout().lock();
        if self.long {
            writeln!(out, "SIZE\tMODE\tFORMAT\tUNPACKED\tNAME")?;
            for entry in mar.entries().to_vec() {
                let format = mar.stored_format(&entry)?;
                let unpacked = mar.copy_entry(&entry, &mut std::io::sink())?;
                writeln!(
                    out,
                    "{}\t{:04o}\t{}\t{}\t{}",
                    entry.stored_size(),
                    entry.raw_flags(),
                    format.name(),
                    unpacked,
                    entry.name()
                )?;
            }
        } else {
            write_table(&mut out, &mar)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Writes Mozilla's `SIZE\tMODE\tNAME` table (mode printed `0%o`, e.g. `0644`).
pub(crate) fn write_table<R>(out: &mut dyn Write, mar: &mar::Mar<R>) -> std::io::Result<()> {
    writeln!(out, "SIZE\tMODE\tNAME")?;
    for entry in mar.entries() {
        writeln!(
            out,
            "{}\t0{:o}\t{}",
            entry.stored_size(),
            entry.raw_flags(),
            entry.name()
        )?;
    }
    Ok(())
}
