//! The executor seam: who runs a stage's work units. A distributed stage (construct, certify,
//! package's MARs) describes its work as a [`Plan`]: units with fingerprints, and how to run one.
//! [`Executor::Local`] runs the units on this machine's threads; [`Executor::Workers`] queues them
//! in the state database and waits while `kiln worker` processes on any host claim and run them
//! (see [`crate::release::worker`]). Either way a unit makes, verifies and records its own items,
//! so the item table, the artifacts and the counts are the same whichever side ran them.

use std::sync::OnceLock;
use std::time::Duration;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::release::item_key::ItemKey;
use crate::release::items::{Counts, Item, StageItems};
use crate::release::state::{State, UnitStatus};

/// What running one unit did: its items' counts and failures (`(item key, error)`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitOutcome {
    /// Its items' counts.
    pub counts: Counts,
    /// Its failed items.
    pub failures: Vec<(String, String)>,
}

impl UnitOutcome {
    /// Adds another unit's outcome.
    pub fn add(&mut self, other: UnitOutcome) {
        self.counts.add(other.counts);
        self.failures.extend(other.failures);
    }
}

/// A stage's work, split into units any executor can run.
pub trait Plan: Sync {
    /// The stage's name in the queue and item tables.
    fn stage(&self) -> &str;
    /// Every unit, `(key, fingerprint)`, in a stable order. The coordinator and a worker plan
    /// the same units with the same fingerprints from the same inputs; a worker refuses a unit
    /// it plans differently.
    fn units(&self) -> Vec<(String, String)>;
    /// How many items the units make in all (a progress bar's length).
    fn item_count(&self) -> usize;
    /// Runs one unit: reuses its valid items, makes, verifies and records the rest. An item that
    /// fails is recorded failed and reported in the outcome; `Err` is for failures that are not
    /// an item's (the state database is gone, the unit is unknown).
    fn run_unit(&self, unit: &str, bar: &indicatif::ProgressBar) -> anyhow::Result<UnitOutcome>;
}

/// How one item is made and checked (a stage whose units are its items).
pub trait ItemWork: Sync {
    /// Writes the item's output.
    fn make(&self, item: &Item) -> anyhow::Result<()>;
    /// Checks the written output.
    fn verify(&self, item: &Item) -> anyhow::Result<()>;
}

impl<M, V> ItemWork for (M, V)
where
    M: Fn(&Item) -> anyhow::Result<()> + Sync,
    V: Fn(&Item) -> anyhow::Result<()> + Sync,
{
    fn make(&self, item: &Item) -> anyhow::Result<()> {
        (self.0)(item)
    }

    fn verify(&self, item: &Item) -> anyhow::Result<()> {
        (self.1)(item)
    }
}

impl<W: ItemWork + ?Sized> ItemWork for Box<W> {
    fn make(&self, item: &Item) -> anyhow::Result<()> {
        (**self).make(item)
    }

    fn verify(&self, item: &Item) -> anyhow::Result<()> {
        (**self).verify(item)
    }
}

/// A plan whose units are single items.
pub struct ItemPlan<'a, W> {
    /// The stage's item table.
    pub table: StageItems<'a>,
    /// The items.
    pub items: Vec<Item>,
    /// How each is made.
    pub work: W,
}

impl<W> std::fmt::Debug for ItemPlan<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemPlan")
            .field("stage", &self.table.stage)
            .field("items", &self.items.len())
            .finish_non_exhaustive()
    }
}

impl<W: ItemWork> Plan for ItemPlan<'_, W> {
    fn stage(&self) -> &str {
        self.table.stage
    }

    fn units(&self) -> Vec<(String, String)> {
        self.items
            .iter()
            .map(|i| (i.key.to_string(), i.fingerprint.clone()))
            .collect()
    }

    fn item_count(&self) -> usize {
        self.items.len()
    }

    fn run_unit(&self, unit: &str, bar: &indicatif::ProgressBar) -> anyhow::Result<UnitOutcome> {
        let missing = || anyhow::anyhow!("{}: no item {unit} in this plan", self.stage());
        let key: ItemKey = unit.parse().map_err(|_| missing())?;
        let item = self
            .items
            .iter()
            .find(|i| i.key == key)
            .ok_or_else(missing)?;
        let (standing, failure) =
            self.table
                .run_one(item, bar, |i| self.work.make(i), |i| self.work.verify(i))?;
        let mut counts = Counts::default();
        counts.count(standing, failure.is_some());
        Ok(UnitOutcome {
            counts,
            failures: failure
                .map(|e| (item.key.to_string(), e))
                .into_iter()
                .collect(),
        })
    }
}

