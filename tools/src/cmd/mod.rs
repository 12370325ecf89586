//! The `kiln` command line: one module per subcommand, each an `XxxArgs` clap struct with a
//! `run()` method, dispatched from [`Command`].

pub mod checksums;
pub mod fixtures;
pub mod keys;
pub mod quickstart;
pub mod release;
pub mod repack;
pub mod sign;
pub mod verify;
pub mod worker;

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
    /// Write a release configuration (kiln.toml) and create the state database.
    Init(release::InitArgs),
    /// Register a release (Product-V-buildN), tag it, send the notice, then promote it.
    GoToBuild(release::GoToBuildArgs),
    /// Run or resume configure → construct → certify → package → deploy.
    Promote(release::PromoteArgs),
    /// Copy candidates to releases/V/ (filtered, immutable) and update the cdntest channel.
    Push(release::PushArgs),
    /// Schedule the signoff-gated rule change that ships the release.
    Ship(release::ShipArgs),
    /// Sign off a pending ship on the update server.
    Signoff(release::SignoffArgs),
    /// An urgent dot release: go-to-build, promote, push and ship unthrottled.
    Chemspill(release::GoToBuildArgs),
    /// Stop a release: no further stage runs; writes the stop notice.
    Halt(release::HaltArgs),
    /// Where every release and stage stands.
    Status(release::StatusArgs),
    /// Claim and run the units a coordinator queued (`[pipeline] executor = "workers"`).
    Worker(worker::WorkerArgs),
    /// Apply the state database's pending schema migrations.
    Migrate(worker::MigrateArgs),
    /// Everything end to end on local defaults: fixtures, keys, server, four releases.
    Quickstart(quickstart::QuickstartArgs),
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
            Command::Init(args) => args.run(),
            Command::GoToBuild(args) => args.run("release"),
            Command::Promote(args) => args.run(),
            Command::Push(args) => args.run(),
            Command::Ship(args) => args.run(),
            Command::Signoff(args) => args.run(),
            Command::Chemspill(args) => args.run("chemspill"),
            Command::Halt(args) => args.run(),
            Command::Status(args) => args.run(),
            Command::Quickstart(args) => args.run(),
            Command::Worker(args) => args.run(),
            Command::Migrate(args) => args.run(),
        }
    }
}
