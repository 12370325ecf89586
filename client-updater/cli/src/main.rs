//! `kiln-client`: the application stand-in that embeds `client_updater`.
//!
//! Exit codes: 0 done or no update; 1 update refused or failed (signature, channel, version,
//! hash, size, the update server's HTTP 4xx, a failed apply — also `start` when the waiting update
//! failed or was discarded); 2
//! usage or configuration error (also an install directory inside a mac bundle); 3 network
//! failure after every URL and retry.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use client_updater::{Error, ErrorKind, Event, Outcome, StartOutcome, Updater, UpdaterBuilder};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(
    name = "kiln-client",
    version,
    about = "Kiln's client updater, as an application runs it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check for an update and print the offer.
    Check(CheckArgs),
    /// Check, download, verify, then stage (`applied`) or leave `pending`.
    Update(UpdateArgs),
    /// What an application does at launch: recover, finish a waiting update, print the version.
    Start(Common),
    /// Print the update status.
    Status(StatusArgs),
    /// Run the background updater and print its events.
    Watch(WatchArgs),
}

#[derive(Args, Debug)]
struct Common {
    /// The install root: the directory the update archives' paths are relative to
    /// (`Firefox.app` for a mac bundle, whose `Contents/Resources/` holds `kiln-update.toml`).
    #[arg(long)]
    install: PathBuf,
    /// Update URL template (overrides `urls` of `kiln-update.toml`; repeatable).
    #[arg(long = "url")]
    urls: Vec<String>,
    /// Report URL (overrides `report_url`).
    #[arg(long)]
    report_url: Option<String>,
    /// Channel (overrides `channel-prefs.js` and `channel`).
    #[arg(long)]
    channel: Option<String>,
    /// Download deadline in seconds (default 3600).
    #[arg(long)]
    deadline_secs: Option<u64>,
    /// Minimum download rate in bytes/s (default 4096), measured over `--rate-window-secs`.
    #[arg(long)]
    min_rate: Option<u64>,
    /// Window of the minimum rate, seconds (default 30).
    #[arg(long)]
    rate_window_secs: Option<u64>,
}

#[derive(Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    common: Common,
    /// A manual check (`force=1`).
    #[arg(long)]
    force: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct UpdateArgs {
    #[command(flatten)]
    common: Common,
    /// Stage into a copy (status `applied`) instead of leaving it `pending` (the default unless
    /// `staging = true` in kiln-update.toml).
    #[arg(long, conflicts_with = "no_stage")]
    stage: bool,
    /// Leave it `pending` (applied in place at the next start).
    #[arg(long)]
    no_stage: bool,
    /// A manual check (`force=1`).
    #[arg(long)]
    force: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// The install root (`Firefox.app` for a mac bundle).
    #[arg(long)]
    install: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct WatchArgs {
    #[command(flatten)]
    common: Common,
    /// Seconds between checks (default from the configuration, else 43200).
    #[arg(long)]
    interval_secs: Option<u64>,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long)]
    for_secs: Option<u64>,
}

fn builder(common: &Common) -> Result<UpdaterBuilder, Error> {
    // An interrupted swap may have moved the configuration aside: recover before reading it.
    client_updater::recover_install(&common.install)?;
    let mut b = Updater::from_install_config(&common.install)?;
    if !common.urls.is_empty() {
        b = b.urls(common.urls.clone());
    }
    if let Some(url) = &common.report_url {
        b = b.report_url(url);
    }
    if let Some(channel) = &common.channel {
        b = b.channel(channel);
    }
    let mut limits = client_updater::Limits::default();
    if let Some(s) = common.deadline_secs {
        limits.download_deadline = Duration::from_secs(s);
    }
    if let Some(r) = common.min_rate {
        limits.min_rate_bytes_per_sec = r;
    }
    if let Some(w) = common.rate_window_secs {
        limits.min_rate_window = Duration::from_secs(w);
    }
    Ok(b.limits(limits))
}

fn exit_for(e: &Error) -> ExitCode {
    ExitCode::from(match e.kind() {
        ErrorKind::Refused | ErrorKind::Failed => 1,
        ErrorKind::Config => 2,
        ErrorKind::Network => 3,
    })
}

fn fail(e: &Error, json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            json!({"result": "error", "error": e.to_string(), "code": e.code(), "kind": format!("{:?}", e.kind())})
        );
    }
    tracing::error!("{e}");
    eprintln!("kiln-client: {e}");
    exit_for(e)
}

