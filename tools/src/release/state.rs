//! The pipeline database: one row per release, per stage run and per work item, and the queue
//! of work units that `kiln worker` processes claim. A SQLite file (WAL) by default, or a
//! PostgreSQL database (`state_db = "postgres://…"`) that coordinators and workers on several
//! machines share; both run the same migrations and the same queries, through the SQL layer the
//! update server's store is built on ([`updater_server::store::sql`]).
//!
//! An item is `done` only once its output was verified; its row keeps the inputs' fingerprint
//! and the output's SHA-256, so a rerun can tell a valid output from a missing or stale one.
//! Statuses are types ([`ReleaseStatus`], [`PhaseStatus`], [`ItemStatus`], [`UnitStatus`]);
//! a stored string that is none of them is an error when read, never a silent default.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};
use updater_server::config::Database;
use updater_server::sql_args as args;
use updater_server::store::schema::Schema;
use updater_server::store::sql::{ConnectOptions, Db, Tx};
use updater_server::store::value::Row;

use crate::release::item_key::ItemKey;
use crate::release::name::ReleaseName;

/// A database error.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database failed (or stayed unreachable longer than [`RETRY_FOR`]).
    #[error("state database: {0}")]
    Sql(#[from] updater_server::Error),
    /// A release with that name is already registered.
    #[error("{0} already exists")]
    Duplicate(String),
    /// No such release.
    #[error("no release {0} in the state database")]
    Unknown(String),
    /// A stored value is not one this version knows (a newer Kiln wrote it, or it was edited).
    #[error("state database: {what} {value:?} is not a known value")]
    BadValue {
        /// What the column holds.
        what: &'static str,
        /// The stored text.
        value: String,
    },
}

type Result<T> = std::result::Result<T, StateError>;

/// How long an operation retries while the database is unreachable (a PostgreSQL restart or
/// failover), before it fails.
pub const RETRY_FOR: Duration = Duration::from_secs(90);

/// A closed set of stored words: each variant's text is what the database holds.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl FromStr for $name {
            type Err = StateError;

            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(StateError::BadValue { what: $what, value: s.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// Where a release stands.
    ReleaseStatus, "release status" {
        /// Registered by go-to-build, promote not started.
        Scheduled = "scheduled",
        /// Promote is running (or was killed while running).
        Promoting = "promoting",
        /// A stage failed; rerun promote.
        Failed = "failed",
        /// Promote finished: candidates are ready.
        Candidates = "candidates",
        /// Copied to releases/.
        Pushed = "pushed",
        /// The ship rule change is scheduled and waits for signoffs.
        ShipPending = "ship-pending",
        /// The release channel points at it.
        Shipped = "shipped",
        /// Stopped by `kiln halt`.
        Halted = "halted",
    }
}

stored_enum! {
    /// Where one stage run (or push, or ship) stands.
    PhaseStatus, "phase status" {
        /// A process is working on it (or was, and was killed: see `kiln status`).
        Running = "running",
        /// Nobody works on it: it waits for people (ship waits for signoffs).
        Waiting = "waiting",
        /// Finished.
        Done = "done",
        /// Failed; rerunning the command retries it.
        Failed = "failed",
    }
}

stored_enum! {
    /// An item's record.
    ItemStatus, "item status" {
        /// Made and verified; its SHA-256 is recorded.
        Done = "done",
        /// Its last attempt failed.
        Failed = "failed",
    }
}

stored_enum! {
    /// A queued work unit (the workers executor).
    UnitStatus, "unit status" {
        /// Waiting for a worker.
        Queued = "queued",
        /// A worker holds its lease (or held it: an expired lease is claimable again).
        Claimed = "claimed",
        /// Its worker finished it and recorded its items.
        Done = "done",
        /// Its worker could not finish it; the error is recorded.
        Failed = "failed",
    }
}

/// A release's record.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ReleaseRow {
    /// `Product-V-buildN`.
    pub name: String,
    /// Version.
    pub version: String,
    /// Build number.
    pub build: u32,
    /// Source revision.
    pub revision: String,
    /// Partial sources: release names.
    pub partials: Vec<String>,
    /// `release` or `chemspill`.
    pub kind: String,
    /// Where it stands.
    pub status: ReleaseStatus,
    /// The next dot version (Ship-It's `next_version`).
    pub next_version: String,
    /// Who created it.
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last change.
    pub updated_at: i64,
    /// Scheduled change id of the ship, once requested.
    pub ship_change: Option<i64>,
    /// The last failure or halt reason.
    pub note: Option<String>,
}

