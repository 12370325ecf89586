//! The five promote stages — configure → construct → certify → package → deploy — each a
//! function of the shared [`Ctx`] returning a [`StageReport`]; every one is resumable through
//! its work items (see [`crate::release::items`]).

pub mod certify;
pub mod configure;
pub mod construct;
pub mod deploy;
pub mod package;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::release::config::{Config, ExecutorKind};
use crate::release::executor::{Executor, Plan};
use crate::release::item_key::{BuildKey, ItemKey};
use crate::release::items::{Counts, StageItems};
use crate::release::layout;
use crate::release::name::ReleaseName;
use crate::release::state::{ItemStatus, ReleaseRow, State};
use crate::release::store::Store;

/// The stage names, in order.
pub const STAGES: [&str; 5] = ["configure", "construct", "certify", "package", "deploy"];

/// Everything a stage needs.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The release configuration.
    pub config: &'a Config,
    /// The pipeline database.
    pub state: &'a State,
    /// The release.
    pub name: ReleaseName,
    /// Its record.
    pub row: ReleaseRow,
    /// `candidates/V-candidates/buildN/`.
    pub build_dir: PathBuf,
    /// The release's scratch directory.
    pub work: PathBuf,
    /// Only this repack chunk (`--chunk K/N`); construct then stops the promote after it.
    pub chunk: Option<l10n_repack::Chunk>,
    /// This context is a worker's: it runs the units it claimed, never queues any.
    pub in_worker: bool,
    /// Where artifacts are published for other machines.
    pub store: Store,
}

impl Ctx<'_> {
    /// The item table of `stage`, with outputs under `base`.
    pub fn items<'b>(&'b self, stage: &'b str, base: &'b Path) -> StageItems<'b> {
        StageItems {
            state: self.state,
            release: self.row.name.as_str(),
            stage,
            base,
            publish_to: Some(&self.store),
        }
    }

    /// Worker threads (`None`: one per core).
    pub fn jobs(&self) -> Option<usize> {
        (self.config.jobs > 0).then_some(self.config.jobs)
    }

    /// Who runs the distributed stages' units: `[pipeline] executor`, except that a worker and a
    /// `--chunk` slice run theirs here.
    pub fn executor(&self) -> Executor {
        if self.distributed() && !self.in_worker {
            Executor::Workers {
                poll: std::time::Duration::from_millis(250),
            }
        } else {
            Executor::Local { jobs: self.jobs() }
        }
    }

    /// Whether the distributed stages' units are the workers' (`[pipeline] executor =
    /// "workers"`, not a `--chunk` slice): the coordinator and its workers plan them alike.
    pub fn distributed(&self) -> bool {
        self.config.pipeline.executor == ExecutorKind::Workers && self.chunk.is_none()
    }

    /// Runs `plan` with [`Ctx::executor`] and fails the stage on failed items, naming them.
    pub fn execute(&self, plan: &dyn Plan) -> anyhow::Result<Counts> {
        let bar = crate::release::items::stage_bar(plan.stage());
        let executor = self.executor();
        let outcome = executor.run(self.state, &self.row.name, plan, &bar)?;
        bar.finish_and_clear();
        if matches!(executor, Executor::Workers { .. }) {
            // What the workers made, here for the coordinator's own steps (checksums, deploy,
            // push), each file checked against its digest.
            self.store.pull(&self.build_dir)?;
        }
        fail_on(plan.stage(), &outcome.failures)?;
        Ok(outcome.counts)
    }

    /// The en-US inputs with `kiln-update.toml` baked in (written by configure).
    pub fn inputs(&self) -> PathBuf {
        self.work.join("inputs")
    }
}

/// Fetches from the store what a worker's units of `stage` read before it plans them: the baked
/// inputs (construct), the partial sources' complete MARs and the diff cache (package). The
/// builds certify and package read are fetched one by one as a unit needs them
/// ([`Ctx::built_tree`], certify's archive). A local-only store has nothing to fetch.
pub fn pull_for(ctx: &Ctx<'_>, stage: &str) -> anyhow::Result<()> {
    let store = &ctx.store;
    match stage {
        "construct" => {
            store.pull(&ctx.inputs())?;
        }
        "package" => {
            for source in &ctx.row.partials {
                let source: ReleaseName = source.parse()?;
                store.pull(&layout::releases(ctx.config, source.version()).join("update"))?;
                store.pull(&layout::candidates(ctx.config, &source).join("update"))?;
            }
            store.pull(&layout::diff_cache(ctx.config))?;
        }
        _ => {}
    }
    Ok(())
}

/// The plan of a distributed stage (what a worker runs the units of): construct, certify, or
/// package's MARs.
pub fn plan<'a>(ctx: &'a Ctx<'a>, stage: &str) -> anyhow::Result<Box<dyn Plan + 'a>> {
    Ok(match stage {
        "construct" => Box::new(construct::RepackPlan::new(ctx)?),
        "certify" => certify::plan(ctx)?,
        "package" => Box::new(package::mars(ctx)?.plan),
        other => anyhow::bail!("{other} is not a stage workers run"),
    })
}

/// What one stage did.
#[derive(Clone, Debug, Serialize)]
pub struct StageReport {
    /// Stage name.
    pub stage: &'static str,
    /// Item counts.
    pub counts: Counts,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Stage-specific figures (cache hits, bytes…).
    pub extra: serde_json::Value,
}

/// Fails a stage that had failed items, naming the first few.
pub fn fail_on(stage: &str, failures: &[(String, String)]) -> anyhow::Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = failures
        .iter()
        .take(5)
        .map(|(key, error)| format!("{key}: {error}"))
        .collect();
    anyhow::bail!(
        "{stage}: {} item(s) failed:\n  {}",
        failures.len(),
        shown.join("\n  ")
    )
}

