//! `mar`: create, list, extract, sign, verify and inspect MAR archives.
//!
//! Kiln's subcommands (`mar create`, `mar list`, ...) plus the flags of Mozilla's tools for the
//! common cases (`mar -c`, `-t`, `-T`, `-x`, `-v`), so existing scripts keep working.
//! Exit codes: 0 ok, 1 verification failed, 2 usage error or malformed input.

mod cli;
mod create;
mod extract;
mod info;
mod keygen;
mod list;
mod mozilla;
mod progress;
mod sign;
mod update;
mod verify;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let result = if mozilla::is_mozilla_invocation(&args) {
        mozilla::MozillaArgs::parse_from(&args).run()
    } else {
        cli::Cli::parse_from(&args).run()
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mar: {err:#}");
            exit_code_for(&err)
        }
    }
}

/// 1 when an archive failed verification, 2 for everything else (usage, malformed input, I/O).
fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    let verification = err.chain().any(|cause| {
        cause
            .downcast_ref::<mar::Error>()
            .is_some_and(mar::Error::is_verification_failure)
    });
    if verification {
        ExitCode::from(1)
    } else {
        ExitCode::from(2)
    }
}