/// One stage's record.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PhaseRow {
    /// Stage name.
    pub stage: String,
    /// Where it stands.
    pub status: PhaseStatus,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds, when finished.
    pub finished_at: Option<i64>,
}

/// One work item's record.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ItemRow {
    /// Stage.
    pub stage: String,
    /// What the item is (stored as its text, e.g. `l10n/linux-x86_64/de`).
    pub key: ItemKey,
    /// Fingerprint of the inputs.
    pub fingerprint: String,
    /// Output path relative to the build directory (or a name for non-file outputs).
    pub output: String,
    /// SHA-256 of the output.
    pub sha256: String,
    /// Done or failed.
    pub status: ItemStatus,
    /// The failure, if any.
    pub error: Option<String>,
    /// The process that recorded it (`host:pid`, or a worker's name).
    pub made_by: Option<String>,
}

/// One queued work unit.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct UnitRow {
    /// The release.
    pub release: String,
    /// The stage.
    pub stage: String,
    /// The unit's key within the stage.
    pub unit: String,
    /// The fingerprint the coordinator planned it with; a worker that plans another refuses it.
    pub fingerprint: String,
    /// Where it stands.
    pub status: UnitStatus,
    /// The worker that holds or held it.
    pub worker: Option<String>,
    /// Claims so far (more than one: a worker died or lost its lease).
    pub attempts: i64,
    /// When its lease ends (database clock, Unix ms), while claimed.
    pub lease_until: Option<i64>,
    /// When its worker finished it (database clock, Unix ms).
    pub finished_ms: Option<i64>,
    /// What the unit did, once done (JSON of the stage's counts).
    pub outcome: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The coordinator has counted it (its stage finished); kept as a record.
    pub collected: bool,
}

/// A unit a worker holds: its lease is proven by `token`, which only this claim knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The queue row.
    pub id: i64,
    /// The release.
    pub release: String,
    /// The stage.
    pub stage: String,
    /// The unit's key.
    pub unit: String,
    /// The planned fingerprint.
    pub fingerprint: String,
    /// This claim's secret.
    pub token: String,
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The pipeline's schema: version 1 is the schema of the SQLite-only releases (so their
/// databases are adopted as they are), version 2 adds insertion order, who made each item, and
/// the work queue.
pub const SCHEMA: Schema = Schema {
    table: "kiln_pipeline_migrations",
    migrations: &[
        (
            1,
            &[
                "CREATE TABLE IF NOT EXISTS releases (
    name {text} PRIMARY KEY, product {text} NOT NULL, version {text} NOT NULL, build {int} NOT NULL,
    revision {text} NOT NULL, partials {text} NOT NULL, kind {text} NOT NULL, status {text} NOT NULL,
    next_version {text} NOT NULL, created_by {text} NOT NULL, created_at {int} NOT NULL,
    updated_at {int} NOT NULL, ship_change {int}, note {text},
    UNIQUE (product, version, build))",
                "CREATE TABLE IF NOT EXISTS phases (
    release {text} NOT NULL REFERENCES releases(name), stage {text} NOT NULL, status {text} NOT NULL,
    started_at {int} NOT NULL, finished_at {int}, PRIMARY KEY (release, stage))",
                "CREATE TABLE IF NOT EXISTS items (
    release {text} NOT NULL REFERENCES releases(name), stage {text} NOT NULL, key {text} NOT NULL,
    fingerprint {text} NOT NULL, output {text} NOT NULL, sha256 {text} NOT NULL, status {text} NOT NULL,
    error {text}, updated_at {int} NOT NULL, PRIMARY KEY (release, stage, key))",
            ],
        ),
        (
            2,
            &[
                "ALTER TABLE releases ADD COLUMN seq {int}",
                "ALTER TABLE phases ADD COLUMN seq {int}",
                "ALTER TABLE items ADD COLUMN made_by {text}",
                "CREATE TABLE IF NOT EXISTS queue (
    id {serial}, release {text} NOT NULL REFERENCES releases(name), stage {text} NOT NULL,
    unit {text} NOT NULL, fingerprint {text} NOT NULL, status {text} NOT NULL, worker {text},
    token {text}, lease_until {int}, attempts {int} NOT NULL, enqueued_ms {int} NOT NULL,
    finished_ms {int}, outcome {text}, error {text}, collected {int} NOT NULL,
    UNIQUE (release, stage, unit))",
                "CREATE INDEX IF NOT EXISTS queue_status ON queue(status, id)",
            ],
        ),
    ],
};

