//! Applying an update MAR to an install, Mozilla's way, with a journal for crash safety.
//!
//! [`apply`] follows the updater's execution model (`docs/mar-format.md` B2.2):
//! 1. **Checks** before anything is touched: the archive is a [`VerifiedMar`] (signatures, 19 —
//!    see [`verify_update`]); its PIB channel must be in the install's `ACCEPTED_MAR_CHANNEL_IDS`
//!    (22) and its version not older than the installed one (23).
//! 2. **Parse** `updatev3.manifest`; for `type "complete"` the install's own `precomplete`
//!    removals come first; `rmrfdir` is expanded.
//! 3. **Prepare**: `*-if*` conditions are decided against the install as it is, every patch is
//!    extracted and its source checked (length → 2; SHA-256 for Kiln patches, CRC-32/BZIP2 for
//!    MBDIFF10 → 4). Nothing has been written yet.
//! 4. **Journal** ([`journal`]), then **draft**: new contents are written beside their targets.
//! 5. **Execute**: every target is backed up (`.moz-backup`) and its draft renamed into place.
//! 6. **Check** (when [`ApplyOptions::expect_build`] asks): the tree now in place must carry the
//!    expected `[App] Version` and `BuildID`, else the update is rolled back (22).
//! 7. **Finish**: on success, in manifest order, each file's backup is deleted and each `rmdir` run
//!    (repeats included; a directory that is not empty stays, as in Mozilla's updater); on any
//!    failure every backup is restored and new files and directories deleted, and the error
//!    carries Firefox's code.
//!
//! An `rmdir` whose directory is missing when the update is prepared is skipped; one that names
//! something other than a directory fails the update (42), as Mozilla's `RemoveDir` does. The
//! install's identity files and `precomplete` are read from its resources directory
//! ([`layout::resources_dir`](crate::update::layout::resources_dir): `Contents/Resources/` in a
//! mac bundle), and a directory inside a mac bundle is refused as the install root.
//!
//! Added files get the entry's mode masked to `0o777`; patched files keep the mode of the file
//! they replace (for a version-2 Kiln patch, a rename: the mode of the source file it names). Paths never pass through a symlink. Staged mode applies into a fresh copy of the
//! install instead of the install itself.

mod checks;
mod error;
pub mod journal;

#[cfg(test)]
mod crash_tests;

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

pub use checks::{
    accepted_channels, accepted_channels_in, check_build, ini_value, installed_build,
    installed_version, InstalledBuild,
};
pub use error::ApplyError;
pub use journal::{recover, Recovery};

use crate::entry_path::EntryPath;
use crate::keys::PublicKey;
use crate::reader::Mar;
use crate::update::layout::{check_install_root, resources_prefix};
use crate::update::manifest::{Instruction, Manifest, UpdateKind};
use crate::update::mbdiff::{apply_mbdiff, MbdiffHeader, MBDIFF_MAGIC};
use crate::update::patch::{apply_kiln_patch, check_patch, is_kiln_patch, sha256_of};
use crate::update::precomplete::PRECOMPLETE;
use crate::verify::{VerifiedMar, Verifier};
use journal::{sidecar, JournalOp, BACKUP_EXT, COMMITTED_NAME, DRAFT_EXT, JOURNAL_NAME};

/// The manifest entry every update MAR carries.
pub const MANIFEST_ENTRY: &str = "updatev3.manifest";

#[cfg(test)]
pub(crate) use crash_tests::kill_point;

/// A point where the crash-safety tests may kill the applier (no-op outside `cfg(test)`).
#[cfg(all(not(test), not(feature = "kill-points")))]
#[inline(always)]
pub(crate) fn kill_point() {}

#[cfg(feature = "kill-points")]
static KILL_POINT_HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// With the `kill-points` feature: calls the hook installed by [`set_kill_point_hook`].
#[cfg(all(not(test), feature = "kill-points"))]
pub(crate) fn kill_point() {
    if let Some(hook) = KILL_POINT_HOOK.get() {
        hook();
    }
}

/// Installs `hook`, called at every crash point of [`apply`] and [`recover`] (feature
/// `kill-points`, for the crash tests of programs that embed the applier). Returns `false` if a
/// hook was already installed. Under `cfg(test)` mar's own crash tests use their kill points.
#[cfg(feature = "kill-points")]
pub fn set_kill_point_hook(hook: fn()) -> bool {
    KILL_POINT_HOOK.set(hook).is_ok()
}

