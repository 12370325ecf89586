//! Repack jobs and stable chunking.
//!
//! A job is one output archive: a (platform, locale) locale repack or a (partner, sub, platform,
//! locale) partner repack. Jobs are identified by a path-like id and sorted by it; a [`Chunk`]
//! `K/N` takes the K-th of N contiguous, near-equal slices of that sorted list, so chunks run on
//! different machines cover every job exactly once.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::{Locale, Platform, RepackError};

/// What a job produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// A locale build: `<platform>/<locale>/<archive>`.
    Locale,
    /// A partner build: `partner-repacks/<partner>/<sub>/v<M>/<output_dir>/<archive>`.
    Partner {
        /// Partner name.
        partner: String,
        /// Sub-config name.
        sub: String,
        /// Partner build number `M`.
        build: u32,
    },
}

/// One output archive to produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub(crate) id: String,
    pub(crate) platform: Platform,
    pub(crate) locale: Locale,
    pub(crate) kind: JobKind,
    pub(crate) output: PathBuf,
}

impl Job {
    /// The stable id, e.g. `l10n/linux-x86_64/de` or `partner/acme/acme/v1/win64/de`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The platform.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The locale.
    pub fn locale(&self) -> &Locale {
        &self.locale
    }

    /// Locale or partner repack.
    pub fn kind(&self) -> &JobKind {
        &self.kind
    }

    /// The output archive, relative to the output directory.
    pub fn output(&self) -> &std::path::Path {
        &self.output
    }
}

/// A `K/N` chunk selector. Every `Chunk` is guaranteed to have `1 <= K <= N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    index: usize,
    total: usize,
}

impl Chunk {
    /// The chunk `index` of `total` (1-based).
    pub fn new(index: usize, total: usize) -> Result<Chunk, RepackError> {
        if total == 0 || index == 0 || index > total {
            return Err(RepackError::InvalidValue {
                what: "chunk",
                value: format!("{index}/{total}"),
                reason: "expected K/N with 1 <= K <= N",
            });
        }
        Ok(Chunk { index, total })
    }

    /// The jobs of this chunk, from the full sorted list.
    pub fn select<'a>(&self, jobs: &'a [Job]) -> &'a [Job] {
        let start = (self.index - 1) * jobs.len() / self.total;
        let end = self.index * jobs.len() / self.total;
        &jobs[start..end]
    }
}

impl FromStr for Chunk {
    type Err = RepackError;

    fn from_str(s: &str) -> Result<Chunk, RepackError> {
        let bad = || RepackError::InvalidValue {
            what: "chunk",
            value: s.to_owned(),
            reason: "expected K/N with 1 <= K <= N",
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        Chunk::new(k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?)
    }
}

impl fmt::Display for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}
