//! All SQLite access: the schema, a writer connection behind a mutex and a pool of read-only
//! connections, transactions, and typed queries.
//!
//! The database runs in WAL mode with `synchronous=FULL`, so a write acknowledged to a client has
//! been committed durably. Every admin write is one `BEGIN IMMEDIATE` transaction; the snapshot for
//! the client endpoint is read inside that same transaction and published before the lock is
//! released, so snapshots appear in commit order.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior};
use serde::Serialize;
use serde_json::Value;

use crate::blob::Release;
use crate::error::{Error, Result};
use crate::rule::RuleRow;
use crate::snapshot::{Snapshot, SnapshotCell, SnapshotData};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS releases (
    name TEXT PRIMARY KEY, product TEXT NOT NULL, read_only INTEGER NOT NULL DEFAULT 0,
    data_version INTEGER NOT NULL, blob TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rules (
    rule_id INTEGER PRIMARY KEY, alias TEXT UNIQUE, product TEXT, channel TEXT,
    mapping TEXT, fallback_mapping TEXT, data_version INTEGER NOT NULL, row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rules_mapping ON rules(mapping);
CREATE INDEX IF NOT EXISTS rules_fallback_mapping ON rules(fallback_mapping);
CREATE TABLE IF NOT EXISTS emergency_shutoffs (
    product TEXT NOT NULL, channel TEXT NOT NULL, comment TEXT, data_version INTEGER NOT NULL,
    PRIMARY KEY (product, channel));
CREATE TABLE IF NOT EXISTS pinnable_releases (
    product TEXT NOT NULL, channel TEXT NOT NULL, version TEXT NOT NULL, mapping TEXT NOT NULL,
    data_version INTEGER NOT NULL, PRIMARY KEY (product, channel, version));
CREATE TABLE IF NOT EXISTS required_signoffs (
    product TEXT NOT NULL, channel TEXT NOT NULL, role TEXT NOT NULL,
    signoffs_required INTEGER NOT NULL, data_version INTEGER NOT NULL,
    PRIMARY KEY (product, channel, role));
CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS permissions (
    username TEXT NOT NULL REFERENCES users(username), permission TEXT NOT NULL,
    options TEXT NOT NULL, data_version INTEGER NOT NULL, PRIMARY KEY (username, permission));
CREATE TABLE IF NOT EXISTS user_roles (
    username TEXT NOT NULL REFERENCES users(username), role TEXT NOT NULL,
    PRIMARY KEY (username, role));
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY, username TEXT NOT NULL REFERENCES users(username),
    created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS scheduled_changes (
    sc_id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, change_type TEXT NOT NULL,
    row TEXT NOT NULL, base_data_version INTEGER, when_ms INTEGER, scheduled_by TEXT NOT NULL,
    state TEXT NOT NULL, data_version INTEGER NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS signoffs (
    sc_id INTEGER NOT NULL REFERENCES scheduled_changes(sc_id), username TEXT NOT NULL,
    role TEXT NOT NULL, PRIMARY KEY (sc_id, username));
CREATE TABLE IF NOT EXISTS history (
    change_id INTEGER PRIMARY KEY AUTOINCREMENT, object_kind TEXT NOT NULL, object_key TEXT NOT NULL,
    changed_by TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, data_version INTEGER, row TEXT);
CREATE INDEX IF NOT EXISTS history_object ON history(object_kind, object_key);
CREATE TABLE IF NOT EXISTS reports (
    report_id INTEGER PRIMARY KEY AUTOINCREMENT, received_ms INTEGER NOT NULL,
    product TEXT NOT NULL, channel TEXT NOT NULL, build_target TEXT NOT NULL, locale TEXT NOT NULL,
    from_version TEXT NOT NULL, from_build_id TEXT NOT NULL, to_version TEXT NOT NULL,
    to_build_id TEXT NOT NULL, patch_type TEXT NOT NULL, result TEXT NOT NULL, error_code INTEGER,
    release TEXT, rule_id INTEGER);
CREATE INDEX IF NOT EXISTS reports_release ON reports(release);
CREATE TABLE IF NOT EXISTS health_guards (
    rule_id INTEGER PRIMARY KEY, min_reports INTEGER NOT NULL, max_failure_rate REAL NOT NULL,
    baseline_release TEXT, tripped_ms INTEGER, data_version INTEGER NOT NULL);
";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn json_text(v: &impl Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("stored JSON is unreadable: {e}")))
}

/// A release row.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseRow {
    /// Release name.
    pub name: String,
    /// Product.
    pub product: String,
    /// Read-only releases cannot be changed or deleted.
    pub read_only: bool,
    /// Row version.
    pub data_version: i64,
    /// The blob as stored.
    pub blob: Value,
}

/// A release without its blob, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseSummary {
    /// Release name.
    pub name: String,
    /// Product.
    pub product: String,
    /// Read-only flag.
    pub read_only: bool,
    /// Row version.
    pub data_version: i64,
}

