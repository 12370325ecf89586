//! All SQLite access: the schema, a writer connection behind a mutex and a pool of read-only
//! connections, transactions, and typed queries.
//!
//! The database runs in WAL mode with `synchronous=FULL`, so a write acknowledged to a client has
//! been committed durably. Every admin write is one `BEGIN IMMEDIATE` transaction; the snapshot for
//! the client endpoint is read inside that same transaction and published before the lock is
//! released, so snapshots appear in commit order.
//!
//! [`Store`] and [`Tx`] live here with the schema; the typed queries on [`Tx`] and their row
//! types are split by table: `releases`, `rules`, `objects` (shutoffs, pins, required signoffs),
//! `users` (permissions, roles, tokens), `scheduled`, `reports` (reports, health guards) and
//! `history`.

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

mod history;
mod objects;
mod releases;
mod reports;
mod rules;
mod scheduled;
mod users;

pub use history::HistoryEntry;
pub use objects::{Pin, RequiredSignoff, Shutoff};
pub use releases::{ReleaseRow, ReleaseSummary};
pub use reports::{Attribution, HealthGuard, ReportCount};
pub use rules::StoredRule;
pub use scheduled::ScheduledChange;
pub use users::{Permission, PermissionOptions};

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