/// How [`apply`] runs.
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    current_version: Option<String>,
    staged_dir: Option<PathBuf>,
    stage_exclude: Vec<std::ffi::OsString>,
    expect_build: Option<(String, String)>,
}

impl ApplyOptions {
    /// Compares the archive's version with `version` instead of `application.ini`'s
    /// `[App] Version`.
    pub fn current_version(mut self, version: &str) -> ApplyOptions {
        self.current_version = Some(version.to_owned());
        self
    }

    /// Applies into a copy of the install at `dir` (which must not exist or be empty); the install
    /// itself is only read.
    pub fn staged(mut self, dir: &Path) -> ApplyOptions {
        self.staged_dir = Some(dir.to_owned());
        self
    }

    /// Leaves the top-level entry `name` of the install out of the staged copy, e.g. the update
    /// directory (`updates`) that holds the staging directory itself.
    pub fn stage_exclude(mut self, name: &str) -> ApplyOptions {
        self.stage_exclude.push(name.into());
        self
    }

    /// Requires the updated tree to be this build: before the update commits, its
    /// `application.ini` must say `[App] Version=version` and `BuildID=build_id`, else the update
    /// is rolled back with [`ApplyError::UnexpectedBuild`] (22).
    pub fn expect_build(mut self, version: &str, build_id: &str) -> ApplyOptions {
        self.expect_build = Some((version.to_owned(), build_id.to_owned()));
        self
    }
}

/// What [`apply`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplySummary {
    /// The manifest's declared kind.
    pub kind: Option<UpdateKind>,
    /// The directory the update was applied to (the install, or the staging copy).
    pub applied_to: PathBuf,
    /// What recovery of an earlier interrupted update did first.
    pub recovered: Recovery,
    /// Files written from archive entries.
    pub added: usize,
    /// Files written by patching.
    pub patched: usize,
    /// Files removed.
    pub removed: usize,
}

/// Verifies an update archive against trusted keys, mapping failure to Firefox's error 19.
pub fn verify_update<R: Read + Seek>(
    mar: Mar<R>,
    keys: Vec<PublicKey>,
) -> Result<VerifiedMar<R>, ApplyError> {
    Verifier::new(keys)
        .verify(mar)
        .map_err(ApplyError::Signature)
}

/// Applies a verified update archive to `install_dir` (or a staged copy); see the module docs.
///
/// An interrupted earlier update is recovered first. On error the install (and the staging
/// directory's content) is exactly as before the call.
pub fn apply<R: Read + Seek>(
    install_dir: &Path,
    update: &mut VerifiedMar<R>,
    options: &ApplyOptions,
) -> Result<ApplySummary, ApplyError> {
    check_install_root(install_dir)?;
    let recovered = recover(install_dir)?;
    let mar = update.archive_mut();
    checks::check_product_info(
        mar.product_info(),
        install_dir,
        options.current_version.as_deref(),
    )?;
    let manifest_bytes =
        mar.read_entry_to_vec(MANIFEST_ENTRY)
            .map_err(|source| ApplyError::Archive {
                name: MANIFEST_ENTRY.to_owned(),
                source,
            })?;
    let manifest = Manifest::parse(&manifest_bytes).map_err(|source| ApplyError::Manifest {
        what: "update manifest",
        source,
    })?;
    let target = match &options.staged_dir {
        Some(staged) => {
            stage_copy(install_dir, staged, &options.stage_exclude)?;
            staged.clone()
        }
        None => install_dir.to_owned(),
    };
    let expect = options.expect_build.as_ref();
    let result = Plan::build(&target, &manifest, mar).and_then(|plan| {
        let counts = plan.counts();
        plan.execute(&target, mar, expect).map(|()| counts)
    });
    match result {
        Ok((added, patched, removed)) => Ok(ApplySummary {
            kind: manifest.kind(),
            applied_to: target,
            recovered,
            added,
            patched,
            removed,
        }),
        Err(e) => {
            if options.staged_dir.is_some() {
                let _ = fs::remove_dir_all(&target);
            }
            Err(e)
        }
    }
}

