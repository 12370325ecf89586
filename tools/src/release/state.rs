//! The pipeline database (SQLite, WAL): one row per release and one per work item.
//!
//! An item is `done` only once its output was verified; its row keeps the inputs' fingerprint
//! and the output's SHA-256, so a rerun can tell a valid output from a missing or stale one.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::release::name::ReleaseName;

/// A database error.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite failed.
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A release with that name is already registered.
    #[error("{0} already exists")]
    Duplicate(String),
    /// No such release.
    #[error("no release {0} in the state database")]
    Unknown(String),
}

/// Where a release stands.
pub mod status {
    /// Registered by go-to-build, promote not started.
    pub const SCHEDULED: &str = "scheduled";
    /// Promote is running (or was killed while running).
    pub const PROMOTING: &str = "promoting";
    /// A stage failed; rerun promote.
    pub const FAILED: &str = "failed";
    /// Promote finished: candidates are ready.
    pub const CANDIDATES: &str = "candidates";
    /// Copied to releases/.
    pub const PUSHED: &str = "pushed";
    /// The ship rule change is scheduled and waits for signoffs.
    pub const SHIP_PENDING: &str = "ship-pending";
    /// The release channel points at it.
    pub const SHIPPED: &str = "shipped";
    /// Stopped by `kiln halt`.
    pub const HALTED: &str = "halted";
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
    /// See [`status`].
    pub status: String,
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
    /// `running`, `done` or `failed`.
    pub status: String,
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
    /// Stable key within the stage (e.g. `l10n/linux-x86_64/de`).
    pub key: String,
    /// Fingerprint of the inputs.
    pub fingerprint: String,
    /// Output path relative to the build directory (or a name for non-file outputs).
    pub output: String,
    /// SHA-256 of the output.
    pub sha256: String,
    /// `done` or `failed`.
    pub status: String,
    /// The failure, if any.
    pub error: Option<String>,
}

