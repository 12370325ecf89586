//! `kiln quickstart [--dir D] [--serve] [--json]`: the whole release train on local defaults
//! (see [`crate::release::quickstart`]).

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `kiln quickstart`.
#[derive(Debug, clap::Args)]
pub struct QuickstartArgs {
    /// Working directory (emptied first).
    #[arg(long, default_value = "target/quickstart")]
    pub dir: PathBuf,
    /// Keep the update server and the file server running afterwards.
    #[arg(long)]
    pub serve: bool,
    /// Print the summary as JSON at the end.
    #[arg(long)]
    pub json: bool,
}

impl QuickstartArgs {
    /// Runs quickstart.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let summary = crate::release::quickstart::run(&self.dir, self.serve)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        Ok(ExitCode::SUCCESS)
    }
}