/// Copies the install into an empty or missing staging directory (journal files excluded).
fn stage_copy(
    install: &Path,
    staged: &Path,
    exclude: &[std::ffi::OsString],
) -> Result<(), ApplyError> {
    if let Ok(mut entries) = fs::read_dir(staged) {
        if entries.next().is_some() {
            return Err(ApplyError::StagingNotEmpty {
                path: staged.to_owned(),
            });
        }
    }
    copy_tree(install, staged, Some(exclude))
}

/// Copies `from` to `to`; `top` holds the top-level names to skip (beside the journal files).
fn copy_tree(from: &Path, to: &Path, top: Option<&[std::ffi::OsString]>) -> Result<(), ApplyError> {
    fs::create_dir_all(to).map_err(ApplyError::write(to))?;
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(from)
        .map_err(ApplyError::read(from))?
        .collect::<Result<_, _>>()
        .map_err(ApplyError::read(from))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if let Some(exclude) = top {
            if name == JOURNAL_NAME || name == COMMITTED_NAME || exclude.contains(&name) {
                continue;
            }
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let meta = fs::symlink_metadata(&src).map_err(ApplyError::read(&src))?;
        if meta.is_dir() {
            copy_tree(&src, &dst, None)?;
        } else if meta.is_file() {
            fs::copy(&src, &dst).map_err(ApplyError::write(&dst))?;
        } else {
            #[cfg(unix)]
            {
                let link = fs::read_link(&src).map_err(ApplyError::read(&src))?;
                std::os::unix::fs::symlink(link, &dst).map_err(ApplyError::write(&dst))?;
            }
        }
    }
    Ok(())
}

/// Where a file's new content comes from.
#[derive(Debug)]
enum Content {
    /// An archive entry, written with its mode.
    Entry { name: EntryPath, mode: u32 },
    /// A patch of `source` (the file itself, or the old file of a rename), whose mode the
    /// result keeps.
    Patch {
        kind: PatchKind,
        bytes: Vec<u8>,
        mode: u32,
        source: EntryPath,
    },
}

#[derive(Clone, Copy, Debug)]
enum PatchKind {
    Kiln,
    Mbdiff,
}

#[derive(Debug)]
enum Op {
    Write {
        path: EntryPath,
        content: Content,
        existed: bool,
    },
    Remove(EntryPath),
}

impl Op {
    fn path(&self) -> &EntryPath {
        match self {
            Op::Write { path, .. } | Op::Remove(path) => path,
        }
    }
}

/// Every change an update makes, decided and checked before anything is written.
#[derive(Debug, Default)]
struct Plan {
    ops: Vec<Op>,
    index: HashMap<EntryPath, usize>,
    mkdirs: Vec<EntryPath>,
    /// Every `rmdir` in manifest order, repeats kept, each with the number of file operations
    /// the manifest put before it (where it runs in Finish).
    rmdirs: Vec<(usize, EntryPath)>,
}

fn file_type(path: &Path) -> Option<fs::FileType> {
    fs::symlink_metadata(path).ok().map(|m| m.file_type())
}

