//! Work items: the unit of resumability. An item's output counts only after it was verified
//! and its SHA-256 recorded with the inputs' fingerprint; a rerun reuses exactly those whose
//! record still matches the file and redoes the rest.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::release::item_key::ItemKey;
use crate::release::state::{ItemRow, ItemStatus, State, StateError};
use crate::release::store::Store;

/// What one stage did with its items.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Valid outputs of an earlier run, reused.
    pub done: usize,
    /// Made for the first time.
    pub made: usize,
    /// Made again: the earlier output was missing, invalid or stale.
    pub redone: usize,
    /// Failed.
    pub failed: usize,
}

impl Counts {
    /// Every item.
    pub fn total(&self) -> usize {
        self.done + self.made + self.redone + self.failed
    }

    /// Counts one item by how it stood before and whether it failed.
    pub fn count(&mut self, standing: Standing, failed: bool) {
        match (standing, failed) {
            (_, true) => self.failed += 1,
            (Standing::Valid, false) => self.done += 1,
            (Standing::Invalid, false) => self.redone += 1,
            (Standing::New, false) => self.made += 1,
        }
    }

    /// Adds another stage's or chunk's counts.
    pub fn add(&mut self, other: Counts) {
        self.done += other.done;
        self.made += other.made;
        self.redone += other.redone;
        self.failed += other.failed;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} done, {} made, {} redone, {} failed",
            self.done, self.made, self.redone, self.failed
        )
    }
}

/// One item to produce: a key, its inputs' fingerprint and its output file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// What it is (stable within the stage).
    pub key: ItemKey,
    /// Fingerprint of every input (hex).
    pub fingerprint: String,
    /// Output path relative to the stage's base directory.
    pub output: PathBuf,
}

/// How an item stood before a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Recorded, same fingerprint, the file matches the recorded SHA-256.
    Valid,
    /// Recorded earlier but missing, changed, failed or stale.
    Invalid,
    /// Never recorded.
    New,
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    file_digest::<Sha256>(path)
}

/// A file's digest with `D`, hex, read in 1 MiB pieces (never whole into memory).
pub fn file_digest<D: Digest>(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = D::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A fingerprint of labelled parts (length-prefixed, so parts cannot run together).
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// One stage's view of the item table.
#[derive(Debug)]
pub struct StageItems<'a> {
    /// The database.
    pub state: &'a State,
    /// The release name.
    pub release: &'a str,
    /// The stage name.
    pub stage: &'a str,
    /// Base directory of the outputs.
    pub base: &'a Path,
    /// Where a recorded output is published (with its `.sig`/`.asc`) before it counts as done;
    /// `None` for outputs published otherwise (push copies inside the store).
    pub publish_to: Option<&'a Store>,
}

impl StageItems<'_> {
    /// How `item` stands now.
    pub fn standing(&self, item: &Item) -> Result<Standing, StateError> {
        let Some(row) = self.state.item(self.release, self.stage, &item.key)? else {
            return Ok(Standing::New);
        };
        let valid = row.status == ItemStatus::Done
            && row.fingerprint == item.fingerprint
            && sha256_file(&self.base.join(&item.output)).is_ok_and(|sha| sha == row.sha256);
        Ok(if valid {
            Standing::Valid
        } else {
            Standing::Invalid
        })
    }

    /// Records `item` as done (hashing its output, which the caller has verified), once it is
    /// published to the store.
    pub fn record_done(&self, item: &Item) -> anyhow::Result<()> {
        let path = self.base.join(&item.output);
        let sha256 = sha256_file(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if let Some(store) = self.publish_to {
            store.publish_with_signatures(&path, &sha256)?;
        }
        self.state.put_item(
            self.release,
            &self.row(item, sha256, ItemStatus::Done, None),
        )?;
        Ok(())
    }

    /// Records `item` as failed.
    pub fn record_failed(&self, item: &Item, error: &str) -> Result<(), StateError> {
        self.state.put_item(
            self.release,
            &self.row(
                item,
                String::new(),
                ItemStatus::Failed,
                Some(error.to_owned()),
            ),
        )
    }

    fn row(
        &self,
        item: &Item,
        sha256: String,
        status: ItemStatus,
        error: Option<String>,
    ) -> ItemRow {
        ItemRow {
            stage: self.stage.to_owned(),
            key: item.key.clone(),
            fingerprint: item.fingerprint.clone(),
            output: item.output.to_string_lossy().replace('\\', "/"),
            sha256,
            status,
            error,
            made_by: Some(crate::release::executor::identity().to_owned()),
        }
    }

    /// Makes `item` unless it is valid: `make` writes the output, `verify` checks it; only then
    /// is it recorded done (as soon as it finishes, so a killed run keeps what it completed).
    /// Returns how it stood before and its failure, if it failed (recorded as such).
    pub fn run_one(
        &self,
        item: &Item,
        bar: &indicatif::ProgressBar,
        make: impl FnOnce(&Item) -> anyhow::Result<()>,
        verify: impl FnOnce(&Item) -> anyhow::Result<()>,
    ) -> Result<(Standing, Option<String>), StateError> {
        let standing = self.standing(item)?;
        if standing == Standing::Valid {
            bar.inc(1);
            return Ok((standing, None));
        }
        let result = make(item)
            .and_then(|()| verify(item))
            .and_then(|()| self.record_done(item));
        bar.set_message(item.key.to_string());
        bar.inc(1);
        match result {
            Ok(()) => {
                tracing::info!(stage = self.stage, item = %item.key, "made");
                Ok((standing, None))
            }
            Err(e) => {
                let message = format!("{e:#}");
                tracing::error!(stage = self.stage, item = %item.key, error = %message, "failed");
                self.record_failed(item, &message)?;
                Ok((standing, Some(message)))
            }
        }
    }

    /// Runs [`StageItems::run_one`] on every item, in parallel, here (the stages' small steps
    /// that always run on the coordinator: configure, the checksums, deploy). Returns the counts
    /// and the failures.
    pub fn run<M, V>(
        &self,
        items: &[Item],
        bar: &indicatif::ProgressBar,
        make: M,
        verify: V,
    ) -> Result<(Counts, Vec<(String, String)>), StateError>
    where
        M: Fn(&Item) -> anyhow::Result<()> + Sync,
        V: Fn(&Item) -> anyhow::Result<()> + Sync,
    {
        bar.set_length(items.len() as u64);
        let outcomes: Vec<Result<(Standing, Option<String>), StateError>> = items
            .par_iter()
            .map(|item| self.run_one(item, bar, &make, &verify))
            .collect();
        let mut counts = Counts::default();
        let mut failures = Vec::new();
        for (item, outcome) in items.iter().zip(outcomes) {
            let (standing, failure) = outcome?;
            counts.count(standing, failure.is_some());
            failures.extend(failure.map(|error| (item.key.to_string(), error)));
        }
        Ok((counts, failures))
    }
}

/// A progress bar for a stage: drawn on a terminal, hidden otherwise.
pub fn stage_bar(stage: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{stage:>9} {{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {{msg}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}
