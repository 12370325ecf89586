//! Generating update MARs (server side): complete from a tree, partial from two trees.
//!
//! The manifest rules are Mozilla's packaging scripts' (`docs/mar-format.md` B2.4):
//! - **complete**: `type "complete"`; every file in reverse-sorted order as `add`, or `add-if-not`
//!   for channel/update settings, or `add-if "distribution/extensions/<id>"` for extension files;
//!   then the new tree's `removed-files` instructions. The tree must have a `precomplete`.
//! - **partial**: `type "partial"`; for each old file (reverse-sorted) that is still there:
//!   `add-if-not` for settings, `add` for forced files, nothing if unchanged, `add` if only its
//!   mode changed (patched files keep their old mode), else `patch "f.patch" "f"` when the
//!   compressed patch is strictly smaller than the compressed file, else `add`.
//!   Then adds for new files, then `remove` for vanished files, then `removed-files`
//!   instructions, then `rmdir` for vanished directories (reverse-sorted).
//!
//! Identical inputs and settings give byte-identical archives: every list is sorted, parallel
//! work is collected in order, and entries are compressed on their own with fixed settings.

mod diff;
mod entries;
mod mbdiff;
mod memo;
mod renames;
mod tree;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use diff::{make_patch, patch_is_valid, sha256, wrap_patch, DIFF_PARAMS_VERSION};
pub use entries::{EntryCache, ENTRY_CACHE_THRESHOLD};
pub use mbdiff::make_mbdiff;
pub use tree::{StoredDigests, Tree, TreeFile};

use crate::compression::Compression;
use crate::entry_path::{EntryPath, EntryPathError};
use crate::keys::SigningKey;
use crate::product_info::ProductInfo;
use crate::update::apply::MANIFEST_ENTRY;
use crate::update::cache::{CacheKey, CacheStats, DiffCache};
use crate::update::manifest::{Instruction, Manifest, ManifestError, UpdateKind};
use crate::update::patch::with_source_path;
use crate::update::precomplete::{removed_files_instructions, PRECOMPLETE, REMOVED_FILES};
use crate::writer::MarBuilder;

