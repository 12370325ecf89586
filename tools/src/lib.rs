//! The release coordinator's CLI, `kiln`, as a library: one module per subcommand under
//! [`cmd`] (each an `XxxArgs` clap struct with `run()`, dispatched from [`cmd::Command`]), plus
//! the release-signing building blocks the commands share.
//!
//! # Brief overview
//!
//! * [`cmd`]: `kiln fixtures`, `kiln keys`, `kiln repack`, `kiln sign`, `kiln checksums`,
//!   `kiln verify`, and the coordinator's `kiln init`, `go-to-build`, `promote`, `push`, `ship`,
//!   `signoff`, `chemspill`, `halt`, `status` and `quickstart`.
//! * [`release`]: the release pipeline those drive — configuration, the SQLite state, the five
//!   resumable promote stages, the update server's admin API, notices and git tags.
//! * [`signing::ed25519`]: detached `<file>.sig` Ed25519 signatures, with the `mar` crate's key
//!   files and key ids; [`signing::ed25519::ArtifactKey`] is the repack engine's signer.
//! * [`signing::openpgp`]: v4 release certificates (primary + signing subkey), detached armored
//!   signatures that stock `gpg --verify` accepts, and signing-subkey rotation.
//! * [`checksums`]: `SHA256SUMS`/`SHA512SUMS` (`<hex>  <relpath>`, sorted) and their checks.
//!
//! The crate glues [`l10n_repack`], [`kiln_fixtures`], `mar` and `updater_server` together; no
//! other Kiln crate depends on it. Private keys are read from files given on the command line and never written
//! to logs or output directories.
//!
//! ```
//! use kiln_tools::checksums::is_listed;
//! assert!(is_listed("linux-x86_64/de/firefox-121.0.tar.xz"));
//! assert!(!is_listed("linux-x86_64/de/firefox-121.0.tar.xz.sig"));
//! ```
#![deny(missing_docs)]

pub mod checksums;
pub mod cmd;
pub mod release;
pub mod signing;

pub use cmd::{Cli, Command};