#[cfg(unix)]
fn mode_of(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode_of(_meta: &fs::Metadata) -> u32 {
    0o644
}

impl Plan {
    fn build<R: Read + Seek>(
        root: &Path,
        manifest: &Manifest,
        mar: &mut Mar<R>,
    ) -> Result<Plan, ApplyError> {
        let mut instructions = Vec::new();
        if manifest.kind() == Some(UpdateKind::Complete) {
            // A mac bundle keeps it in Contents/Resources/ (Mozilla's updater looks there too).
            let path = root.join(resources_prefix(root)).join(PRECOMPLETE);
            if let Ok(bytes) = fs::read(&path) {
                let precomplete =
                    Manifest::parse_precomplete(&bytes).map_err(|source| ApplyError::Manifest {
                        what: "installed precomplete",
                        source,
                    })?;
                instructions.extend(precomplete.instructions().iter().cloned());
            }
        }
        instructions.extend(manifest.instructions().iter().cloned());
        let mut plan = Plan::default();
        let exists = |p: &EntryPath| file_type(&root.join(p.to_relative_path())).is_some();
        for instruction in instructions {
            match instruction {
                Instruction::Type(_) => {}
                Instruction::Add { file } => plan.add(root, mar, file)?,
                Instruction::AddIf { test, file } => {
                    if exists(&test) {
                        plan.add(root, mar, file)?;
                    }
                }
                Instruction::AddIfNot { test, file } => {
                    if !exists(&test) {
                        plan.add(root, mar, file)?;
                    }
                }
                Instruction::Patch { patch, file } => plan.patch(root, mar, patch, file)?,
                Instruction::PatchIf { test, patch, file } => {
                    if exists(&test) {
                        plan.patch(root, mar, patch, file)?;
                    }
                }
                Instruction::Remove { file } => plan.remove(root, file)?,
                Instruction::Rmdir { dir } => plan.rmdir(root, dir.path().clone())?,
                Instruction::Rmrfdir { dir } => plan.rmrfdir(root, dir.path())?,
            }
        }
        Ok(plan)
    }

    fn push(&mut self, op: Op) {
        match self.index.get(op.path()) {
            Some(&i) => self.ops[i] = op,
            None => {
                self.index.insert(op.path().clone(), self.ops.len());
                self.ops.push(op);
            }
        }
    }

    /// Mozilla's `RemoveDir` Prepare: a missing directory is skipped, anything but a directory
    /// fails; the `rmdir` itself runs in Finish, at its place in the manifest.
    fn rmdir(&mut self, root: &Path, dir: EntryPath) -> Result<(), ApplyError> {
        let full = root.join(dir.to_relative_path());
        match file_type(&full) {
            None => Ok(()),
            Some(t) if t.is_dir() => {
                self.rmdirs.push((self.ops.len(), dir));
                Ok(())
            }
            Some(_) => Err(ApplyError::UnexpectedFileType {
                path: full,
                reason: "an rmdir names something that is not a directory",
            }),
        }
    }

    /// Checks the parents of `path` (no symlinks, no files) and records the ones to create.
    fn prepare_parents(&mut self, root: &Path, path: &EntryPath) -> Result<(), ApplyError> {
        let parts: Vec<&str> = path.as_str().split('/').collect();
        for depth in 1..parts.len() {
            let dir = EntryPath::new(&parts[..depth].join("/")).expect("prefix of a valid path");
            let full = root.join(dir.to_relative_path());
            match file_type(&full) {
                None => {
                    if !self.mkdirs.contains(&dir) {
                        self.mkdirs.push(dir);
                    }
                }
                Some(t) if t.is_dir() => {}
                Some(_) => {
                    return Err(ApplyError::UnexpectedFileType {
                        path: full,
                        reason: "a parent directory is a file or a symlink",
                    })
                }
            }
        }
        Ok(())
    }

    /// The target's state: whether it exists as a regular file or symlink; a directory is an error.
    fn target_exists(root: &Path, path: &EntryPath) -> Result<bool, ApplyError> {
        let full = root.join(path.to_relative_path());
        match file_type(&full) {
            None => Ok(false),
            Some(t) if t.is_dir() => Err(ApplyError::UnexpectedFileType {
                path: full,
                reason: "it is a directory",
            }),
            Some(_) => Ok(true),
        }
    }

    fn add<R: Read + Seek>(
        &mut self,
        root: &Path,
        mar: &Mar<R>,
        file: EntryPath,
    ) -> Result<(), ApplyError> {
        let entry = mar
            .entry(file.as_str())
            .ok_or_else(|| ApplyError::Archive {
                name: file.to_string(),
                source: crate::Error::NoSuchEntry {
                    name: file.to_string(),
                },
            })?;
        let mode = entry.mode();
        self.prepare_parents(root, &file)?;
        let existed = Plan::target_exists(root, &file)?;
        self.push(Op::Write {
            content: Content::Entry {
                name: file.clone(),
                mode,
            },
            path: file,
            existed,
        });
        Ok(())
    }

    fn patch<R: Read + Seek>(
        &mut self,
        root: &Path,
        mar: &mut Mar<R>,
        patch: EntryPath,
        file: EntryPath,
    ) -> Result<(), ApplyError> {
        let bytes =
            mar.read_entry_to_vec(patch.as_str())
                .map_err(|source| ApplyError::Archive {
                    name: patch.to_string(),
                    source,
                })?;
        let full = root.join(file.to_relative_path());
        self.prepare_parents(root, &file)?;
        // A Kiln patch of version 2 names its source (a renamed file); any other patches the
        // file at its own path.
        let parsed = if is_kiln_patch(&bytes) {
            Some(check_patch(&bytes).map_err(|source| ApplyError::KilnPatch {
                path: full.clone(),
                source,
            })?)
        } else {
            None
        };
        let source = match parsed.as_ref().and_then(|p| p.source_path.clone()) {
            Some(source) => {
                self.prepare_parents(root, &source)?;
                source
            }
            None => file.clone(),
        };
        let source_full = root.join(source.to_relative_path());
        let meta = match fs::symlink_metadata(&source_full) {
            Ok(meta) if meta.is_file() => meta,
            _ => return Err(ApplyError::SourceMissing { path: source_full }),
        };
        let kind = if let Some(parsed) = parsed {
            let mut reader =
                fs::File::open(&source_full).map_err(ApplyError::read(&source_full))?;
            let (len, sha) = sha256_of(&mut reader).map_err(ApplyError::read(&source_full))?;
            parsed
                .header
                .check_source(len, &sha)
                .map_err(|source| ApplyError::KilnPatch {
                    path: source_full.clone(),
                    source,
                })?;
            PatchKind::Kiln
        } else if bytes.starts_with(MBDIFF_MAGIC) {
            let header = MbdiffHeader::parse(&bytes).map_err(|source| ApplyError::Mbdiff {
                path: full.clone(),
                source,
            })?;
            let source = fs::read(&full).map_err(ApplyError::read(&full))?;
            header
                .check_source(&source)
                .map_err(|source| ApplyError::Mbdiff {
                    path: full.clone(),
                    source,
                })?;
            PatchKind::Mbdiff
        } else {
            return Err(ApplyError::UnknownPatchFormat {
                name: patch.to_string(),
            });
        };
        let existed = source == file || Plan::target_exists(root, &file)?;
        self.push(Op::Write {
            path: file,
            content: Content::Patch {
                kind,
                bytes,
                mode: mode_of(&meta),
                source,
            },
            existed,
        });
        Ok(())
    }

    fn remove(&mut self, root: &Path, file: EntryPath) -> Result<(), ApplyError> {
        // Mozilla skips removing a missing file but refuses to remove a directory.
        if Plan::target_exists(root, &file)? {
            self.push(Op::Remove(file));
        } else if let Some(&i) = self.index.get(&file) {
            // An earlier instruction would have created it: cancel that write.
            self.ops[i] = Op::Remove(file);
        }
        Ok(())
    }

    /// Expands `rmrfdir` into removes of every file and rmdirs of every directory, post-order.
    fn rmrfdir(&mut self, root: &Path, dir: &EntryPath) -> Result<(), ApplyError> {
        let full = root.join(dir.to_relative_path());
        if !file_type(&full).is_some_and(|t| t.is_dir()) {
            return Ok(());
        }
        let mut names: Vec<String> = fs::read_dir(&full)
            .map_err(ApplyError::read(&full))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()
            .map_err(ApplyError::read(&full))?;
        names.sort();
        for name in names {
            let child = EntryPath::new(&format!("{dir}/{name}")).map_err(|_| {
                ApplyError::UnexpectedFileType {
                    path: full.join(&name),
                    reason: "its name cannot appear in a manifest",
                }
            })?;
            if file_type(&root.join(child.to_relative_path())).is_some_and(|t| t.is_dir()) {
                self.rmrfdir(root, &child)?;
            } else {
                self.push(Op::Remove(child));
            }
        }
        self.rmdir(root, dir.clone())
    }

    fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for op in &self.ops {
            match op {
                Op::Write {
                    content: Content::Entry { .. },
                    ..
                } => counts.0 += 1,
                Op::Write { .. } => counts.1 += 1,
                Op::Remove(_) => counts.2 += 1,
            }
        }
        counts
    }

    /// The journal: directories to create, then file operations and `rmdir`s in manifest order
    /// (the order Finish runs them in).
    fn journal_ops(&self) -> Vec<JournalOp> {
        let mut ops: Vec<JournalOp> = self.mkdirs.iter().cloned().map(JournalOp::Mkdir).collect();
        let mut rmdirs = self.rmdirs.iter().peekable();
        for (i, op) in self.ops.iter().enumerate() {
            while let Some((_, dir)) = rmdirs.next_if(|(at, _)| *at <= i) {
                ops.push(JournalOp::Rmdir(dir.clone()));
            }
            ops.push(match op {
                Op::Write { path, existed, .. } => JournalOp::Write {
                    path: path.clone(),
                    existed: *existed,
                },
                Op::Remove(path) => JournalOp::Remove(path.clone()),
            });
        }
        ops.extend(rmdirs.map(|(_, dir)| JournalOp::Rmdir(dir.clone())));
        ops
    }

    /// Journal, drafts, backups and renames, the build check, commit, cleanup; rolls back on any
    /// error.
    fn execute<R: Read + Seek>(
        self,
        root: &Path,
        mar: &mut Mar<R>,
        expect: Option<&(String, String)>,
    ) -> Result<(), ApplyError> {
        let journal_ops = self.journal_ops();
        journal::write_journal(root, &journal_ops)?;
        let result = self
            .draft_and_swap(root, mar)
            .and_then(|()| expect.map_or(Ok(()), |(v, b)| checks::check_build(root, v, b)));
        if let Err(e) = result {
            journal::roll_back(root, &journal_ops)?;
            return Err(e);
        }
        journal::commit(root)?;
        journal::roll_forward(root, &journal_ops)
    }

    fn draft_and_swap<R: Read + Seek>(
        &self,
        root: &Path,
        mar: &mut Mar<R>,
    ) -> Result<(), ApplyError> {
        for dir in &self.mkdirs {
            let full = root.join(dir.to_relative_path());
            fs::create_dir(&full).map_err(ApplyError::write(&full))?;
            kill_point();
        }
        for op in &self.ops {
            if let Op::Write { path, content, .. } = op {
                write_draft(root, path, content, mar)?;
                kill_point();
            }
        }
        for op in &self.ops {
            let target = root.join(op.path().to_relative_path());
            let backup = sidecar(root, op.path(), BACKUP_EXT);
            match op {
                Op::Write { path, existed, .. } => {
                    if *existed {
                        fs::rename(&target, &backup).map_err(ApplyError::write(&target))?;
                        kill_point();
                    }
                    let draft = sidecar(root, path, DRAFT_EXT);
                    fs::rename(&draft, &target).map_err(ApplyError::write(&target))?;
                    kill_point();
                }
                Op::Remove(_) => {
                    fs::rename(&target, &backup).map_err(ApplyError::write(&target))?;
                    kill_point();
                }
            }
        }
        Ok(())
    }
}

