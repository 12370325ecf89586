//! `kiln`: parses the command line and runs the subcommand; errors go to stderr with exit 1.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

fn main() -> ExitCode {
    // Warnings (or $KILN_LOG) to stderr; info and up to the current release's log file.
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        );
    let file = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(kiln_tools::release::log::ReleaseLog)
        .with_filter(tracing_subscriber::EnvFilter::new("kiln_tools=info"));
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .init();
    match kiln_tools::Cli::parse().run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kiln: {error:#}");
            ExitCode::from(1)
        }
    }
}
