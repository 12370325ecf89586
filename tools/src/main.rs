//! `kiln`: parses the command line and runs the subcommand; errors go to stderr with exit 1.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match kiln_tools::Cli::parse().run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kiln: {error:#}");
            ExitCode::from(1)
        }
    }
}