/// Why an update MAR could not be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// A file or directory could not be read or written.
    #[error("cannot access {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading an input MAR or writing the output failed.
    #[error(transparent)]
    Mar(#[from] crate::Error),
    /// A path cannot be a MAR entry name.
    #[error("{} cannot be an entry name: {reason}", path.display())]
    BadName {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: EntryPathError,
    },
    /// A tree holds a symlink or special file.
    #[error("{} is not a regular file or directory", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The new tree has no `precomplete` (Mozilla's scripts refuse too).
    #[error("the new tree has no precomplete file")]
    MissingPrecomplete,
    /// The new tree's `removed-files` is malformed.
    #[error("removed-files")]
    RemovedFiles(#[source] ManifestError),
    /// A file and its patch entry `<file>.patch` would collide with another entry.
    #[error("patch entry {0} collides with a file of the same name")]
    PatchNameCollision(String),
    /// Diffing failed, or a fresh patch did not reproduce its target (a bug, never shipped).
    #[error("diffing {path}: {reason}")]
    Diff {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

impl GenerateError {
    /// A [`GenerateError::Diff`] for the file at `path`.
    fn diff(path: &EntryPath, reason: impl std::fmt::Display) -> GenerateError {
        GenerateError::Diff {
            path: path.to_string(),
            reason: reason.to_string(),
        }
    }
}

impl GenerateError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> GenerateError {
        let path = path.into();
        move |source| GenerateError::Io { path, source }
    }
}

/// Product information, entry compression and signing keys for a generated MAR.
#[derive(Clone, Debug)]
pub struct UpdateParams {
    product_info: ProductInfo,
    compression: Compression,
    keys: Vec<SigningKey>,
    entries: Option<std::sync::Arc<EntryCache>>,
}

impl UpdateParams {
    /// Channel and version for the PIB; zstd entries (level 19) and no signature by default.
    pub fn new(product_info: ProductInfo) -> UpdateParams {
        UpdateParams {
            product_info,
            compression: Compression::default(),
            keys: Vec::new(),
            entries: None,
        }
    }

    /// Shares compressed entries with every other MAR generated with the same cache (outputs
    /// are byte-identical with or without it).
    pub fn entry_cache(mut self, cache: std::sync::Arc<EntryCache>) -> UpdateParams {
        self.entries = Some(cache);
        self
    }

    /// Compresses `bytes`, just read from `file`, through the entry cache when there is one.
    fn compress_entry(&self, file: &TreeFile, bytes: &[u8]) -> Result<Vec<u8>, GenerateError> {
        match &self.entries {
            Some(cache) => cache.get_or_compress(
                bytes,
                || file.digest_of(bytes),
                &compression_tag(self.compression),
                || compress(self.compression, bytes),
            ),
            None => compress(self.compression, bytes),
        }
    }

    /// Sets entry compression (e.g. xz for Firefox's own updater).
    pub fn compression(mut self, compression: Compression) -> UpdateParams {
        self.compression = compression;
        self
    }

    /// Adds a signing key.
    pub fn sign_with(mut self, key: SigningKey) -> UpdateParams {
        self.keys.push(key);
        self
    }
}

/// What the generator decided for one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Unchanged: nothing in the MAR.
    Unchanged,
    /// Added in full (new, forced, or changed with a patch no smaller than the file).
    Add {
        /// Why the whole file was written.
        reason: AddReason,
        /// Compressed size of the entry.
        bytes: u64,
        /// Compressed size of the patch it beat, for changed files.
        patch_bytes: Option<u64>,
    },
    /// Patched.
    Patch {
        /// Compressed size of the patch entry.
        bytes: u64,
        /// Compressed size of the full file it beat: at the entry's compression (computed, or
        /// remembered by the diff cache), or at zstd level 1 when the patch is under a quarter
        /// of that, or estimated from samples when the patch is under 4/5 of the estimate (the
        /// full compression is then skipped).
        full_bytes: u64,
        /// Whether the patch came from the cache.
        cached: bool,
        /// The old file the patch was made from, when the file was renamed (else `None`: the
        /// file at the same path).
        from: Option<EntryPath>,
    },
    /// Removed.
    Remove,
}

/// Why [`Decision::Add`] wrote a whole file. [`AddReason::as_str`] (and `Display`) give the name
/// reports print: `new`, `forced`, `add-if-not`, `add-if`, `mode` or `changed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddReason {
    /// Not in the old tree (a complete update's files, and renamed files whose patch lost).
    New,
    /// Always written whole (`update-settings.ini`, `.chk` files, the mac bundle's signature and
    /// main executable).
    Forced,
    /// Written only where absent (`add-if-not`, e.g. `channel-prefs.js`).
    AddIfNot,
    /// An extension's file, written only if its directory exists (`add-if`).
    AddIf,
    /// The permissions changed (a patched file keeps its old mode).
    Mode,
    /// Changed, and the patch was not smaller than the file (or there was nothing to diff).
    Changed,
}

impl AddReason {
    /// The name reports print for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            AddReason::New => "new",
            AddReason::Forced => "forced",
            AddReason::AddIfNot => "add-if-not",
            AddReason::AddIf => "add-if",
            AddReason::Mode => "mode",
            AddReason::Changed => "changed",
        }
    }
}

impl std::fmt::Display for AddReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a generation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateReport {
    /// Complete or partial.
    pub kind: UpdateKind,
    /// The manifest written.
    pub manifest: Manifest,
    /// Per-file decisions, by path.
    pub decisions: Vec<(EntryPath, Decision)>,
    /// Size of the archive.
    pub file_len: u64,
    /// The diff cache's counters after the run, if one was used.
    pub cache: Option<CacheStats>,
}

/// The fast compression used to bound a file's compressed size before paying for the real one.
const QUICK_ESTIMATE: Compression = Compression::Zstd { level: 1 };
/// A patch this many times smaller than the quick estimate wins without the full compression.
const QUICK_MARGIN: usize = 4;

/// Files at least this large get their full compressed size estimated from samples first.
const SAMPLE_MIN: usize = 4 << 20;
/// Number of evenly spaced samples, and their length.
const SAMPLES: usize = 8;
const SAMPLE_LEN: usize = 256 << 10;
/// A patch under this fraction (numerator, denominator) of the sampled estimate wins without the
/// full compression. Samples compressed alone lose the long-range matches of the whole file, so
/// the estimate errs high (esbuild 0.28.0, pair b: 4,235,814 B estimated, 3,935,432 B real at
/// zstd 19, +7.6 %); the margin covers that (a 24 MB executable: level 19 of the whole file
/// took 20 s).
const SAMPLE_MARGIN: (usize, usize) = (4, 5);

