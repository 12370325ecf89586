//! The coordinator's commands: `kiln init`, `go-to-build`, `promote`, `push`, `ship`,
//! `signoff`, `chemspill`, `halt` and `status`. Each takes `--config` (default `./kiln.toml`)
//! and prints a summary (`--json` for scripts).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::release::config::Config;
use crate::release::coordinator::{self, GoToBuild, Partials};
use crate::release::name::Version;
use mar::update::version::Line;

/// `--config` shared by every release command.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The release configuration.
    #[arg(long, global = true, default_value = "kiln.toml")]
    pub config: PathBuf,
}

impl ConfigArg {
    /// Loads the configuration.
    pub fn load(&self) -> anyhow::Result<Config> {
        Ok(Config::load(&self.config)?)
    }
}

/// Arguments of `kiln init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to write `kiln.toml` into (created if missing).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Product name.
    #[arg(long, default_value = "Firefox")]
    pub product: String,
    /// MAR channel id the builds accept (default `<lowercase product>-mozilla-<channel>`).
    #[arg(long)]
    pub mar_channel_id: Option<String>,
    /// The release line: its update channel (`release`, `beta` or `esr`), which also picks the
    /// default MAR channel id (`firefox-mozilla-beta`).
    #[arg(long, default_value = "release", value_parser = parse_line)]
    pub channel: Line,
}

fn parse_line(s: &str) -> Result<Line, String> {
    Line::from_channel(s).ok_or_else(|| format!("{s:?} is not release, beta or esr"))
}