/// Writes the new content of `path` to its draft, with its final mode, durably.
fn write_draft<R: Read + Seek>(
    root: &Path,
    path: &EntryPath,
    content: &Content,
    mar: &mut Mar<R>,
) -> Result<(), ApplyError> {
    let draft = sidecar(root, path, DRAFT_EXT);
    let target = root.join(path.to_relative_path());
    let mut file = fs::File::create(&draft).map_err(ApplyError::write(&draft))?;
    let mode = match content {
        Content::Entry { name, mode } => {
            let entry = mar
                .entry(name.as_str())
                .cloned()
                .expect("checked when planning");
            mar.copy_entry(&entry, &mut file)
                .map_err(|source| ApplyError::Archive {
                    name: name.to_string(),
                    source,
                })?;
            *mode
        }
        Content::Patch {
            kind,
            bytes,
            mode,
            source,
        } => {
            let source = root.join(source.to_relative_path());
            match kind {
                PatchKind::Kiln => {
                    let mut source = fs::File::open(&source).map_err(ApplyError::read(&source))?;
                    apply_kiln_patch(bytes, &mut source, &mut file).map_err(|source| {
                        ApplyError::KilnPatch {
                            path: target.clone(),
                            source,
                        }
                    })?;
                }
                PatchKind::Mbdiff => {
                    let source = fs::read(&source).map_err(ApplyError::read(&source))?;
                    let out =
                        apply_mbdiff(bytes, &source).map_err(|source| ApplyError::Mbdiff {
                            path: target.clone(),
                            source,
                        })?;
                    std::io::Write::write_all(&mut file, &out)
                        .map_err(ApplyError::write(&draft))?;
                }
            }
            *mode
        }
    };
    set_mode(&draft, mode)?;
    file.sync_all().map_err(ApplyError::write(&draft))?;
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), ApplyError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o777))
        .map_err(ApplyError::write(path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), ApplyError> {
    Ok(())
}
