//! `kiln worker` (run the units a coordinator queued) and `kiln migrate` (bring the state
//! database's schema up to date).

use std::process::ExitCode;
use std::time::Duration;

use crate::cmd::release::ConfigArg;
use crate::release::state::State;
use crate::release::worker::{self, WorkerOptions};

/// Arguments of `kiln worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// This worker's name in the queue and in `kiln status` (default `<hostname>:<pid>`).
    #[arg(long)]
    pub name: Option<String>,
    /// Exit once nothing is queued or claimed and no release is being promoted (for CI jobs
    /// and Kubernetes Jobs); without it the worker waits for work until stopped.
    #[arg(long)]
    pub exit_when_idle: bool,
    /// How often an idle worker looks for work, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub poll_ms: u64,
    /// Print the summary as JSON when the worker exits.
    #[arg(long)]
    pub json: bool,
}

impl WorkerArgs {
    /// Runs the worker loop.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let config = self.config.load()?;
        let report = worker::run(
            &config,
            &WorkerOptions {
                name: self.name,
                exit_when_idle: self.exit_when_idle,
                poll: Duration::from_millis(self.poll_ms),
            },
        )?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "worker {}: {} unit(s) finished, {} refused (lease lost), {} failed",
                report.name, report.finished, report.refused, report.failed
            );
        }
        Ok(if report.failed > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// Arguments of `kiln migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    config: ConfigArg,
}

impl MigrateArgs {
    /// Applies the state database's pending migrations and says which.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let config = self.config.load()?;
        let state = State::connect(&config.state_db)?;
        let applied = state.migrate()?;
        if applied.is_empty() {
            println!("{}: up to date", config.state_db);
        } else {
            let list: Vec<String> = applied.iter().map(ToString::to_string).collect();
            println!(
                "{}: applied migration(s) {}",
                config.state_db,
                list.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