fn check(args: &CheckArgs) -> ExitCode {
    let updater = match builder(&args.common).and_then(|b| b.build()) {
        Ok(u) => u,
        Err(e) => return fail(&e, args.json),
    };
    match updater.check(args.force) {
        Ok(offer) => {
            if args.json {
                println!(
                    "{}",
                    json!({"result": if offer.is_some() {"update"} else {"no-update"}, "offer": offer, "url": updater.check_urls(args.force).ok().and_then(|u| u.into_iter().next())})
                );
            } else {
                match offer {
                    Some(o) => println!(
                        "update available: {} (build {})",
                        o.display_version, o.build_id
                    ),
                    None => println!("no update"),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, args.json),
    }
}

fn update(args: &UpdateArgs) -> ExitCode {
    let mut b = match builder(&args.common) {
        Ok(b) => b,
        Err(e) => return fail(&e, args.json),
    };
    // `--stage` stages, `--no-stage` leaves it pending; without either, `staging` of
    // kiln-update.toml decides, and pending is the default.
    let configured = client_updater::UpdateConfig::load(&args.common.install)
        .ok()
        .and_then(|c| c.staging);
    b = b.staging(args.stage || (!args.no_stage && configured.unwrap_or(false)));
    let updater = match b.build() {
        Ok(u) => u,
        Err(e) => return fail(&e, args.json),
    };
    let result = updater.update_once(args.force);
    let state = updater.status().state().map(|s| s.to_string());
    match result {
        Ok(outcome) => {
            let (result, offer, patch) = match &outcome {
                Outcome::NoUpdate => ("no-update", None, None),
                Outcome::Unsupported(o) => ("unsupported", Some(o), None),
                Outcome::Staged(o, p) => ("applied", Some(o), Some(p.as_str())),
                Outcome::Pending(o, p) => ("pending", Some(o), Some(p.as_str())),
            };
            if args.json {
                println!(
                    "{}",
                    json!({"result": result, "status": state, "patch_type": patch, "version": offer.map(|o| &o.app_version), "mirror_failures": updater.last_mirror_failures()})
                );
            } else {
                println!("{result}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    json!({"result": "error", "status": state, "error": e.to_string(), "code": e.code(), "kind": format!("{:?}", e.kind()), "mirror_failures": updater.last_mirror_failures()})
                );
            }
            eprintln!("kiln-client: {e}");
            exit_for(&e)
        }
    }
}

fn start(common: &Common) -> ExitCode {
    let updater = match builder(common).and_then(|b| b.build()) {
        Ok(u) => u,
        Err(e) => return fail(&e, false),
    };
    let outcome = match updater.finish_pending() {
        Ok(o) => o,
        Err(e) => return fail(&e, false),
    };
    let exit = match &outcome {
        StartOutcome::Nothing => ExitCode::SUCCESS,
        StartOutcome::Updated(v) => {
            tracing::info!("updated to {v}");
            ExitCode::SUCCESS
        }
        StartOutcome::Failed(code) => {
            eprintln!("kiln-client: update failed: {code}");
            ExitCode::from(1)
        }
        StartOutcome::Discarded => {
            eprintln!("kiln-client: stale update discarded");
            ExitCode::from(1)
        }
    };
    // The application starts either way: print what is installed now.
    match updater.identity() {
        Ok(id) => {
            println!("{} {} ({})", id.product, id.version, id.build_id);
            exit
        }
        Err(e) => fail(&e, false),
    }
}

fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    if let Err(e) = mar::update::check_install_root(&args.install) {
        eprintln!("kiln-client: {e}");
        return Ok(ExitCode::from(2));
    }
    let root = args.install.join("updates");
    let files = client_updater::StatusFiles::new(&root);
    let state = files.state().map(|s| s.to_string());
    let active = files.active();
    if args.json {
        println!(
            "{}",
            json!({"status": state, "version": files.version(), "active": active})
        );
    } else {
        println!("status: {}", state.as_deref().unwrap_or("none"));
        if let Some(a) = active {
            println!(
                "update: {} → {} ({})",
                a.from_version,
                a.app_version,
                a.patch_type.as_str()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn watch(args: &WatchArgs) -> ExitCode {
    let mut b = match builder(&args.common) {
        Ok(b) => b,
        Err(e) => return fail(&e, false),
    };
    if let Some(s) = args.interval_secs {
        b = b.check_interval(Duration::from_secs(s), Duration::ZERO);
    }
    let updater = match b.build() {
        Ok(u) => u,
        Err(e) => return fail(&e, false),
    };
    let background = updater.start_background(client_updater::background::DEFAULT_PROMPT_WAIT);
    let until = args
        .for_secs
        .map(|s| std::time::Instant::now() + Duration::from_secs(s));
    loop {
        let wait = until
            .map(|u| u.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        if wait.is_zero() {
            break;
        }
        match background.events().recv_timeout(wait) {
            Ok(event) => print_event(&event),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    background.shutdown();
    ExitCode::SUCCESS
}

fn print_event(event: &Event) {
    let line = match event {
        Event::NoUpdate => json!({"event": "no-update"}),
        Event::Available(o) => json!({"event": "available", "version": o.app_version}),
        Event::Progress { done, total } => {
            json!({"event": "progress", "done": done, "total": total})
        }
        Event::Downloaded(o) => json!({"event": "downloaded", "version": o.app_version}),
        Event::ReadyToRestart(o) => json!({"event": "ready-to-restart", "version": o.app_version}),
        Event::Failed { error, code } => json!({"event": "failed", "error": error, "code": code}),
    };
    println!("{line}");
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    Ok(match cli.command {
        Command::Check(args) => check(&args),
        Command::Update(args) => update(&args),
        Command::Start(common) => start(&common),
        Command::Status(args) => status(&args).context("reading the status")?,
        Command::Watch(args) => watch(&args),
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    run(cli).unwrap_or_else(|e| {
        eprintln!("kiln-client: {e:#}");
        ExitCode::from(2)
    })
}