/// A rule row with its id and version.
#[derive(Debug, Clone, Serialize)]
pub struct StoredRule {
    /// Rule id.
    pub rule_id: i64,
    /// Row version.
    pub data_version: i64,
    /// The columns.
    #[serde(flatten)]
    pub row: RuleRow,
}

/// An emergency shutoff.
#[derive(Debug, Clone, Serialize)]
pub struct Shutoff {
    /// Product name.
    pub product: String,
    /// Channel.
    pub channel: String,
    /// Free-text comment.
    pub comment: Option<String>,
    /// Row version (starts at 1, +1 per change).
    pub data_version: i64,
}

/// A pinnable release.
#[derive(Debug, Clone, Serialize)]
pub struct Pin {
    /// Product name.
    pub product: String,
    /// Channel.
    pub channel: String,
    /// Version string.
    pub version: String,
    /// Release name.
    pub mapping: String,
    /// Row version (starts at 1, +1 per change).
    pub data_version: i64,
}

/// A required-signoff row.
#[derive(Debug, Clone, Serialize)]
pub struct RequiredSignoff {
    /// Product name.
    pub product: String,
    /// Channel.
    pub channel: String,
    /// Role name.
    pub role: String,
    /// Distinct signoffs needed from the role.
    pub signoffs_required: i64,
    /// Row version (starts at 1, +1 per change).
    pub data_version: i64,
}

/// Options of a permission: allowed actions (all when absent) and products (all when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionOptions {
    /// `create`, `modify`, `delete`, `enact`, `set`, `unset`; `None` allows every action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    /// Products the permission is restricted to; `None` means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<String>>,
}

/// One permission of a user.
#[derive(Debug, Clone, Serialize)]
pub struct Permission {
    /// User name.
    pub username: String,
    /// Permission object (`admin`, `rule`, `release`, ...).
    pub permission: String,
    /// Allowed actions and products.
    pub options: PermissionOptions,
    /// Row version (starts at 1, +1 per change).
    pub data_version: i64,
}

/// A scheduled change.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduledChange {
    /// Scheduled change id.
    pub sc_id: i64,
    /// `rules`, `releases` or `emergency_shutoffs`.
    pub kind: String,
    /// `insert`, `update` or `delete`.
    pub change_type: String,
    /// The row (or changed columns) to apply.
    pub row: Value,
    /// The `data_version` the change was based on.
    pub base_data_version: Option<i64>,
    /// Earliest enactment time, ms since the epoch.
    pub when: Option<i64>,
    /// Who scheduled it (enacted with their permissions).
    pub scheduled_by: String,
    /// `pending`, `enacted`, `cancelled` or `failed`.
    pub state: String,
    /// Row version (starts at 1, +1 per change).
    pub data_version: i64,
    /// User → role of each signoff.
    pub signoffs: HashMap<String, String>,
}

/// One history row: who changed what, when, and the full row after the change (`None`: deleted).
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// History row id.
    pub change_id: i64,
    /// What changed (`rule`, `release`, ...).
    pub object_kind: String,
    /// Which object changed.
    pub object_key: String,
    /// Who made the change.
    pub changed_by: String,
    /// When, ms since the epoch.
    pub timestamp: i64,
    /// Row version (starts at 1, +1 per change).
    pub data_version: Option<i64>,
    /// The row (or changed columns) to apply.
    pub row: Option<Value>,
}

/// Where a report belongs: the release it updated to and the rule that offered it, when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    /// The release whose version and buildID the report names.
    pub release: Option<String>,
    /// The rule that answers the report's from-build.
    pub rule_id: Option<i64>,
}

/// One group of stored reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCount {
    /// The attributed rule.
    pub rule_id: Option<i64>,
    /// The version updated from.
    pub from_version: String,
    /// `result == "success"`.
    pub success: bool,
    /// The updater's error code, for failures.
    pub error_code: Option<i64>,
    /// How many reports.
    pub count: i64,
}

