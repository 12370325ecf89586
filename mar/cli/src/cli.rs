//! Kiln's subcommands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{create, extract, info, keygen, list, sign, update, verify};

/// Create, list, extract, sign, verify and inspect Mozilla ARchive (MAR) files.
///
/// Mozilla-style invocations also work: `mar -c OUT [-H CHANNEL] [-V VERSION] [-C DIR] [-J] [-k KEY] FILE...`,
/// `mar -t FILE`, `mar -T FILE`, `mar -x FILE [-C DIR] [--auto]`, `mar -v FILE -k PUBKEY`.
/// Exit codes: 0 ok, 1 verification failed, 2 usage error or malformed input.
#[derive(Debug, Parser)]
#[command(name = "mar", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Create(create::CreateArgs),
    List(list::ListArgs),
    Extract(extract::ExtractArgs),
    Sign(sign::SignArgs),
    Verify(verify::VerifyArgs),
    Info(info::InfoArgs),
    Keygen(keygen::KeygenArgs),
    Update(update::UpdateArgs),
}

impl Cli {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Create(args) => args.run(),
            Command::List(args) => args.run(),
            Command::Extract(args) => args.run(),
            Command::Sign(args) => args.run(),
            Command::Verify(args) => args.run(),
            Command::Info(args) => args.run(),
            Command::Keygen(args) => args.run(),
            Command::Update(args) => args.run(),
        }
    }
}

/// Opens and parses an archive file (unverified).
pub(crate) fn open_archive(
    path: &std::path::Path,
) -> anyhow::Result<mar::Mar<std::io::BufReader<std::fs::File>>> {
    use anyhow::Context;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    mar::Mar::open(std::io::BufReader::new(file))
        .with_context(|| format!("reading {}", path.display()))
}

/// Loads public keys given on the command line.
pub(crate) fn load_public_keys(
    paths: &[std::path::PathBuf],
) -> anyhow::Result<Vec<mar::keys::PublicKey>> {
    paths
        .iter()
        .map(|p| mar::keys::PublicKey::load(p).map_err(anyhow::Error::from))
        .collect()
}
