//! The `kiln` command line: one module per subcommand, each an `XxxArgs` clap struct with a
//! `run()` method, dispatched from [`Command`].

pub mod checksums;
pub mod fixtures;
pub mod keys;
pub mod repack;
pub mod sign;
pub mod verify;

use std::process::ExitCode;

/// Kiln: release engineering for desktop software.
#[derive(Debug, clap::Parser)]
#[command(name = "kiln", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Generate synthetic product builds, locale sources and partner configs.
    Fixtures(fixtures::FixturesArgs),
    /// Generate or rotate signing keys.
    Keys(keys::KeysArgs),
    /// Repack en-US builds into every locale and partner build.
    Repack(repack::RepackArgs),
    /// Write `<file>.sig` (Ed25519) for every archive of a build directory.
    Sign(sign::SignArgs),
    /// Write SHA256SUMS/SHA512SUMS with OpenPGP signatures, Linux tarball `.asc` files and KEY.
    Checksums(checksums::ChecksumsArgs),
    /// Verify every .sig and both SUMS files of a build directory.
    Verify(verify::VerifyArgs),
}

impl Cli {
    /// Runs the chosen subcommand; the exit code reports verification failures.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Fixtures(args) => args.run(),
            Command::Keys(args) => args.run(),
            Command::Repack(args) => args.run(),
            Command::Sign(args) => args.run(),
            Command::Checksums(args) => args.run(),
            Command::Verify(args) => args.run(),
        }
    }
}