/// Who runs the units of a distributed stage (`[pipeline] executor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    /// This process, on `jobs` threads (`None`: one per core).
    Local {
        /// Threads.
        jobs: Option<usize>,
    },
    /// `kiln worker` processes, through the state database's queue.
    Workers {
        /// How often the coordinator looks at the queue.
        poll: Duration,
    },
}

/// How long a coordinator waits with nothing claimed before it says it is waiting for workers.
const NO_WORKER_HINT: Duration = Duration::from_secs(10);

impl Executor {
    /// Runs every unit of `plan` for `release`; returns the summed outcome.
    pub fn run(
        &self,
        state: &State,
        release: &str,
        plan: &dyn Plan,
        bar: &indicatif::ProgressBar,
    ) -> anyhow::Result<UnitOutcome> {
        bar.set_length(plan.item_count() as u64);
        match *self {
            Executor::Local { jobs } => {
                let units = plan.units();
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(jobs.unwrap_or(0))
                    .build()?;
                let outcomes: Vec<anyhow::Result<UnitOutcome>> = pool.install(|| {
                    units
                        .par_iter()
                        .map(|(unit, _)| plan.run_unit(unit, bar))
                        .collect()
                });
                let mut total = UnitOutcome::default();
                for outcome in outcomes {
                    total.add(outcome?);
                }
                Ok(total)
            }
            Executor::Workers { poll } => wait_for_workers(state, release, plan, bar, poll),
        }
    }
}

/// Queues the plan's units and waits until workers have finished each, showing their items on
/// `bar`. A unit a worker could not run counts as a failure of the unit's key.
fn wait_for_workers(
    state: &State,
    release: &str,
    plan: &dyn Plan,
    bar: &indicatif::ProgressBar,
    poll: Duration,
) -> anyhow::Result<UnitOutcome> {
    let stage = plan.stage();
    let units = plan.units();
    state.enqueue(release, stage, &units)?;
    let planned: std::collections::HashSet<&str> =
        units.iter().map(|(key, _)| key.as_str()).collect();
    tracing::info!(release, stage, units = units.len(), "queued for workers");
    let waiting_since = std::time::Instant::now();
    let mut hinted = false;
    loop {
        let rows = state.units(Some((release, stage)))?;
        let mut total = UnitOutcome::default();
        let mut open = 0;
        let mut claimed = 0;
        for row in rows.iter().filter(|r| planned.contains(r.unit.as_str())) {
            match row.status {
                UnitStatus::Done => {
                    let outcome: UnitOutcome = serde_json::from_str(
                        row.outcome.as_deref().unwrap_or_default(),
                    )
                    .map_err(|e| {
                        anyhow::anyhow!("{stage} unit {}: unreadable outcome: {e}", row.unit)
                    })?;
                    total.add(outcome);
                }
                UnitStatus::Failed => {
                    total.counts.failed += 1;
                    total.failures.push((
                        row.unit.clone(),
                        row.error.clone().unwrap_or_else(|| "failed".to_owned()),
                    ));
                }
                UnitStatus::Claimed => {
                    open += 1;
                    claimed += 1;
                }
                UnitStatus::Queued => open += 1,
            }
        }
        bar.set_position(total.counts.total() as u64);
        if open == 0 {
            state.collect_units(release, stage)?;
            return Ok(total);
        }
        if claimed == 0 && !hinted && waiting_since.elapsed() > NO_WORKER_HINT {
            hinted = true;
            eprintln!(
                "{stage}: {open} unit(s) queued and none claimed: is a `kiln worker --config \
                 kiln.toml` running against this state database?"
            );
        }
        std::thread::sleep(poll);
    }
}

static IDENTITY: OnceLock<String> = OnceLock::new();

/// This process's name in the item table's `made_by` and the queue's `worker`: the name
/// [`set_identity`] gave it, else `<hostname>:<pid>`.
pub fn identity() -> &'static str {
    IDENTITY.get_or_init(|| format!("{}:{}", hostname(), std::process::id()))
}

/// Names this process (a worker's `--name`); only the first call takes effect.
pub fn set_identity(name: &str) {
    let _ = IDENTITY.set(name.to_owned());
}

/// The kernel's host name (Linux), else `localhost`. std has no portable call for it and the one
/// line does not earn a dependency.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