/// An estimate of `bytes` compressed in full with the entry compression, for files of at least
/// [`SAMPLE_MIN`]: the level-1 size `quick_len` scaled by the ratio of the entry compression to
/// level 1 on [`SAMPLES`] evenly spaced samples (compressed in parallel).
fn sampled_full_size(
    params: &UpdateParams,
    bytes: &[u8],
    quick_len: usize,
) -> Result<Option<usize>, GenerateError> {
    if bytes.len() < SAMPLE_MIN {
        return Ok(None);
    }
    let step = bytes.len() / SAMPLES;
    let sizes: Vec<(usize, usize)> = (0..SAMPLES)
        .into_par_iter()
        .map(|i| {
            let sample = &bytes[i * step..(i * step + SAMPLE_LEN).min(bytes.len())];
            let quick = compress(QUICK_ESTIMATE, sample)?.len();
            let full = compress(params.compression, sample)?.len();
            Ok((quick, full))
        })
        .collect::<Result<_, GenerateError>>()?;
    let (quick, full): (usize, usize) = sizes
        .iter()
        .fold((0, 0), |(q, f), (sq, sf)| (q + sq, f + sf));
    Ok((quick > 0).then(|| (quick_len as u128 * full as u128 / quick as u128) as usize))
}

/// A short name of a compression setting, for the cache's remembered sizes.
fn compression_tag(compression: Compression) -> String {
    match compression {
        Compression::None => "none".to_owned(),
        Compression::Zstd { level } => format!("zstd{level}"),
        Compression::Xz { preset } => format!("xz{preset}"),
    }
}

/// A callback told about each file once it is decided, with its uncompressed size.
pub type ProgressFn = dyn Fn(&EntryPath, u64) + Send + Sync;

fn is_add_if_not(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base == "channel-prefs.js" || base == "update-settings.ini" || framework_dir(path).is_some()
}

/// The `ChannelPrefs.framework` / `UpdateSettings.framework` directory `path` lies in, if any.
fn framework_dir(path: &str) -> Option<&str> {
    ["ChannelPrefs.framework/", "UpdateSettings.framework/"]
        .iter()
        .find_map(|fw| path.find(fw).map(|at| &path[..at + fw.len() - 1]))
}

/// The test path of an `add-if` for extension files: `distribution/extensions/<id>`.
fn extension_dir(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("distribution/extensions/")?;
    let id_len = rest.find('/')?;
    Some(&path[.."distribution/extensions/".len() + id_len])
}

fn is_forced(path: &str) -> bool {
    matches!(
        path,
        "precomplete"
            | "removed-files"
            | "Contents/Resources/precomplete"
            | "Contents/Resources/removed-files"
            | "Contents/CodeResources"
            | "Contents/MacOS/firefox"
            | "Contents/Resources/defaults/pref/channel-prefs.js"
    ) || path.ends_with(".chk")
}

/// The instruction that writes `path` in full, and the reason recorded for it.
fn add_instruction(path: &EntryPath, forced: bool) -> (Instruction, AddReason) {
    let s = path.as_str();
    let p = |t: &str| EntryPath::new(t).expect("prefix of a valid path");
    if is_add_if_not(s) {
        let test = framework_dir(s).map_or_else(|| path.clone(), p);
        (
            Instruction::AddIfNot {
                test,
                file: path.clone(),
            },
            AddReason::AddIfNot,
        )
    } else if let Some(dir) = extension_dir(s) {
        (
            Instruction::AddIf {
                test: p(dir),
                file: path.clone(),
            },
            AddReason::AddIf,
        )
    } else {
        (
            Instruction::Add { file: path.clone() },
            if forced {
                AddReason::Forced
            } else {
                AddReason::New
            },
        )
    }
}

/// Whether the tree has `precomplete` at its root or, for a mac bundle, in `Contents/Resources/`.
fn has_precomplete(tree: &Tree) -> bool {
    tree.file(PRECOMPLETE).is_some()
        || tree
            .file(&format!("Contents/Resources/{PRECOMPLETE}"))
            .is_some()
}