/// How the pipeline connects: `kiln` on PostgreSQL, and up to 30 s of waiting for another
/// process's SQLite write (workers and a coordinator may share one file on one host).
const PIPELINE: ConnectOptions = ConnectOptions {
    application_name: "kiln",
    busy_timeout: Duration::from_secs(30),
};

/// The pipeline database; safe to share between threads.
#[derive(Debug)]
pub struct State {
    db: Db,
}

const RELEASE_COLUMNS: &str = "name, product, version, build, revision, partials, kind, status,
    next_version, created_by, created_at, updated_at, ship_change, note";

const ITEM_COLUMNS: &str = "stage, key, fingerprint, output, sha256, status, error, made_by";

const UNIT_COLUMNS: &str = "release, stage, unit, fingerprint, status, worker, attempts,
    lease_until, outcome, error, collected, finished_ms";

fn text<T: FromStr<Err = StateError>>(row: &Row, idx: usize) -> Result<T> {
    row.get::<String>(idx)?.parse()
}

fn release_row(r: &Row) -> Result<ReleaseRow> {
    let partials: String = r.get(5)?;
    Ok(ReleaseRow {
        name: r.get(0)?,
        version: r.get(2)?,
        build: u32::try_from(r.get::<i64>(3)?).map_err(|_| StateError::BadValue {
            what: "build number",
            value: r.get::<i64>(3).unwrap_or_default().to_string(),
        })?,
        revision: r.get(4)?,
        partials: serde_json::from_str(&partials).map_err(|_| StateError::BadValue {
            what: "partials list",
            value: partials.clone(),
        })?,
        kind: r.get(6)?,
        status: text(r, 7)?,
        next_version: r.get(8)?,
        created_by: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        ship_change: r.get(12)?,
        note: r.get(13)?,
    })
}

fn item_row(r: &Row) -> Result<ItemRow> {
    Ok(ItemRow {
        stage: r.get(0)?,
        key: {
            let text: String = r.get(1)?;
            text.parse().map_err(|_| StateError::BadValue {
                what: "item key",
                value: text,
            })?
        },
        fingerprint: r.get(2)?,
        output: r.get(3)?,
        sha256: r.get(4)?,
        status: text(r, 5)?,
        error: r.get(6)?,
        made_by: r.get(7)?,
    })
}

fn unit_row(r: &Row) -> Result<UnitRow> {
    Ok(UnitRow {
        release: r.get(0)?,
        stage: r.get(1)?,
        unit: r.get(2)?,
        fingerprint: r.get(3)?,
        status: text(r, 4)?,
        worker: r.get(5)?,
        attempts: r.get(6)?,
        lease_until: r.get(7)?,
        outcome: r.get(8)?,
        error: r.get(9)?,
        collected: r.get::<i64>(10)? != 0,
        finished_ms: r.get(11)?,
    })
}