/// The pipeline database; safe to share between worker threads.
#[derive(Debug)]
pub struct State {
    conn: Mutex<Connection>,
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS releases (
    name TEXT PRIMARY KEY, product TEXT NOT NULL, version TEXT NOT NULL, build INTEGER NOT NULL,
    revision TEXT NOT NULL, partials TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
    next_version TEXT NOT NULL, created_by TEXT NOT NULL, created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL, ship_change INTEGER, note TEXT,
    UNIQUE (product, version, build));
CREATE TABLE IF NOT EXISTS phases (
    release TEXT NOT NULL REFERENCES releases(name), stage TEXT NOT NULL, status TEXT NOT NULL,
    started_at INTEGER NOT NULL, finished_at INTEGER, PRIMARY KEY (release, stage));
CREATE TABLE IF NOT EXISTS items (
    release TEXT NOT NULL REFERENCES releases(name), stage TEXT NOT NULL, key TEXT NOT NULL,
    fingerprint TEXT NOT NULL, output TEXT NOT NULL, sha256 TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT, updated_at INTEGER NOT NULL, PRIMARY KEY (release, stage, key));
";

impl State {
    /// Opens (creating if needed) the database at `path` in WAL mode.
    pub fn open(path: &Path) -> Result<State, StateError> {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(State {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a release; refuses a duplicate product/version/build.
    pub fn insert_release(&self, name: &ReleaseName, row: &ReleaseRow) -> Result<(), StateError> {
        let conn = self.conn();
        let result = conn.execute(
            "INSERT INTO releases (name, product, version, build, revision, partials, kind, status,
             next_version, created_by, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
            params![
                name.to_string(),
                name.product(),
                name.version().as_str(),
                name.build(),
                row.revision,
                serde_json::to_string(&row.partials).expect("strings"),
                row.kind,
                row.status,
                row.next_version,
                row.created_by,
                row.created_at,
            ],
        );
        match result {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StateError::Duplicate(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReleaseRow> {
        let partials: String = r.get(5)?;
        Ok(ReleaseRow {
            name: r.get(0)?,
            version: r.get(2)?,
            build: r.get(3)?,
            revision: r.get(4)?,
            partials: serde_json::from_str(&partials).unwrap_or_default(),
            kind: r.get(6)?,
            status: r.get(7)?,
            next_version: r.get(8)?,
            created_by: r.get(9)?,
            created_at: r.get(10)?,
            updated_at: r.get(11)?,
            ship_change: r.get(12)?,
            note: r.get(13)?,
        })
    }

    const COLUMNS: &'static str = "name, product, version, build, revision, partials, kind, status,
        next_version, created_by, created_at, updated_at, ship_change, note";

    /// One release.
    pub fn release(&self, name: &str) -> Result<ReleaseRow, StateError> {
        self.conn()
            .query_row(
                &format!("SELECT {} FROM releases WHERE name = ?1", Self::COLUMNS),
                [name],
                Self::row,
            )
            .optional()?
            .ok_or_else(|| StateError::Unknown(name.to_owned()))
    }

    /// Every release, oldest first.
    pub fn releases(&self) -> Result<Vec<ReleaseRow>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM releases ORDER BY created_at, rowid",
            Self::COLUMNS
        ))?;
        let rows = stmt.query_map([], Self::row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sets a release's status (and note).
    pub fn set_status(
        &self,
        name: &str,
        status: &str,
        note: Option<&str>,
    ) -> Result<(), StateError> {
        self.conn().execute(
            "UPDATE releases SET status = ?2, note = ?3, updated_at = ?4 WHERE name = ?1",
            params![name, status, note, now()],
        )?;
        Ok(())
    }

    /// Records the ship's scheduled change id.
    pub fn set_ship_change(&self, name: &str, sc_id: i64) -> Result<(), StateError> {
        self.conn().execute(
            "UPDATE releases SET ship_change = ?2, updated_at = ?3 WHERE name = ?1",
            params![name, sc_id, now()],
        )?;
        Ok(())
    }

    /// Marks a stage started.
    pub fn phase_started(&self, release: &str, stage: &str) -> Result<(), StateError> {
        self.conn().execute(
            "INSERT INTO phases (release, stage, status, started_at) VALUES (?1, ?2, 'running', ?3)
             ON CONFLICT (release, stage) DO UPDATE SET status = 'running', started_at = ?3,
             finished_at = NULL",
            params![release, stage, now()],
        )?;
        Ok(())
    }

    /// Marks a stage finished (`done` or `failed`).
    pub fn phase_finished(
        &self,
        release: &str,
        stage: &str,
        status: &str,
    ) -> Result<(), StateError> {
        self.conn().execute(
            "UPDATE phases SET status = ?3, finished_at = ?4 WHERE release = ?1 AND stage = ?2",
            params![release, stage, status, now()],
        )?;
        Ok(())
    }

    /// A release's stages, in start order.
    pub fn phases(&self, release: &str) -> Result<Vec<PhaseRow>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT stage, status, started_at, finished_at FROM phases WHERE release = ?1
             ORDER BY started_at, rowid",
        )?;
        let rows = stmt.query_map([release], |r| {
            Ok(PhaseRow {
                stage: r.get(0)?,
                status: r.get(1)?,
                started_at: r.get(2)?,
                finished_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One item's record.
    pub fn item(
        &self,
        release: &str,
        stage: &str,
        key: &str,
    ) -> Result<Option<ItemRow>, StateError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT stage, key, fingerprint, output, sha256, status, error FROM items
                 WHERE release = ?1 AND stage = ?2 AND key = ?3",
                params![release, stage, key],
                item_row,
            )
            .optional()?)
    }

    /// A stage's items (every stage if `stage` is None), sorted by stage and key.
    pub fn items(&self, release: &str, stage: Option<&str>) -> Result<Vec<ItemRow>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT stage, key, fingerprint, output, sha256, status, error FROM items
             WHERE release = ?1 AND (?2 IS NULL OR stage = ?2) ORDER BY stage, key",
        )?;
        let rows = stmt.query_map(params![release, stage], item_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an item (insert or replace).
    pub fn put_item(&self, release: &str, item: &ItemRow) -> Result<(), StateError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO items (release, stage, key, fingerprint, output, sha256, status,
             error, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                release,
                item.stage,
                item.key,
                item.fingerprint,
                item.output,
                item.sha256,
                item.status,
                item.error,
                now()
            ],
        )?;
        Ok(())
    }
}

fn item_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemRow> {
    Ok(ItemRow {
        stage: r.get(0)?,
        key: r.get(1)?,
        fingerprint: r.get(2)?,
        output: r.get(3)?,
        sha256: r.get(4)?,
        status: r.get(5)?,
        error: r.get(6)?,
    })
}