fn removed_files(tree: &Tree) -> Result<Vec<Instruction>, GenerateError> {
    let mac = format!("Contents/Resources/{REMOVED_FILES}");
    match tree.file(REMOVED_FILES).or_else(|| tree.file(&mac)) {
        Some(file) => {
            removed_files_instructions(&file.read()?).map_err(GenerateError::RemovedFiles)
        }
        None => Ok(Vec::new()),
    }
}

fn compress(compression: Compression, bytes: &[u8]) -> Result<Vec<u8>, GenerateError> {
    let mut out = Vec::new();
    compression
        .encode(&mut &bytes[..], bytes.len() as u64, &mut out)
        .map_err(|e| GenerateError::Mar(e.into()))?;
    Ok(out)
}

/// Writes the MAR: the manifest first (compressed like the rest), then `entries` in order, all
/// already compressed, so the builder stores them as they are.
fn write_archive(
    params: &UpdateParams,
    manifest: &Manifest,
    entries: Vec<(EntryPath, u32, Vec<u8>)>,
    out: &Path,
) -> Result<u64, GenerateError> {
    let mut builder = MarBuilder::new();
    builder
        .compression(Compression::None)
        .product_info(params.product_info.clone());
    for key in &params.keys {
        builder.sign_with(key.clone());
    }
    let text = manifest.to_text();
    builder.add_bytes(
        EntryPath::new(MANIFEST_ENTRY).expect("valid name"),
        0o644,
        compress(params.compression, text.as_bytes())?,
    )?;
    for (name, mode, bytes) in entries {
        if name.as_str() == MANIFEST_ENTRY {
            continue;
        }
        builder.add_bytes(name, mode, bytes)?;
    }
    Ok(builder.write(out)?.file_len)
}

/// Writes a complete update MAR of `tree` to `out`.
pub fn complete_mar(
    tree: &Tree,
    params: &UpdateParams,
    out: &Path,
) -> Result<GenerateReport, GenerateError> {
    if !has_precomplete(tree) {
        return Err(GenerateError::MissingPrecomplete);
    }
    let files: Vec<(&EntryPath, &TreeFile)> = tree.files().iter().rev().collect();
    let compressed: Vec<Vec<u8>> = files
        .par_iter()
        .map(|(_, file)| params.compress_entry(file, &file.read()?))
        .collect::<Result<_, _>>()?;
    let mut instructions = vec![Instruction::Type(UpdateKind::Complete)];
    let mut decisions = Vec::new();
    let mut entries = Vec::new();
    for ((path, file), bytes) in files.into_iter().zip(compressed) {
        let (instruction, reason) = add_instruction(path, true);
        instructions.push(instruction);
        decisions.push((
            path.clone(),
            Decision::Add {
                reason: if reason == AddReason::Forced {
                    AddReason::New
                } else {
                    reason
                },
                bytes: bytes.len() as u64,
                patch_bytes: None,
            },
        ));
        entries.push((path.clone(), file.mode(), bytes));
    }
    instructions.extend(removed_files(tree)?);
    let manifest = Manifest::new(instructions).expect("type is first");
    let file_len = write_archive(params, &manifest, entries, out)?;
    Ok(GenerateReport {
        kind: UpdateKind::Complete,
        manifest,
        decisions,
        file_len,
        cache: None,
    })
}

/// The format of a partial's patch entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PatchFormat {
    /// Kiln's patch entry (algorithm 3, or 4 for code whose references moved; renamed files
    /// patched from their old bytes).
    #[default]
    Kiln,
    /// Mozilla's MBDIFF10, which Firefox's own updater applies (pair it with xz entries). No diff
    /// cache, and renamed files are added in full: Mozilla's `patch` patches the file at its
    /// own path.
    Mbdiff,
}

/// Options of partial generation beyond [`UpdateParams`].
#[derive(Default)]
pub struct PartialOptions<'a> {
    cache: Option<&'a DiffCache>,
    progress: Option<&'a ProgressFn>,
    format: PatchFormat,
}

impl std::fmt::Debug for PartialOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartialOptions")
            .field("cache", &self.cache)
            .field("progress", &self.progress.is_some())
            .field("format", &self.format)
            .finish()
    }
}