impl InitArgs {
    /// Writes `DIR/kiln.toml` (refusing to overwrite one) and creates the state database.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join("kiln.toml");
        anyhow::ensure!(!path.exists(), "{} already exists", path.display());
        let mut config = Config::template(&self.product);
        config.set_line(self.channel);
        if let Some(id) = self.mar_channel_id {
            config.mar_channel_id = id;
        }
        config.save(&path)?;
        let config = Config::load(&path)?;
        coordinator::open_state(&config)?;
        println!(
            "wrote {}; edit it, then: kiln go-to-build --version V --revision R",
            path.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// Arguments of `kiln go-to-build` and `kiln chemspill`.
#[derive(Debug, clap::Args)]
pub struct GoToBuildArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The version to build, of the kiln.toml line: 121.0, 121.0.1, 132.0b3 or 128.5.0esr.
    #[arg(long)]
    pub version: Version,
    /// The source revision (a git commit, tag or branch of the product's repository).
    #[arg(long)]
    pub revision: String,
    /// The build number (a respin uses the next one).
    #[arg(long, default_value_t = 1)]
    pub build: u32,
    /// Partial sources: `auto` (the last N shipped of the line) or versions `V1,V2`.
    #[arg(long, default_value = "auto")]
    pub partials: Partials,
    /// Only register the release; do not run promote.
    #[arg(long)]
    pub no_promote: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

impl GoToBuildArgs {
    /// Runs go-to-build (kind `release`) or chemspill: register, then promote; a chemspill also
    /// pushes and ships unthrottled.
    pub fn run(self, kind: &'static str) -> anyhow::Result<ExitCode> {
        let config = self.config.load()?;
        let state = coordinator::open_state(&config)?;
        let row = coordinator::go_to_build(
            &config,
            &state,
            &GoToBuild {
                version: self.version.clone(),
                revision: self.revision.clone(),
                build: self.build,
                partials: self.partials.clone(),
                kind,
                created_by: coordinator::whoami(),
            },
        )?;
        println!(
            "registered {} at {} (partials: {}; next version {})",
            row.name,
            &row.revision[..12.min(row.revision.len())],
            if row.partials.is_empty() {
                "none".to_owned()
            } else {
                row.partials.join(", ")
            },
            row.next_version
        );
        if self.no_promote {
            return Ok(ExitCode::SUCCESS);
        }
        let report = coordinator::promote(&config, &state, row, None)?;
        print_promote(&report, self.json)?;
        if kind == "chemspill" {
            let row = state.release(&report.release)?;
            let pushed = coordinator::push(&config, &state, row)?;
            println!("pushed: {pushed}");
            let sc = coordinator::ship(&config, &state, state.release(&report.release)?, 100)?;
            println!("ship scheduled (change {sc}, rate 100%): waiting for signoffs");
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn print_promote(report: &coordinator::PromoteReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!(
            "promoted {}: {} items: {} in {:.1}s",
            report.release,
            report.total.total(),
            report.total,
            report.seconds
        );
    }
    Ok(())
}

/// Arguments of `kiln promote`.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The release (default: the newest).
    pub release: Option<String>,
    /// Run only repack chunk K of N (for an external job runner), then stop.
    #[arg(long)]
    pub chunk: Option<l10n_repack::Chunk>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

impl PromoteArgs {
    /// Runs (or resumes) promote.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let config = self.config.load()?;
        let state = coordinator::open_state(&config)?;
        let row = coordinator::pick(&state, self.release.as_deref())?;
        let report = coordinator::promote(&config, &state, row, self.chunk)?;
        print_promote(&report, self.json)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Arguments of `kiln push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The release (default: the newest).
    pub release: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

impl PushArgs {
    /// Copies candidates to releases and points the cdntest channel at the release.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let config = self.config.load()?;
        let state = coordinator::open_state(&config)?;
        let row = coordinator::pick(&state, self.release.as_deref())?;
        let name = row.name.clone();
        let report = coordinator::push(&config, &state, row)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "pushed {name}: {report}; {} serves it",
                config.cdntest_channel()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Arguments of `kiln ship`.
#[derive(Debug, clap::Args)]
pub struct ShipArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The release (default: the newest).
    pub release: Option<String>,
    /// backgroundRate of the release rule, percent.
    #[arg(long, default_value_t = 100)]
    pub rate: u8,
}

impl ShipArgs {
    /// Schedules the signoff-gated rule change.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let config = self.config.load()?;
        let state = coordinator::open_state(&config)?;
        let row = coordinator::pick(&state, self.release.as_deref())?;
        let name = row.name.clone();
        let sc = coordinator::ship(&config, &state, row, self.rate)?;
        println!(
            "ship of {name} scheduled as change {sc} ({}%); waiting for signoffs",
            self.rate
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// Arguments of `kiln signoff`.
#[derive(Debug, clap::Args)]
pub struct SignoffArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The release.
    pub release: String,
    /// The role signing off (e.g. relman, releng).
    #[arg(long)]
    pub role: String,
    /// The signer's own bearer token (default: the configured admin token).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

impl SignoffArgs {
    /// Records the signoff; reports whether the release is now shipped.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let config = self.config.load()?;
        let state = coordinator::open_state(&config)?;
        let row = state.release(&self.release)?;
        let row =
            coordinator::signoff(&config, &state, row, &self.role, self.token_file.as_deref())?;
        println!("{} is {}", row.name, row.status);
        Ok(ExitCode::SUCCESS)
    }
}

/// Arguments of `kiln halt`.
#[derive(Debug, clap::Args)]
pub struct HaltArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The release.
    pub release: String,
    /// Why (goes into the stop notice).
    #[arg(long)]
    pub reason: String,
}

impl HaltArgs {
    /// Halts the release.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let config = self.config.load()?;
        let state = coordinator::open_state(&config)?;
        let row = state.release(&self.release)?;
        coordinator::halt(&config, &state, row, &self.reason)?;
        println!("{} halted", self.release);
        Ok(ExitCode::SUCCESS)
    }
}

/// Arguments of `kiln status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Only this release.
    pub release: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl StatusArgs {
    /// Prints every release, its stages and item counts.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let config = self.config.load()?;
        let state = coordinator::open_state(&config)?;
        let reports = coordinator::status(&config, &state, self.release.as_deref())
            .context("reading the state")?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&reports)?);
            return Ok(ExitCode::SUCCESS);
        }
        for report in &reports {
            let r = &report.release;
            let interrupted = if report.interrupted {
                " — interrupted: no process is working on it; rerun the command to resume"
            } else {
                ""
            };
            println!(
                "{}  {}{interrupted}  ({}, revision {}, partials: {})",
                r.name,
                r.status,
                r.kind,
                &r.revision[..12.min(r.revision.len())],
                if r.partials.is_empty() {
                    "none".to_owned()
                } else {
                    r.partials.join(", ")
                }
            );
            for phase in &report.phases {
                let (done, failed) = report.items.get(&phase.stage).copied().unwrap_or_default();
                println!(
                    "  {:>9}  {:<7}  {done} done, {failed} failed",
                    phase.stage, phase.status
                );
            }
            for unit in report.units.iter().filter(|u| !u.collected) {
                println!(
                    "  {:>9}  unit {} {} by {} (attempt {})",
                    unit.stage,
                    unit.unit,
                    unit.status,
                    unit.worker.as_deref().unwrap_or("nobody yet"),
                    unit.attempts
                );
            }
            if let Some(note) = &r.note {
                println!("  note: {note}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