/// A rule's health guard: halt the rule when its release fails too often.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthGuard {
    /// The guarded rule.
    pub rule_id: i64,
    /// Reports needed before the guard may act.
    pub min_reports: i64,
    /// The failure rate the release must significantly exceed.
    pub max_failure_rate: f64,
    /// The release the failure rate is compared with (the previous release), if any.
    pub baseline_release: Option<String>,
    /// When the guard halted the rule (ms), once it has.
    pub tripped_ms: Option<i64>,
    /// Row version.
    pub data_version: i64,
}

fn health_guard_row(row: &Row<'_>) -> rusqlite::Result<HealthGuard> {
    Ok(HealthGuard {
        rule_id: row.get(0)?,
        min_reports: row.get(1)?,
        max_failure_rate: row.get(2)?,
        baseline_release: row.get(3)?,
        tripped_ms: row.get(4)?,
        data_version: row.get(5)?,
    })
}

/// Read-only connections next to the writer: in WAL mode they read the last committed state
/// while the writer writes, so reads never queue behind the write mutex.
const READERS: usize = 4;

/// The database: one writer connection behind a mutex, and a small pool of read-only ones.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

/// A transaction on the store; every typed query lives here.
#[derive(Debug)]
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` in WAL mode and applies the schema.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            reader.busy_timeout(std::time::Duration::from_secs(5))?;
            readers.push(Mutex::new(reader));
        }
        Ok(Store {
            conn: Mutex::new(conn),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        match self.conn.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A read-only connection: the first free one, starting from a rotating index, else waits
    /// for that one.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let n = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            match self.readers[(start + i) % n].try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        match self.readers[start].lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Runs `f` in a read transaction on a read-only connection (the last committed state).
    pub fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.reader();
        let tx = Tx {
            tx: conn.transaction_with_behavior(TransactionBehavior::Deferred)?,
        };
        f(&tx)
    }

    /// Runs `f` in a write transaction and commits it if `f` succeeds. When `publish` is given, the
    /// snapshot is rebuilt from the same transaction and published before the lock is released.
    pub fn write<T>(
        &self,
        publish: Option<&SnapshotCell>,
        f: impl FnOnce(&Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.lock();
        let tx = Tx {
            tx: conn.transaction_with_behavior(TransactionBehavior::Immediate)?,
        };
        let out = f(&tx)?;
        let data = match publish {
            Some(cell) => Some(tx.snapshot_data(cell.load().releases())?),
            None => None,
        };
        tx.tx.commit()?;
        if let (Some(cell), Some(data)) = (publish, data) {
            cell.store(Snapshot::build(data));
        }
        Ok(out)
    }

    /// Builds a snapshot from the current committed state.
    pub fn load_snapshot(&self) -> Result<Snapshot> {
        let data = self.read(|tx| tx.snapshot_data(&HashMap::new()))?;
        Ok(Snapshot::build(data))
    }

    /// Checks that the database answers.
    pub fn heartbeat(&self) -> Result<()> {
        self.lock().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}

fn release_summary(r: &Row<'_>) -> rusqlite::Result<ReleaseSummary> {
    Ok(ReleaseSummary {
        name: r.get(0)?,
        product: r.get(1)?,
        read_only: r.get(2)?,
        data_version: r.get(3)?,
    })
}

fn shutoff(r: &Row<'_>) -> rusqlite::Result<Shutoff> {
    Ok(Shutoff {
        product: r.get(0)?,
        channel: r.get(1)?,
        comment: r.get(2)?,
        data_version: r.get(3)?,
    })
}

fn pin(r: &Row<'_>) -> rusqlite::Result<Pin> {
    Ok(Pin {
        product: r.get(0)?,
        channel: r.get(1)?,
        version: r.get(2)?,
        mapping: r.get(3)?,
        data_version: r.get(4)?,
    })
}

fn required_signoff(r: &Row<'_>) -> rusqlite::Result<RequiredSignoff> {
    Ok(RequiredSignoff {
        product: r.get(0)?,
        channel: r.get(1)?,
        role: r.get(2)?,
        signoffs_required: r.get(3)?,
        data_version: r.get(4)?,
    })
}

impl Tx<'_> {
    fn collect<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        let rows = stmt
            .query_map(p, f)?
            .collect::<rusqlite::Result<Vec<T>>>()?;
        Ok(rows)
    }

    /// Reads everything a snapshot needs; releases whose `data_version` equals the one in `reuse`
    /// are taken from there instead of being parsed again.
    pub fn snapshot_data(&self, reuse: &HashMap<String, Arc<Release>>) -> Result<SnapshotData> {
        let rules = self
            .rules(None)?
            .into_iter()
            .map(|r| (r.rule_id, r.data_version, r.row))
            .collect();
        let mut releases = Vec::new();
        for summary in self.releases(None)? {
            match reuse.get(&summary.name) {
                Some(r) if r.data_version == summary.data_version => releases.push(Arc::clone(r)),
                _ => {
                    let Some(row) = self.release(&summary.name)? else {
                        continue;
                    };
                    match Release::load(&row.name, row.data_version, &row.blob) {
                        Ok(mut r) => {
                            r.row_product = Some(row.product.clone());
                            releases.push(Arc::new(r));
                        }
                        Err(e) => {
                            tracing::error!(release = %row.name, error = %e, "skipping unreadable release")
                        }
                    }
                }
            }
        }
        let shutoffs = self
            .shutoffs()?
            .into_iter()
            .map(|s| (s.product, s.channel))
            .collect();
        let pins = self
            .pins()?
            .into_iter()
            .map(|p| (p.product, p.channel, p.version, p.mapping))
            .collect();
        Ok(SnapshotData {
            rules,
            releases,
            shutoffs,
            pins,
        })
    }

    // ---- releases

    /// One release.
    pub fn release(&self, name: &str) -> Result<Option<ReleaseRow>> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT name, product, read_only, data_version, blob FROM releases WHERE name = ?1",
            )?
            .query_row([name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .optional()?;
        row.map(|(name, product, read_only, data_version, blob)| {
            Ok(ReleaseRow {
                name,
                product,
                read_only,
                data_version,
                blob: parse_json(&blob)?,
            })
        })
        .transpose()
    }

    /// Releases, optionally of one product, by name.
    pub fn releases(&self, product: Option<&str>) -> Result<Vec<ReleaseSummary>> {
        self.collect(
            "SELECT name, product, read_only, data_version FROM releases
             WHERE ?1 IS NULL OR product = ?1 ORDER BY name",
            [product],
            release_summary,
        )
    }

    /// Inserts or replaces a release row.
    pub fn put_release(&self, row: &ReleaseRow) -> Result<()> {
        self.tx.execute(
            "INSERT INTO releases (name, product, read_only, data_version, blob) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET product = ?2, read_only = ?3, data_version = ?4, blob = ?5",
            params![row.name, row.product, row.read_only, row.data_version, json_text(&row.blob)?],
        )?;
        Ok(())
    }

    /// Deletes a release row.
    pub fn delete_release(&self, name: &str) -> Result<()> {
        self.tx
            .execute("DELETE FROM releases WHERE name = ?1", [name])?;
        Ok(())
    }

    /// Ids of rules whose mapping or fallbackMapping is `name`.
    pub fn rules_mapping(&self, name: &str) -> Result<Vec<i64>> {
        self.collect(
            "SELECT rule_id FROM rules WHERE mapping = ?1 OR fallback_mapping = ?1 ORDER BY rule_id",
            [name],
            |r| r.get(0),
        )
    }

    // ---- rules

    fn rule_from(r: &Row<'_>) -> rusqlite::Result<(i64, i64, String)> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    }

    fn to_rule((rule_id, data_version, row): (i64, i64, String)) -> Result<StoredRule> {
        Ok(StoredRule {
            rule_id,
            data_version,
            row: parse_json(&row)?,
        })
    }

    /// One rule by id.
    pub fn rule(&self, rule_id: i64) -> Result<Option<StoredRule>> {
        let raw = self
            .tx
            .prepare_cached("SELECT rule_id, data_version, row FROM rules WHERE rule_id = ?1")?
            .query_row([rule_id], Self::rule_from)
            .optional()?;
        raw.map(Self::to_rule).transpose()
    }

    /// One rule by alias.
    pub fn rule_by_alias(&self, alias: &str) -> Result<Option<StoredRule>> {
        let raw = self
            .tx
            .prepare_cached("SELECT rule_id, data_version, row FROM rules WHERE alias = ?1")?
            .query_row([alias], Self::rule_from)
            .optional()?;
        raw.map(Self::to_rule).transpose()
    }

    /// Rules, optionally of one product, by id.
    pub fn rules(&self, product: Option<&str>) -> Result<Vec<StoredRule>> {
        self.collect(
            "SELECT rule_id, data_version, row FROM rules WHERE ?1 IS NULL OR product = ?1 ORDER BY rule_id",
            [product],
            Self::rule_from,
        )?
        .into_iter()
        .map(Self::to_rule)
        .collect()
    }

    /// Inserts or replaces a rule; `rule_id` `None` picks the next id. Returns the id.
    pub fn put_rule(&self, rule_id: Option<i64>, data_version: i64, row: &RuleRow) -> Result<i64> {
        self.tx.execute(
            "INSERT INTO rules (rule_id, alias, product, channel, mapping, fallback_mapping, data_version, row)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(rule_id) DO UPDATE SET alias = ?2, product = ?3, channel = ?4, mapping = ?5,
                 fallback_mapping = ?6, data_version = ?7, row = ?8",
            params![
                rule_id,
                row.alias,
                row.product,
                row.channel,
                row.mapping,
                row.fallback_mapping,
                data_version,
                json_text(row)?
            ],
        )?;
        Ok(rule_id.unwrap_or_else(|| self.tx.last_insert_rowid()))
    }

    /// Deletes a rule.
    pub fn delete_rule(&self, rule_id: i64) -> Result<()> {
        self.tx
            .execute("DELETE FROM rules WHERE rule_id = ?1", [rule_id])?;
        Ok(())
    }

    // ---- emergency shutoffs and pins

    /// All emergency shutoffs.
    pub fn shutoffs(&self) -> Result<Vec<Shutoff>> {
        self.collect(
            "SELECT product, channel, comment, data_version FROM emergency_shutoffs ORDER BY product, channel",
            [],
            shutoff,
        )
    }

    /// One emergency shutoff.
    pub fn shutoff(&self, product: &str, channel: &str) -> Result<Option<Shutoff>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT product, channel, comment, data_version FROM emergency_shutoffs WHERE product = ?1 AND channel = ?2",
            )?
            .query_row([product, channel], shutoff)
            .optional()?)
    }

    /// Inserts an emergency shutoff.
    pub fn insert_shutoff(&self, s: &Shutoff) -> Result<()> {
        self.tx.execute(
            "INSERT INTO emergency_shutoffs (product, channel, comment, data_version) VALUES (?1, ?2, ?3, ?4)",
            params![s.product, s.channel, s.comment, s.data_version],
        )?;
        Ok(())
    }

    /// Deletes an emergency shutoff.
    pub fn delete_shutoff(&self, product: &str, channel: &str) -> Result<()> {
        self.tx.execute(
            "DELETE FROM emergency_shutoffs WHERE product = ?1 AND channel = ?2",
            [product, channel],
        )?;
        Ok(())
    }

    /// All pinnable releases.
    pub fn pins(&self) -> Result<Vec<Pin>> {
        self.collect(
            "SELECT product, channel, version, mapping, data_version FROM pinnable_releases ORDER BY product, channel, version",
            [],
            pin,
        )
    }

    /// One pinnable release.
    pub fn pin(&self, product: &str, channel: &str, version: &str) -> Result<Option<Pin>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT product, channel, version, mapping, data_version FROM pinnable_releases
                 WHERE product = ?1 AND channel = ?2 AND version = ?3",
            )?
            .query_row([product, channel, version], pin)
            .optional()?)
    }

    /// Inserts or replaces a pinnable release.
    pub fn put_pin(&self, p: &Pin) -> Result<()> {
        self.tx.execute(
            "INSERT INTO pinnable_releases (product, channel, version, mapping, data_version) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(product, channel, version) DO UPDATE SET mapping = ?4, data_version = ?5",
            params![p.product, p.channel, p.version, p.mapping, p.data_version],
        )?;
        Ok(())
    }

    /// Deletes a pinnable release.
    pub fn delete_pin(&self, product: &str, channel: &str, version: &str) -> Result<()> {
        self.tx.execute(
            "DELETE FROM pinnable_releases WHERE product = ?1 AND channel = ?2 AND version = ?3",
            [product, channel, version],
        )?;
        Ok(())
    }

    /// Is `name` the mapping of any pinnable release?
    pub fn release_is_pinnable(&self, name: &str) -> Result<bool> {
        Ok(self.tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM pinnable_releases WHERE mapping = ?1)",
            [name],
            |r| r.get(0),
        )?)
    }

    // ---- required signoffs

    /// All required signoffs.
    pub fn required_signoffs(&self) -> Result<Vec<RequiredSignoff>> {
        self.collect(
            "SELECT product, channel, role, signoffs_required, data_version FROM required_signoffs
             ORDER BY product, channel, role",
            [],
            required_signoff,
        )
    }

    /// Inserts or replaces a required signoff.
    pub fn put_required_signoff(&self, r: &RequiredSignoff) -> Result<()> {
        self.tx.execute(
            "INSERT INTO required_signoffs (product, channel, role, signoffs_required, data_version)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(product, channel, role) DO UPDATE SET signoffs_required = ?4, data_version = ?5",
            params![r.product, r.channel, r.role, r.signoffs_required, r.data_version],
        )?;
        Ok(())
    }

    /// Deletes a required signoff; returns whether it existed.
    pub fn delete_required_signoff(
        &self,
        product: &str,
        channel: &str,
        role: &str,
    ) -> Result<bool> {
        let n = self.tx.execute(
            "DELETE FROM required_signoffs WHERE product = ?1 AND channel = ?2 AND role = ?3",
            [product, channel, role],
        )?;
        Ok(n > 0)
    }

    // ---- users, permissions, roles, tokens

    /// Does the user exist?
    pub fn user_exists(&self, username: &str) -> Result<bool> {
        Ok(self.tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM users WHERE username = ?1)",
            [username],
            |r| r.get(0),
        )?)
    }

    /// Creates a user if it does not exist.
    pub fn ensure_user(&self, username: &str) -> Result<()> {
        self.tx.execute(
            "INSERT OR IGNORE INTO users (username, created_ms) VALUES (?1, ?2)",
            params![username, now_ms()],
        )?;
        Ok(())
    }

    /// All user names.
    pub fn users(&self) -> Result<Vec<String>> {
        self.collect("SELECT username FROM users ORDER BY username", [], |r| {
            r.get(0)
        })
    }

    /// A user's permissions.
    pub fn permissions(&self, username: &str) -> Result<Vec<Permission>> {
        self.collect(
            "SELECT username, permission, options, data_version FROM permissions WHERE username = ?1 ORDER BY permission",
            [username],
            |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?)),
        )?
        .into_iter()
        .map(|(username, permission, options, data_version)| {
            Ok(Permission { username, permission, options: parse_json(&options)?, data_version })
        })
        .collect()
    }

    /// Inserts or replaces a permission.
    pub fn put_permission(&self, p: &Permission) -> Result<()> {
        self.tx.execute(
            "INSERT INTO permissions (username, permission, options, data_version) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(username, permission) DO UPDATE SET options = ?3, data_version = ?4",
            params![p.username, p.permission, json_text(&p.options)?, p.data_version],
        )?;
        Ok(())
    }

    /// Deletes a permission.
    pub fn delete_permission(&self, username: &str, permission: &str) -> Result<()> {
        self.tx.execute(
            "DELETE FROM permissions WHERE username = ?1 AND permission = ?2",
            [username, permission],
        )?;
        Ok(())
    }

    /// A user's roles.
    pub fn roles(&self, username: &str) -> Result<Vec<String>> {
        self.collect(
            "SELECT role FROM user_roles WHERE username = ?1 ORDER BY role",
            [username],
            |r| r.get(0),
        )
    }

    /// Grants a role; returns false if the user had it already.
    pub fn add_role(&self, username: &str, role: &str) -> Result<bool> {
        Ok(self.tx.execute(
            "INSERT OR IGNORE INTO user_roles (username, role) VALUES (?1, ?2)",
            [username, role],
        )? > 0)
    }

    /// Revokes a role; returns whether the user had it.
    pub fn delete_role(&self, username: &str, role: &str) -> Result<bool> {
        Ok(self.tx.execute(
            "DELETE FROM user_roles WHERE username = ?1 AND role = ?2",
            [username, role],
        )? > 0)
    }

    /// How many users hold `role`.
    pub fn role_members(&self, role: &str) -> Result<i64> {
        Ok(self.tx.query_row(
            "SELECT COUNT(*) FROM user_roles WHERE role = ?1",
            [role],
            |r| r.get(0),
        )?)
    }

    /// Stores a token hash for a user.
    pub fn insert_token(&self, token_hash: &str, username: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO tokens (token_hash, username, created_ms) VALUES (?1, ?2, ?3)",
            params![token_hash, username, now_ms()],
        )?;
        Ok(())
    }

    /// The user owning a token hash.
    pub fn token_user(&self, token_hash: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT username FROM tokens WHERE token_hash = ?1")?
            .query_row([token_hash], |r| r.get(0))
            .optional()?)
    }

    // ---- scheduled changes and signoffs

    /// Inserts a pending scheduled change; returns its id.
    pub fn insert_scheduled_change(
        &self,
        kind: &str,
        change_type: &str,
        row: &Value,
        base_data_version: Option<i64>,
        when: Option<i64>,
        scheduled_by: &str,
    ) -> Result<i64> {
        self.tx.execute(
            "INSERT INTO scheduled_changes (kind, change_type, row, base_data_version, when_ms, scheduled_by,
                 state, data_version, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 1, ?7)",
            params![kind, change_type, json_text(row)?, base_data_version, when, scheduled_by, now_ms()],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn sc_signoffs(&self, sc_id: i64) -> Result<HashMap<String, String>> {
        Ok(self
            .collect(
                "SELECT username, role FROM signoffs WHERE sc_id = ?1",
                [sc_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .into_iter()
            .collect())
    }

    /// Scheduled changes matching the filters, with their signoffs.
    pub fn scheduled_changes(
        &self,
        kind: Option<&str>,
        state: Option<&str>,
        sc_id: Option<i64>,
    ) -> Result<Vec<ScheduledChange>> {
        type Raw = (
            i64,
            String,
            String,
            String,
            Option<i64>,
            Option<i64>,
            String,
            String,
            i64,
        );
        let raws: Vec<Raw> = self.collect(
            "SELECT sc_id, kind, change_type, row, base_data_version, when_ms, scheduled_by, state, data_version
             FROM scheduled_changes
             WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR sc_id = ?3)
             ORDER BY sc_id",
            params![kind, state, sc_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?)),
        )?;
        raws.into_iter()
            .map(
                |(
                    sc_id,
                    kind,
                    change_type,
                    row,
                    base_data_version,
                    when,
                    scheduled_by,
                    state,
                    data_version,
                )| {
                    Ok(ScheduledChange {
                        signoffs: self.sc_signoffs(sc_id)?,
                        sc_id,
                        kind,
                        change_type,
                        row: parse_json(&row)?,
                        base_data_version,
                        when,
                        scheduled_by,
                        state,
                        data_version,
                    })
                },
            )
            .collect()
    }

    /// Sets a scheduled change's state and bumps its data_version.
    pub fn set_scheduled_change_state(&self, sc_id: i64, state: &str) -> Result<()> {
        self.tx.execute(
            "UPDATE scheduled_changes SET state = ?2, data_version = data_version + 1 WHERE sc_id = ?1",
            params![sc_id, state],
        )?;
        Ok(())
    }

    /// Records a signoff; returns false if the user had signed already.
    pub fn insert_signoff(&self, sc_id: i64, username: &str, role: &str) -> Result<bool> {
        Ok(self.tx.execute(
            "INSERT OR IGNORE INTO signoffs (sc_id, username, role) VALUES (?1, ?2, ?3)",
            params![sc_id, username, role],
        )? > 0)
    }

    /// Withdraws a signoff; returns whether it existed.
    pub fn delete_signoff(&self, sc_id: i64, username: &str) -> Result<bool> {
        Ok(self.tx.execute(
            "DELETE FROM signoffs WHERE sc_id = ?1 AND username = ?2",
            params![sc_id, username],
        )? > 0)
    }

    // ---- update reports and health guards

    /// Stores one update report, attributed to a release and rule when they are known.
    pub fn insert_report(
        &self,
        r: &crate::reports::Report,
        attributed: &Attribution,
    ) -> Result<()> {
        self.tx.execute(
            "INSERT INTO reports (received_ms, product, channel, build_target, locale, from_version,
                from_build_id, to_version, to_build_id, patch_type, result, error_code, release, rule_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                now_ms(), r.product, r.channel, r.build_target, r.locale, r.from_version,
                r.from_build_id, r.to_version, r.to_build_id, r.patch_type, r.result, r.error_code,
                attributed.release, attributed.rule_id
            ],
        )?;
        Ok(())
    }

    /// Report counts of `release` grouped by (rule, from-version, result, error code).
    pub fn report_counts(&self, release: &str) -> Result<Vec<ReportCount>> {
        let mut stmt = self.tx.prepare(
            "SELECT rule_id, from_version, result, error_code, COUNT(*) FROM reports
             WHERE release = ?1 GROUP BY rule_id, from_version, result, error_code",
        )?;
        let rows = stmt.query_map(params![release], |row| {
            Ok(ReportCount {
                rule_id: row.get(0)?,
                from_version: row.get(1)?,
                success: row.get::<_, String>(2)? == "success",
                error_code: row.get(3)?,
                count: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Report totals by (release, result), for `/metrics`.
    pub fn report_totals(&self) -> Result<Vec<(String, String, i64)>> {
        let mut stmt = self.tx.prepare(
            "SELECT release, result, COUNT(*) FROM reports WHERE release IS NOT NULL
             GROUP BY release, result ORDER BY release, result",
        )?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The health guard of a rule.
    pub fn health_guard(&self, rule_id: i64) -> Result<Option<HealthGuard>> {
        Ok(self
            .tx
            .query_row(
                "SELECT rule_id, min_reports, max_failure_rate, baseline_release, tripped_ms, data_version
                 FROM health_guards WHERE rule_id = ?1",
                params![rule_id],
                health_guard_row,
            )
            .optional()?)
    }

    /// Every health guard.
    pub fn health_guards(&self) -> Result<Vec<HealthGuard>> {
        let mut stmt = self.tx.prepare(
            "SELECT rule_id, min_reports, max_failure_rate, baseline_release, tripped_ms, data_version
             FROM health_guards ORDER BY rule_id",
        )?;
        let rows = stmt.query_map([], health_guard_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Creates or replaces a health guard.
    pub fn put_health_guard(&self, g: &HealthGuard) -> Result<()> {
        self.tx.execute(
            "INSERT OR REPLACE INTO health_guards
                (rule_id, min_reports, max_failure_rate, baseline_release, tripped_ms, data_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                g.rule_id,
                g.min_reports,
                g.max_failure_rate,
                g.baseline_release,
                g.tripped_ms,
                g.data_version
            ],
        )?;
        Ok(())
    }

    /// Removes a health guard.
    pub fn delete_health_guard(&self, rule_id: i64) -> Result<()> {
        self.tx.execute(
            "DELETE FROM health_guards WHERE rule_id = ?1",
            params![rule_id],
        )?;
        Ok(())
    }

    // ---- history

    /// Appends a history row (`row` `None` records a deletion). Returns the change id.
    pub fn add_history(
        &self,
        kind: &str,
        key: &str,
        changed_by: &str,
        data_version: Option<i64>,
        row: Option<&Value>,
    ) -> Result<i64> {
        tracing::info!(
            kind,
            key,
            changed_by,
            data_version,
            deleted = row.is_none(),
            "recording change"
        );
        let row = row.map(json_text).transpose()?;
        self.tx.execute(
            "INSERT INTO history (object_kind, object_key, changed_by, timestamp_ms, data_version, row)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![kind, key, changed_by, now_ms(), data_version, row],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    /// History rows, newest first, optionally of one kind and object.
    pub fn history(
        &self,
        kind: Option<&str>,
        key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<HistoryEntry>> {
        type Raw = (
            i64,
            String,
            String,
            String,
            i64,
            Option<i64>,
            Option<String>,
        );
        let raws: Vec<Raw> = self.collect(
            "SELECT change_id, object_kind, object_key, changed_by, timestamp_ms, data_version, row FROM history
             WHERE (?1 IS NULL OR object_kind = ?1) AND (?2 IS NULL OR object_key = ?2)
             ORDER BY change_id DESC LIMIT ?3",
            params![kind, key, limit],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )?;
        raws.into_iter()
            .map(
                |(change_id, object_kind, object_key, changed_by, timestamp, data_version, row)| {
                    Ok(HistoryEntry {
                        change_id,
                        object_kind,
                        object_key,
                        changed_by,
                        timestamp,
                        data_version,
                        row: row.as_deref().map(parse_json).transpose()?,
                    })
                },
            )
            .collect()
    }

    /// One history row.
    pub fn history_entry(&self, change_id: i64) -> Result<Option<HistoryEntry>> {
        let raw = self
            .tx
            .query_row(
                "SELECT object_kind, object_key, changed_by, timestamp_ms, data_version, row FROM history WHERE change_id = ?1",
                [change_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()?;
        raw.map(
            |(object_kind, object_key, changed_by, timestamp, data_version, row)| {
                Ok(HistoryEntry {
                    change_id,
                    object_kind,
                    object_key,
                    changed_by,
                    timestamp,
                    data_version,
                    row: row.as_deref().map(parse_json).transpose()?,
                })
            },
        )
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn reads_do_not_wait_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("kiln.db")).unwrap());
        let (started_tx, started) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        let writer = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                store.write(None, |tx| {
                    tx.ensure_user("w")?;
                    started_tx.send(()).unwrap();
                    release.recv().unwrap();
                    Ok(())
                })
            })
        };
        started.recv().unwrap();
        // The writer holds the write mutex inside an open transaction. A read must still answer
        // (with the last committed state) instead of queueing behind it.
        let (read_tx, read) = mpsc::channel();
        let reader = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || read_tx.send(store.read(|tx| tx.users())).unwrap())
        };
        let users = read
            .recv_timeout(Duration::from_secs(5))
            .expect("a read waited for the writer");
        assert_eq!(users.unwrap(), Vec::<String>::new());
        release_tx.send(()).unwrap();
        writer.join().unwrap().unwrap();
        reader.join().unwrap();
        assert_eq!(store.read(|tx| tx.users()).unwrap(), vec!["w".to_owned()]);
    }
}