impl<'a> PartialOptions<'a> {
    /// Uses (and fills) a diff cache.
    pub fn cache(mut self, cache: &'a DiffCache) -> PartialOptions<'a> {
        self.cache = Some(cache);
        self
    }

    /// Reports each file once decided.
    pub fn progress(mut self, progress: &'a ProgressFn) -> PartialOptions<'a> {
        self.progress = Some(progress);
        self
    }

    /// Writes patch entries in `format` (Kiln's by default).
    pub fn patch_format(mut self, format: PatchFormat) -> PartialOptions<'a> {
        self.format = format;
        self
    }
}

/// A checked MBDIFF10 patch of `old` → `new`, compressed like every other entry.
fn mbdiff_patch(
    path: &EntryPath,
    old: &[u8],
    new: &[u8],
    params: &UpdateParams,
) -> Result<Vec<u8>, GenerateError> {
    let patch = make_mbdiff(old, new).map_err(|e| GenerateError::diff(path, e))?;
    let applied = crate::update::mbdiff::apply_mbdiff(&patch, old)
        .map_err(|e| GenerateError::diff(path, e))?;
    if applied != new {
        return Err(GenerateError::diff(
            path,
            "the MBDIFF10 patch does not reproduce the new file",
        ));
    }
    compress(params.compression, &patch)
}

/// The outcome for one file present in both trees.
struct Changed {
    decision: Decision,
    instruction: Option<Instruction>,
    entry: Option<(EntryPath, u32, Vec<u8>)>,
}

/// Gets a valid patch from the cache, or reads `old` and diffs it against `new` and inserts
/// the patch. `key` holds the digests of `old` and `new`.
fn cached_patch(
    path: &EntryPath,
    old: &TreeFile,
    new: &[u8],
    key: &CacheKey,
    cache: Option<&DiffCache>,
) -> Result<(Vec<u8>, bool), GenerateError> {
    if let Some(cache) = cache {
        // `get` re-checks the entry's own hash and that its header names this source and
        // target; entries were applied and checked before they were inserted.
        if let Some(patch) = cache.get(key) {
            return Ok((patch, true));
        }
    }
    let old = old.read()?;
    let patch = make_patch(&old, new).map_err(|e| GenerateError::diff(path, e))?;
    if !patch_is_valid(&patch, &old, &key.target_sha256) {
        return Err(GenerateError::diff(
            path,
            "the patch does not reproduce the new file",
        ));
    }
    if let Some(cache) = cache {
        cache.insert(key, &patch)?;
    }
    Ok((patch, false))
}

/// The zstd-wrapped patch entry `patch` rewritten as a version-2 patch made from `source`.
fn renamed_patch(
    path: &EntryPath,
    patch: &[u8],
    source: &EntryPath,
) -> Result<Vec<u8>, GenerateError> {
    let plain = zstd::stream::decode_all(patch).map_err(|e| GenerateError::diff(path, e))?;
    let renamed = with_source_path(&plain, source).map_err(|e| GenerateError::diff(path, e))?;
    wrap_patch(&renamed).map_err(|e| GenerateError::diff(path, e))
}

/// Decides a file of the new tree against `old`: the file at the same path, or (`renamed_from`)
/// the old file it was renamed from.
fn decide_changed(
    path: &EntryPath,
    old: &TreeFile,
    new: &TreeFile,
    params: &UpdateParams,
    options: &PartialOptions<'_>,
    renamed_from: Option<&EntryPath>,
) -> Result<Changed, GenerateError> {
    let cache = options.cache;
    let s = path.as_str();
    let new_bytes = new.read()?;
    let full = |reason: AddReason, patch_bytes: Option<u64>| -> Result<Changed, GenerateError> {
        // For a rename the file is new at this path, whatever made the patch lose.
        let reason = if renamed_from.is_some() {
            AddReason::New
        } else {
            reason
        };
        let bytes = params.compress_entry(new, &new_bytes)?;
        let (instruction, add_reason) = add_instruction(path, reason == AddReason::Forced);
        Ok(Changed {
            decision: Decision::Add {
                reason: if add_reason == AddReason::New {
                    reason
                } else {
                    add_reason
                },
                bytes: bytes.len() as u64,
                patch_bytes,
            },
            instruction: Some(instruction),
            entry: Some((path.clone(), new.mode(), bytes)),
        })
    };
    if is_add_if_not(s) {
        return full(AddReason::AddIfNot, None);
    }
    if is_forced(s) {
        return full(AddReason::Forced, None);
    }
    if old.mode() != new.mode() {
        // A patched file keeps its old mode, so a mode change needs the whole file.
        return full(AddReason::Mode, None);
    }
    // The old file is compared by digest and read only if a diff must be made.
    let key = CacheKey {
        source_sha256: old.sha256()?,
        target_sha256: new.digest_of(&new_bytes),
    };
    if key.source_sha256 == key.target_sha256
        && old.len() == new_bytes.len() as u64
        && renamed_from.is_none()
    {
        return Ok(Changed {
            decision: Decision::Unchanged,
            instruction: None,
            entry: None,
        });
    }
    if old.is_empty() || new_bytes.is_empty() {
        // Nothing to diff against (or nothing to produce): the full file is as small as it gets.
        return full(AddReason::Changed, None);
    }
    let (mut patch, cached) = match options.format {
        PatchFormat::Kiln => cached_patch(path, old, &new_bytes, &key, cache)?,
        PatchFormat::Mbdiff => (mbdiff_patch(path, &old.read()?, &new_bytes, params)?, false),
    };
    if let Some(source) = renamed_from {
        // The entry shipped names its source, so its size is what the full file must beat
        // (numpy 2.4.5 -> 2.4.6: `entry_points.txt`, 220 B, 143 B compressed, was shipped as a
        // 164 B patch when the size without the source path decided).
        patch = renamed_patch(path, &patch, source)?;
    }
    // Compressing a large file at level 19 can take longer than diffing it, and the decision
    // only needs its size: the diff cache may remember it, and when the patch is under a quarter
    // of the file at zstd level 1, no level compresses the file below the patch.
    let tag = compression_tag(params.compression);
    let target_sha = key.target_sha256;
    let remembered = cache.and_then(|c| c.full_size(&target_sha, &tag));
    let (full_bytes, full_len) = match remembered {
        Some(size) if (patch.len() as u64) < size => (None, size),
        _ => {
            let quick = compress(QUICK_ESTIMATE, &new_bytes)?;
            let sampled = || sampled_full_size(params, &new_bytes, quick.len());
            if patch.len().saturating_mul(QUICK_MARGIN) < quick.len() {
                (None, quick.len() as u64)
            } else if let Some(estimate) = sampled()?.filter(|&estimate| {
                patch.len().saturating_mul(SAMPLE_MARGIN.1)
                    < estimate.saturating_mul(SAMPLE_MARGIN.0)
            }) {
                (None, estimate as u64)
            } else {
                let full = params.compress_entry(new, &new_bytes)?;
                if let Some(cache) = cache {
                    cache.insert_full_size(&target_sha, &tag, full.len() as u64)?;
                }
                let len = full.len() as u64;
                (Some(full), len)
            }
        }
    };
    if full_bytes
        .as_ref()
        .is_none_or(|full| patch.len() < full.len())
    {
        let patch_name =
            EntryPath::new(&format!("{s}.patch")).map_err(|reason| GenerateError::BadName {
                path: PathBuf::from(format!("{s}.patch")),
                reason,
            })?;
        let instruction = match extension_dir(s) {
            Some(dir) => Instruction::PatchIf {
                test: EntryPath::new(dir).expect("prefix of a valid path"),
                patch: patch_name.clone(),
                file: path.clone(),
            },
            None => Instruction::Patch {
                patch: patch_name.clone(),
                file: path.clone(),
            },
        };
        Ok(Changed {
            decision: Decision::Patch {
                bytes: patch.len() as u64,
                full_bytes: full_len,
                cached,
                from: renamed_from.cloned(),
            },
            instruction: Some(instruction),
            entry: Some((patch_name, new.mode(), patch)),
        })
    } else {
        let (instruction, _) = add_instruction(path, false);
        let full_bytes = full_bytes.expect("computed unless the patch won");
        Ok(Changed {
            decision: Decision::Add {
                reason: if renamed_from.is_some() {
                    AddReason::New
                } else {
                    AddReason::Changed
                },
                bytes: full_len,
                patch_bytes: Some(patch.len() as u64),
            },
            instruction: Some(instruction),
            entry: Some((path.clone(), new.mode(), full_bytes)),
        })
    }
}

/// Writes a partial update MAR from `old` to `new` to `out`.
pub fn partial_mar(
    old: &Tree,
    new: &Tree,
    params: &UpdateParams,
    options: &PartialOptions<'_>,
    out: &Path,
) -> Result<GenerateReport, GenerateError> {
    if !has_precomplete(new) {
        return Err(GenerateError::MissingPrecomplete);
    }
    let report = |path: &EntryPath, file: &TreeFile| {
        if let Some(progress) = options.progress {
            progress(path, file.len());
        }
    };
    // Old files still present, reverse-sorted, decided in parallel and collected in order.
    let common: Vec<(&EntryPath, &TreeFile, &TreeFile)> = old
        .files()
        .iter()
        .rev()
        .filter_map(|(path, o)| new.files().get(path).map(|n| (path, o, n)))
        .collect();
    let changed: Vec<Changed> = common
        .par_iter()
        .map(|(path, o, n)| {
            let result = decide_changed(path, o, n, params, options, None);
            report(path, n);
            result
        })
        .collect::<Result<_, _>>()?;
    let mut instructions = vec![Instruction::Type(UpdateKind::Partial)];
    let mut decisions = Vec::new();
    let mut entries = Vec::new();
    for ((path, _, _), c) in common.iter().zip(changed) {
        decisions.push(((*path).clone(), c.decision));
        instructions.extend(c.instruction);
        entries.extend(c.entry);
    }
    // New files, reverse-sorted: patched from the old file they were renamed from when that
    // patch is smaller, else added.
    let renames = match options.format {
        // Settings, forced files and partner extensions may differ on the user's disk.
        PatchFormat::Kiln => renames::rename_sources(old, new, |s| {
            !(is_add_if_not(s)
                || is_forced(s)
                || extension_dir(s).is_some()
                || s.contains("distribution/"))
        }),
        PatchFormat::Mbdiff => Default::default(),
    };
    let added: Vec<(&EntryPath, &TreeFile)> = new
        .files()
        .iter()
        .rev()
        .filter(|(path, _)| !old.files().contains_key(*path))
        .collect();
    let decided: Vec<Changed> = added
        .par_iter()
        .map(|(path, file)| {
            let result = match renames.get(path) {
                Some(&source) => {
                    let from = old.files().get(source).expect("a file of the old tree");
                    decide_changed(path, from, file, params, options, Some(source))
                }
                None => params.compress_entry(file, &file.read()?).map(|bytes| {
                    let (instruction, reason) = add_instruction(path, false);
                    Changed {
                        decision: Decision::Add {
                            reason,
                            bytes: bytes.len() as u64,
                            patch_bytes: None,
                        },
                        instruction: Some(instruction),
                        entry: Some(((*path).clone(), file.mode(), bytes)),
                    }
                }),
            };
            report(path, file);
            result
        })
        .collect::<Result<_, _>>()?;
    for ((path, _), c) in added.into_iter().zip(decided) {
        decisions.push((path.clone(), c.decision));
        instructions.extend(c.instruction);
        entries.extend(c.entry);
    }
    // Removed files, after every add and patch.
    for path in old.files().keys().rev() {
        if !new.files().contains_key(path) {
            instructions.push(Instruction::Remove { file: path.clone() });
            decisions.push((path.clone(), Decision::Remove));
        }
    }
    instructions.extend(removed_files(new)?);
    for dir in old.dirs().iter().rev() {
        if !new.dirs().contains(dir) {
            instructions.push(Instruction::Rmdir {
                dir: crate::update::manifest::DirPath::new(dir.clone()),
            });
        }
    }
    let mut names = BTreeSet::new();
    for (name, _, _) in &entries {
        if !names.insert(name.clone()) {
            return Err(GenerateError::PatchNameCollision(name.to_string()));
        }
    }
    let manifest = Manifest::new(instructions).expect("type is first");
    let file_len = write_archive(params, &manifest, entries, out)?;
    Ok(GenerateReport {
        kind: UpdateKind::Partial,
        manifest,
        decisions,
        file_len,
        cache: options.cache.map(DiffCache::stats),
    })
}
