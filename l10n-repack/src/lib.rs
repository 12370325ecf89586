//! Kiln's repack engine: turns one en-US build per platform into every locale build and every
//! partner build, in parallel, reproducibly, atomically and resumably.
//!
//! # Brief overview
//!
//! * [`RepackInputs::load`] reads and validates a fixture-style input directory: the en-US
//!   builds of a [`Product`] (`builds/<version>/<platform>/en-US/<product>-<version>.…`), [`ShippedLocales`], locale sources
//!   (`l10n/<locale>/{app,omni}/…`) and partner configs ([`RepackConfig`]).
//! * [`RepackInputs::plan`] lists the [`Job`]s — one per output archive — sorted by a stable id;
//!   a [`Chunk`] `K/N` picks a contiguous slice so chunks on different machines cover every job
//!   exactly once.
//! * [`run`] executes them on a rayon pool of [`RepackOptions::jobs`] threads and reports each
//!   job to a [`Progress`]. Each en-US build is unpacked once and shared by all its jobs.
//!
//! A **locale repack** replaces only localized resources — `dictionaries/`, `defaults/pref*/*-l10n.js`,
//! the chrome locale entries of `omni.ja` (Fluent `localization/<locale>/` is added, en-US kept as
//! fallback) — writes `update.locale` and regenerates `precomplete` exactly as Mozilla's
//! `createprecomplete.py`. Binaries, `update-settings.ini` and `channel-prefs.js` keep their
//! bytes. A **partner repack** localizes the same way, then adds the partner's `distribution/`
//! and `extensions/` to the resources dir, under `partner-repacks/<partner>/<sub>/v<M>/…`.
//!
//! # Invariants
//!
//! * Outputs are **reproducible**: the same inputs give byte-identical archives whatever the
//!   thread count or chunking (sorted entries, fixed times, owners, modes and compression
//!   settings: [`XZ_PRESET`], [`DEFLATE_LEVEL`], [`MTIME`]).
//!
//! # Design decision: compress shared binaries once
//!
//! Every locale build of a platform carries the same large binaries. Each file of at least
//! [`MEMBER_THRESHOLD`] bytes is therefore compressed on its own — as a separate xz stream or
//! gzip member of the `.tar.xz`/`.tar.gz` (concatenated streams and members are standard and
//! every `xz`, `gzip` and `tar` reads them), or as a zip entry copied raw — once per run, and
//! every job reuses those bytes. A repack then costs about as much as compressing its localized
//! files, not the whole build. Member boundaries depend only on the tree, so outputs stay
//! byte-identical whether or not a member came from the cache.
//! * Outputs are **atomic**: written to a temp file and renamed; a failed job leaves no file.
//! * Reruns are **resumable**: a job whose archive matches its record in the caller's journal
//!   directory ([`RepackOptions::journal`], outside the published output) — same input
//!   fingerprint, same SHA-256 — and, when signing, whose `.sig` verifies, is skipped.
//! * [`RepackInputs::load_for`] restricts a repack to some platforms: nothing of another
//!   platform is read, planned or needed.
//! * Hostile inputs (`..` or absolute entry names, escaping symlinks, hard links, devices,
//!   duplicates, oversized entries, corrupt archives, malformed config lines, locale files that
//!   are not localized resources) are typed [`RepackError`]s naming the file and line or entry,
//!   raised before any output is written.
//!
//! This crate holds no keys: signing is an [`ArtifactSigner`] supplied by the caller.
//!
//! ```
//! use l10n_repack::{Chunk, Locale, Platform, Product};
//! let de: Locale = "de".parse().unwrap();
//! let thunderbird: Product = "Thunderbird".parse().unwrap();
//! assert_eq!(Platform::Mac.archive_name(&thunderbird, "121.0"), "thunderbird-121.0.tar.gz");
//! assert_eq!(Platform::Mac.app_root(&thunderbird), "Thunderbird.app");
//! assert!("../de".parse::<Locale>().is_err());
//! assert_eq!("2/3".parse::<Chunk>().unwrap().to_string(), "2/3");
//! # let _ = de;
//! ```
#![deny(missing_docs)]

mod archive;
mod engine;
mod error;
mod extract;
mod jobs;
mod locale;
mod omni;
mod output;
mod precomplete;
mod product;
mod repack_cfg;
mod shipped_locales;
mod sources;
mod transform;
mod tree;

pub use archive::{Limits, DEFLATE_LEVEL, MEMBER_THRESHOLD, MTIME, XZ_PRESET};
pub use engine::{
    run, ArtifactSigner, JobOutcome, NoProgress, Progress, RepackInputs, RepackOptions,
    RepackReport,
};
pub use error::RepackError;
pub use extract::{extract, format_of, inject, read_files, BuildFileSigner};
pub use jobs::{Chunk, Job, JobKind};
pub use locale::{ArchiveFormat, Locale, Platform};
pub use output::JOURNAL_DIR;
pub use product::Product;
pub use repack_cfg::RepackConfig;
pub use shipped_locales::{ShippedLocale, ShippedLocales};
