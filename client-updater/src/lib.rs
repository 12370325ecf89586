//! Kiln's embeddable client updater: what an application links to keep itself current.
//!
//! The flow, each step a module with one job:
//! 1. [`Identity`] is read from the install's resources directory (the root, or
//!    `Contents/Resources/` of a mac bundle: [`mar::update::layout`]) — `application.ini`,
//!    `update-settings.ini`, `channel-prefs.js`, `update.locale`, `distribution/distribution.ini`
//!    — and substituted into the [`UrlTemplate`] (Firefox's `%PRODUCT%` … `%DISTRIBUTION_VERSION%`, percent-encoded).
//! 2. [`Updater::check`] fetches the update XML (size-capped), requires a valid, unexpired
//!    `Content-Signature` from a pinned key ([`signature`]), parses it strictly ([`xml`]) and
//!    selects an [`UpdateOffer`] as Firefox does ([`offer`]).
//! 3. [`Updater::download`] streams a patch into `updates/downloading/`, resumable with `Range`,
//!    capped at the advertised size, under a deadline and a minimum rate, checked with SHA-512,
//!    then moved to `updates/0/` ([`download`]).
//! 4. [`Updater::verify`] checks the MAR's signatures against the pinned keys and threshold and its
//!    product information (channel 22, version 23) — the only way to get a [`VerifiedUpdate`],
//!    which is the only thing [`Updater::install`] accepts.
//! 5. [`Updater::install`] stages the update into a copy (`applied`) or leaves it `pending`;
//!    [`Updater::finish_pending`] (at the next start) swaps the staged copy in or applies in place,
//!    crash-safe: the install is always exactly old or exactly new ([`swap`], `mar`'s journal).
//!
//! [`Updater::update_once`] runs the whole sequence with the partial → complete fallback;
//! [`Updater::start_background`] runs checks on a thread and reports [`Event`]s.
//!
//! ```no_run
//! use client_updater::Updater;
//! # fn main() -> Result<(), client_updater::Error> {
//! let updater = Updater::from_install_config(std::path::Path::new("/opt/firefox"))?.build()?;
//! client_updater::recover_install(std::path::Path::new("/opt/firefox"))?; // first, at launch
//! updater.finish_pending()?;
//! if let Some(offer) = updater.check(false)? {
//!     let downloaded = updater.download(&offer, &|done, total| eprintln!("{done}/{total}"))?;
//!     let verified = updater.verify(&downloaded)?;
//!     updater.install(verified)?;
//! }
//! # Ok(()) }
//! ```
//!
//! Or in the background, as README's "Embed the updater" shows:
//!
//! ```no_run
//! use client_updater::{background::DEFAULT_PROMPT_WAIT, recover_install, Background, Updater};
//!
//! /// Run at launch, before the application proper; keep the handle for the app's lifetime.
//! fn start_updater(install: &std::path::Path) -> Result<Background, client_updater::Error> {
//!     recover_install(install)?; // an interrupted update ends exactly old or exactly new
//!     let updater = Updater::from_install_config(install)?.build()?; // reads kiln-update.toml
//!     updater.finish_pending()?; // swaps in a staged update, or applies a pending one
//!     Ok(updater.start_background(DEFAULT_PROMPT_WAIT)) // checks every 12 h (+ jitter)
//! }
//! ```
#![deny(missing_docs)]

pub mod background;
pub mod clock;
pub mod config;
mod crash;
pub mod download;
mod error;
pub mod identity;
pub mod limits;
pub mod offer;
pub mod report;
pub mod signature;
pub mod status;
pub mod swap;
pub mod transport;
mod updater;
pub mod url;
pub mod xml;

pub use background::{Background, Event};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::UpdateConfig;
pub use download::Downloaded;
pub use error::{Error, ErrorKind};
pub use identity::Identity;
pub use limits::Limits;
pub use offer::{PatchType, UpdateOffer, UpdatePatch};
pub use signature::ResponseKey;
pub use status::{ActiveUpdate, StatusFiles, UpdateState};
pub use transport::UrlRefused;
pub use updater::{
    recover_install, Outcome, StartOutcome, Updater, UpdaterBuilder, VerifiedUpdate,
    DEFAULT_INTERVAL,
};
pub use url::UrlTemplate;