impl Ctx<'_> {
    /// The release's unpacked trees (`<work>/trees/`), removed after a successful promote.
    pub fn trees(&self) -> PathBuf {
        self.work.join("trees")
    }

    /// The repack journal of construct (`<work>/repack-journal/`): scratch state, kept out of
    /// the published build directory.
    pub fn repack_journal(&self) -> PathBuf {
        self.work.join("repack-journal")
    }
}

/// Whether `name` is a temporary file the pipeline's writers create beside their output and
/// rename into place (`mar`'s `.mar-*`, the repack's and checksums' `.tmp-*`, package's
/// `*.mar.tmp`): one left behind can only come from a run that was killed.
pub fn is_stale_temporary(name: &str) -> bool {
    name.starts_with(".mar-") || name.starts_with(".tmp-") || name.ends_with(".mar.tmp")
}

/// Removes the temporaries a killed run left in `dir` (a build directory), so a resumed promote
/// publishes exactly what an uninterrupted one would, and a repack journal an earlier version
/// left there (`.kiln-repack/`; the journal now lives in the work directory). Only an unchunked
/// promote calls it: chunks running at the same time on other machines may own temporaries in
/// the same directory. Returns how many it removed.
pub fn remove_stale_temporaries(dir: &Path) -> anyhow::Result<usize> {
    let mut removed = 0;
    // Earlier versions kept the repack journal in the build directory, which published it.
    let legacy = dir.join(l10n_repack::JOURNAL_DIR);
    if legacy.is_dir() {
        std::fs::remove_dir_all(&legacy)?;
        tracing::info!(path = %legacy.display(), "removed a repack journal from the build directory");
        removed += 1;
    }
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if entry.file_type().is_file() && is_stale_temporary(&entry.file_name().to_string_lossy()) {
            std::fs::remove_file(entry.path())?;
            tracing::info!(path = %entry.path().display(), "removed a killed run's temporary file");
            removed += 1;
        }
    }
    Ok(removed)
}

/// A tree unpacked once per archive content: `<trees>/<sha256>/`, extracted to a temporary
/// directory and renamed into place, so a killed extraction never counts. `sha256` is the
/// digest construct recorded for the archive: a tree already unpacked under it is reused without
/// reading the archive again, and an archive that no longer has it is refused.
pub fn unpacked(trees: &Path, archive: &Path, sha256: &str) -> anyhow::Result<PathBuf> {
    let dir = trees.join(sha256);
    if dir.is_dir() {
        return Ok(dir);
    }
    let actual = crate::release::items::sha256_file(archive)?;
    anyhow::ensure!(
        actual == sha256,
        "{}: its SHA-256 is {actual}, but construct recorded {sha256}",
        archive.display()
    );
    std::fs::create_dir_all(trees)?;
    let temp = tempfile::Builder::new().prefix(".tmp-").tempdir_in(trees)?;
    l10n_repack::extract(archive, temp.path())?;
    match std::fs::rename(temp.path(), &dir) {
        Ok(()) => {
            let _ = temp.keep();
        }
        Err(_) if dir.is_dir() => {}
        Err(e) => return Err(e.into()),
    }
    Ok(dir)
}

impl Ctx<'_> {
    /// The unpacked tree of construct's output `key` (e.g. `l10n/linux-x86_64/en-US`), addressed
    /// by the digest construct recorded for it.
    pub fn built_tree(&self, key: &BuildKey) -> anyhow::Result<PathBuf> {
        let key = ItemKey::Build(key.clone());
        let row = self
            .state
            .item(&self.row.name, "construct", &key)?
            .filter(|row| row.status == ItemStatus::Done)
            .ok_or_else(|| anyhow::anyhow!("construct has no finished output {key}"))?;
        let dir = self.trees().join(&row.sha256);
        if !dir.is_dir() {
            self.store
                .fetch_with_signature(&self.build_dir.join(&row.output))?;
        }
        unpacked(
            &self.trees(),
            &self.build_dir.join(&row.output),
            &row.sha256,
        )
    }
}

/// Values a stage's workers share, made on first use under a key: a value two racing workers
/// both made is kept once (they agree), the maker runs outside the lock.
#[derive(Debug)]
pub struct Memo<V>(Mutex<HashMap<String, V>>);

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo(Mutex::new(HashMap::new()))
    }
}

impl<V: Clone> Memo<V> {
    /// The value under `key`, made by `make` if there is none yet.
    pub fn get_or_make(
        &self,
        key: &str,
        make: impl FnOnce() -> anyhow::Result<V>,
    ) -> anyhow::Result<V> {
        let known = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        if let Some(value) = known {
            return Ok(value);
        }
        let value = make()?;
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_owned())
            .or_insert(value)
            .clone())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_killed_runs_temporaries_and_a_legacy_journal_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let build = dir.path();
        std::fs::create_dir_all(build.join(".kiln-repack")).unwrap();
        std::fs::write(build.join(".kiln-repack/l10n+mac+de.state"), b"x").unwrap();
        std::fs::create_dir_all(build.join("linux-x86_64/de")).unwrap();
        std::fs::write(build.join("linux-x86_64/de/.tmp-abc"), b"x").unwrap();
        std::fs::write(build.join("linux-x86_64/de/firefox-121.0.tar.xz"), b"x").unwrap();
        assert_eq!(super::remove_stale_temporaries(build).unwrap(), 2);
        assert!(!build.join(".kiln-repack").exists());
        assert!(!build.join("linux-x86_64/de/.tmp-abc").exists());
        assert!(build.join("linux-x86_64/de/firefox-121.0.tar.xz").is_file());
    }
}