/// Runs `f` on every row, collecting the typed rows or the first error.
fn rows<T>(rows: Vec<Row>, f: fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

/// A fresh secret for a claim.
fn token() -> String {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    hex::encode(bytes)
}

impl State {
    /// Opens the database (creating a SQLite file if needed) and applies pending migrations.
    pub fn open(db: &Database) -> Result<State> {
        let state = State::connect(db)?;
        state.migrate()?;
        Ok(state)
    }

    /// Opens the database without migrating it.
    pub fn connect(db: &Database) -> Result<State> {
        Ok(State {
            db: Db::connect(db, &PIPELINE)?,
        })
    }

    /// Applies the migrations the database lacks; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<i64>> {
        Ok(self.db.migrate(&SCHEMA)?)
    }

    /// Runs `f` in a write transaction, retrying for up to [`RETRY_FOR`] while the database is
    /// unreachable. Every write here is idempotent or guarded (a claim's token), so a retry after
    /// a commit whose answer was lost does no harm.
    fn write<T>(&self, f: impl Fn(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.retrying(|| {
            let mut inner = None;
            let out = self.db.concurrent(|tx| match f(tx) {
                Ok(v) => Ok(v),
                Err(StateError::Sql(e)) => Err(e),
                Err(other) => {
                    inner = Some(other);
                    Err(updater_server::Error::Internal("rolled back".to_owned()))
                }
            });
            match (out, inner) {
                (_, Some(e)) => Err(e),
                (Ok(v), None) => Ok(v),
                (Err(e), None) => Err(e.into()),
            }
        })
    }

    /// Runs `f` in a read transaction, retrying while the database is unreachable.
    fn read<T>(&self, f: impl Fn(&Tx<'_>) -> updater_server::error::Result<T>) -> Result<T> {
        self.retrying(|| Ok(self.db.read(&f)?))
    }

    fn retrying<T>(&self, f: impl Fn() -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            match f() {
                Err(StateError::Sql(updater_server::Error::Unavailable(why)))
                    if started.elapsed() < RETRY_FOR =>
                {
                    tracing::warn!(%why, "state database unreachable; retrying");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    /// Registers a release; refuses a duplicate product/version/build.
    pub fn insert_release(&self, name: &ReleaseName, row: &ReleaseRow) -> Result<()> {
        let partials = serde_json::to_string(&row.partials).expect("strings");
        self.write(|tx| {
            let taken = tx.query_opt(
                "SELECT 1 FROM releases WHERE name = ?1 OR (product = ?2 AND version = ?3 AND build = ?4)",
                args![name.to_string(), name.product(), name.version().as_str(), i64::from(name.build())],
            )?;
            if taken.is_some() {
                return Err(StateError::Duplicate(name.to_string()));
            }
            tx.execute(
                "INSERT INTO releases (name, product, version, build, revision, partials, kind,
                 status, next_version, created_by, created_at, updated_at, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11,
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM releases))",
                args![
                    name.to_string(),
                    name.product(),
                    name.version().as_str(),
                    i64::from(name.build()),
                    &row.revision,
                    &partials,
                    &row.kind,
                    row.status.as_str(),
                    &row.next_version,
                    &row.created_by,
                    row.created_at,
                ],
            )?;
            Ok(())
        })
    }

    /// One release.
    pub fn release(&self, name: &str) -> Result<ReleaseRow> {
        let row = self.read(|tx| {
            tx.query_opt(
                &format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE name = ?1"),
                args![name],
            )
        })?;
        release_row(&row.ok_or_else(|| StateError::Unknown(name.to_owned()))?)
    }

    /// Every release, oldest first.
    pub fn releases(&self) -> Result<Vec<ReleaseRow>> {
        rows(
            self.read(|tx| {
                tx.query(
                    &format!(
                        "SELECT {RELEASE_COLUMNS} FROM releases
                         ORDER BY created_at, COALESCE(seq, 0), name"
                    ),
                    args![],
                )
            })?,
            release_row,
        )
    }

    /// Sets a release's status (and note).
    pub fn set_status(&self, name: &str, status: ReleaseStatus, note: Option<&str>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE releases SET status = ?2, note = ?3, updated_at = ?4 WHERE name = ?1",
                args![name, status.as_str(), note, now()],
            )?;
            Ok(())
        })
    }

    /// Records the ship's scheduled change id.
    pub fn set_ship_change(&self, name: &str, sc_id: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE releases SET ship_change = ?2, updated_at = ?3 WHERE name = ?1",
                args![name, sc_id, now()],
            )?;
            Ok(())
        })
    }

    /// Marks a stage started (`Running`), or waiting for people (`Waiting`).
    pub fn phase_started(&self, release: &str, stage: &str, status: PhaseStatus) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO phases (release, stage, status, started_at, seq)
                 VALUES (?1, ?2, ?3, ?4, (SELECT COALESCE(MAX(seq), 0) + 1 FROM phases))
                 ON CONFLICT (release, stage) DO UPDATE SET status = ?3, started_at = ?4,
                 finished_at = NULL",
                args![release, stage, status.as_str(), now()],
            )?;
            Ok(())
        })
    }

    /// Marks a stage finished (done or failed).
    pub fn phase_finished(&self, release: &str, stage: &str, status: PhaseStatus) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE phases SET status = ?3, finished_at = ?4 WHERE release = ?1 AND stage = ?2",
                args![release, stage, status.as_str(), now()],
            )?;
            Ok(())
        })
    }

    /// A release's stages, in start order.
    pub fn phases(&self, release: &str) -> Result<Vec<PhaseRow>> {
        let found = self.read(|tx| {
            tx.query(
                "SELECT stage, status, started_at, finished_at FROM phases WHERE release = ?1
                 ORDER BY started_at, COALESCE(seq, 0), stage",
                args![release],
            )
        })?;
        rows(found, |r| {
            Ok(PhaseRow {
                stage: r.get(0)?,
                status: text(r, 1)?,
                started_at: r.get(2)?,
                finished_at: r.get(3)?,
            })
        })
    }

    /// One item's record.
    pub fn item(&self, release: &str, stage: &str, key: &ItemKey) -> Result<Option<ItemRow>> {
        let key = key.to_string();
        self.read(|tx| {
            tx.query_opt(
                &format!(
                    "SELECT {ITEM_COLUMNS} FROM items WHERE release = ?1 AND stage = ?2 AND key = ?3"
                ),
                args![release, stage, &key],
            )
        })?
        .as_ref()
        .map(item_row)
        .transpose()
    }

    /// A stage's items (every stage if `stage` is None), sorted by stage and key.
    pub fn items(&self, release: &str, stage: Option<&str>) -> Result<Vec<ItemRow>> {
        let found = self.read(|tx| match stage {
            Some(stage) => tx.query(
                &format!(
                    "SELECT {ITEM_COLUMNS} FROM items WHERE release = ?1 AND stage = ?2
                     ORDER BY stage, key"
                ),
                args![release, stage],
            ),
            None => tx.query(
                &format!("SELECT {ITEM_COLUMNS} FROM items WHERE release = ?1 ORDER BY stage, key"),
                args![release],
            ),
        })?;
        rows(found, item_row)
    }

    /// Records an item (insert or replace).
    pub fn put_item(&self, release: &str, item: &ItemRow) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO items (release, stage, key, fingerprint, output, sha256, status,
                 error, updated_at, made_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (release, stage, key) DO UPDATE SET fingerprint = excluded.fingerprint,
                 output = excluded.output, sha256 = excluded.sha256, status = excluded.status,
                 error = excluded.error, updated_at = excluded.updated_at,
                 made_by = excluded.made_by",
                args![
                    release,
                    &item.stage,
                    item.key.to_string(),
                    &item.fingerprint,
                    &item.output,
                    &item.sha256,
                    item.status.as_str(),
                    &item.error,
                    now(),
                    &item.made_by,
                ],
            )?;
            Ok(())
        })
    }

    /// Queues a stage's units. A unit already queued, claimed or done with the same fingerprint
    /// and not yet collected is kept as it is (a rerun coordinator picks up what its killed
    /// predecessor queued); a failed or collected one, or one planned with another fingerprint,
    /// is queued afresh.
    pub fn enqueue(&self, release: &str, stage: &str, units: &[(String, String)]) -> Result<()> {
        self.write(|tx| {
            for (unit, fingerprint) in units {
                tx.execute(
                    &tx.dialect().render(
                        "INSERT INTO queue (release, stage, unit, fingerprint, status, attempts,
                         enqueued_ms, collected) VALUES (?1, ?2, ?3, ?4, 'queued', 0, {now_ms}, 0)
                         ON CONFLICT (release, stage, unit) DO UPDATE SET
                         fingerprint = excluded.fingerprint, status = 'queued', worker = NULL,
                         token = NULL, lease_until = NULL, attempts = 0,
                         enqueued_ms = excluded.enqueued_ms, finished_ms = NULL, outcome = NULL,
                         error = NULL, collected = 0
                         WHERE queue.status = 'failed' OR queue.collected = 1
                         OR queue.fingerprint <> excluded.fingerprint",
                    ),
                    args![release, stage, unit, fingerprint],
                )?;
            }
            Ok(())
        })
    }

    /// Claims the oldest claimable unit (queued, or claimed with an expired lease) for `worker`,
    /// with a lease of `lease`; with `only`, just units of that (release, stage). Concurrent
    /// claimers never get the same unit: on PostgreSQL the candidate row is locked with
    /// `FOR UPDATE SKIP LOCKED`, on SQLite write transactions are serialized.
    pub fn claim(
        &self,
        worker: &str,
        lease: Duration,
        only: Option<(&str, &str)>,
    ) -> Result<Option<Claim>> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let secret = token();
        let (filter, params) = match only {
            Some((release, stage)) => (
                "AND release = ?4 AND stage = ?5",
                args![worker, &secret, lease_ms, release, stage],
            ),
            None => ("", args![worker, &secret, lease_ms]),
        };
        let row = self.write(|tx| {
            Ok(tx.query_opt(
                &tx.dialect().render(&format!(
                    "UPDATE queue SET status = 'claimed', worker = ?1, token = ?2,
                     lease_until = {{now_ms}} + ?3, attempts = attempts + 1
                     WHERE id = (SELECT id FROM queue
                        WHERE (status = 'queued' OR (status = 'claimed' AND lease_until < {{now_ms}}))
                        AND collected = 0 {filter} ORDER BY id LIMIT 1 {{skip_locked}})
                     RETURNING id, release, stage, unit, fingerprint"
                )),
                params.clone(),
            )?)
        })?;
        row.map(|r| {
            Ok(Claim {
                id: r.get(0)?,
                release: r.get(1)?,
                stage: r.get(2)?,
                unit: r.get(3)?,
                fingerprint: r.get(4)?,
                token: secret.clone(),
            })
        })
        .transpose()
    }

    /// Extends `claim`'s lease by `lease` from now; false when the lease was lost (it expired
    /// and another worker claimed the unit, or the coordinator requeued it).
    pub fn renew(&self, claim: &Claim, lease: Duration) -> Result<bool> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        self.write(|tx| {
            Ok(tx.execute(
                &tx.dialect().render(
                    "UPDATE queue SET lease_until = {now_ms} + ?3
                     WHERE id = ?1 AND token = ?2 AND status = 'claimed'",
                ),
                args![claim.id, &claim.token, lease_ms],
            )? == 1)
        })
    }

    /// Ends `claim`: done with `outcome` (JSON), or failed with `error`. Accepted only while the
    /// claim still holds the unit, so a unit is finished once whatever the races; returns whether
    /// it was accepted.
    pub fn finish(&self, claim: &Claim, result: std::result::Result<&str, &str>) -> Result<bool> {
        let (status, outcome, error) = match result {
            Ok(outcome) => (UnitStatus::Done, Some(outcome), None),
            Err(error) => (UnitStatus::Failed, None, Some(error)),
        };
        self.write(|tx| {
            Ok(tx.execute(
                &tx.dialect().render(
                    "UPDATE queue SET status = ?3, outcome = ?4, error = ?5, finished_ms = {now_ms},
                     lease_until = NULL WHERE id = ?1 AND token = ?2 AND status = 'claimed'",
                ),
                args![claim.id, &claim.token, status.as_str(), outcome, error],
            )? == 1)
        })
    }

    /// The queued units of one stage (every stage and release if `stage` is None), in queue
    /// order.
    pub fn units(&self, scope: Option<(&str, &str)>) -> Result<Vec<UnitRow>> {
        let found = self.read(|tx| match scope {
            Some((release, stage)) => tx.query(
                &format!(
                    "SELECT {UNIT_COLUMNS} FROM queue WHERE release = ?1 AND stage = ?2 ORDER BY id"
                ),
                args![release, stage],
            ),
            None => tx.query(
                &format!("SELECT {UNIT_COLUMNS} FROM queue ORDER BY id"),
                args![],
            ),
        })?;
        rows(found, unit_row)
    }

    /// Whether any unit waits for a worker or is held by one.
    pub fn has_open_units(&self) -> Result<bool> {
        Ok(self
            .read(|tx| {
                tx.query_opt(
                    "SELECT 1 FROM queue WHERE status IN ('queued', 'claimed') AND collected = 0
                     LIMIT 1",
                    args![],
                )
            })?
            .is_some())
    }

    /// Marks a finished stage's units collected: the coordinator has counted them; they stay
    /// as the record of which worker did what (and in how many attempts) until the stage is
    /// queued again.
    pub fn collect_units(&self, release: &str, stage: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE queue SET collected = 1 WHERE release = ?1 AND stage = ?2",
                args![release, stage],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(state: &State) -> String {
        let name: ReleaseName = "Firefox-121.0-build1".parse().unwrap();
        state
            .insert_release(
                &name,
                &ReleaseRow {
                    name: name.to_string(),
                    version: "121.0".to_owned(),
                    build: 1,
                    revision: "abc".to_owned(),
                    partials: vec![],
                    kind: "release".to_owned(),
                    status: ReleaseStatus::Promoting,
                    next_version: "121.0.1".to_owned(),
                    created_by: "test".to_owned(),
                    created_at: now(),
                    updated_at: now(),
                    ship_change: None,
                    note: None,
                },
            )
            .unwrap();
        name.to_string()
    }

    #[test]
    fn an_unknown_stored_status_is_an_error_not_a_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let state = State::open(&Database::Sqlite(path.clone())).unwrap();
        let name = release(&state);
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute("UPDATE releases SET status = 'shiped'", [])
            .unwrap();
        assert!(matches!(
            state.release(&name),
            Err(StateError::BadValue {
                what: "release status",
                ..
            })
        ));
    }

    /// A claim's lease holds the unit against other claimers; once it ends, another worker
    /// claims the unit and the first one's renewal and result are refused.
    #[test]
    fn an_expired_lease_passes_the_unit_on_and_refuses_the_late_result() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(&Database::Sqlite(dir.path().join("s.db"))).unwrap();
        let name = release(&state);
        state
            .enqueue(
                &name,
                "construct",
                &[("chunk/1/1".to_owned(), "f".to_owned())],
            )
            .unwrap();
        let short = Duration::from_millis(200);
        let first = state.claim("a", short, None).unwrap().unwrap();
        assert_eq!(state.claim("b", short, None).unwrap(), None, "held by a");
        std::thread::sleep(Duration::from_millis(400));
        let second = state
            .claim("b", Duration::from_secs(60), None)
            .unwrap()
            .unwrap();
        assert_eq!(second.unit, first.unit);
        assert!(!state.renew(&first, short).unwrap());
        assert!(!state.finish(&first, Ok("{}")).unwrap());
        assert!(state.finish(&second, Ok("{}")).unwrap());
        let units = state.units(Some((&name, "construct"))).unwrap();
        assert_eq!(units.len(), 1);
        assert_eq!(
            (
                units[0].status,
                units[0].worker.as_deref(),
                units[0].attempts
            ),
            (UnitStatus::Done, Some("b"), 2)
        );
        // Queued again after collection, a done unit starts afresh.
        state.collect_units(&name, "construct").unwrap();
        state
            .enqueue(
                &name,
                "construct",
                &[("chunk/1/1".to_owned(), "f".to_owned())],
            )
            .unwrap();
        let units = state.units(Some((&name, "construct"))).unwrap();
        assert_eq!(
            (units[0].status, units[0].attempts),
            (UnitStatus::Queued, 0)
        );
    }
}
