//! All database access: the schema and its migrations, SQLite (a writer connection behind a
//! mutex and a pool of read-only connections) or PostgreSQL (a connection pool), transactions,
//! and typed queries written once for both.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a write acknowledged to a client has been
//! committed durably; every admin write is one `BEGIN IMMEDIATE` transaction. On PostgreSQL every
//! admin write is one transaction that first takes a transaction-scoped advisory lock
//! ([`postgres::WRITE_LOCK`]), so writes from any number of replicas are serialized exactly as
//! SQLite serializes them on one node: `data_version` checks, signoffs and the enactment of a
//! scheduled change see the state left by the previous write.
//!
//! Every write that can change a snapshot bumps `kiln_state.version` in its transaction (and on
//! PostgreSQL sends a `NOTIFY` that is delivered at commit). The snapshot for the client endpoint
//! is read inside that same transaction and published before the write returns, so a replica never
//! serves a snapshot older than its own last write; other replicas reload on the notification or
//! on their poll of the version (`crate::refresh`).
//!
//! [`Store`] lives here, on the backend-neutral [`sql`] layer ([`Db`], [`Tx`]) that the release
//! pipeline's state database shares; the typed queries on [`Tx`] and their row types are split by
//! table: `releases`, `rules`, `objects` (shutoffs, pins, required signoffs), `users` (permissions,
//! roles, tokens), `scheduled`, `reports` (reports, health guards) and `history`. [`value`] holds
//! the values that cross the SQL boundary, [`schema`] the migrations.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::client::blob::Release;
use crate::client::rule::RuleRow;
use crate::client::snapshot::{Snapshot, SnapshotCell, SnapshotData};
use crate::config::Database;
use crate::error::{Error, Result};

mod history;
mod objects;
pub mod postgres;
mod releases;
mod reports;
mod rules;
mod scheduled;
pub mod schema;
pub mod sql;
mod users;
pub mod value;

pub use history::HistoryEntry;
pub use objects::{Pin, RequiredSignoff, Shutoff};
pub use releases::{ReleaseRow, ReleaseSummary};
pub use reports::{Attribution, HealthGuard, ReportCount};
pub use rules::StoredRule;
pub use scheduled::ScheduledChange;
pub use schema::{Dialect, Schema};
pub use sql::{ConnectOptions, Db, Tx};
pub use users::{Permission, PermissionOptions};
pub use value::{Row, SqlValue};

use value::args;

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

/// The database, SQLite or PostgreSQL, with the update server's schema and snapshots.
#[derive(Debug)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Opens the database named by `db` (creating a SQLite file if needed) and applies any
    /// pending migrations.
    pub fn open(db: &Database) -> Result<Self> {
        let store = Store::connect(db)?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens the database without migrating it (`updater-server migrate` then migrates it).
    pub fn connect(db: &Database) -> Result<Self> {
        Ok(Store {
            db: Db::connect(db, &sql::SERVER)?,
        })
    }

    /// The backend's SQL dialect.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// Applies the migrations the database lacks (see [`Db::migrate`]). Returns the versions
    /// applied.
    pub fn migrate(&self) -> Result<Vec<i64>> {
        self.db.migrate(&schema::SCHEMA)
    }

    /// Runs `f` in a read transaction that sees one committed state (see [`Db::read`]).
    pub fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.db.read(f)
    }

    /// Runs `f` in a write transaction that may change what a snapshot shows, and commits it if
    /// `f` succeeds: the change version is bumped (and announced to the other replicas). When
    /// `publish` is given, the snapshot is rebuilt from the same transaction and published right
    /// after the commit.
    pub fn write<T>(
        &self,
        publish: Option<&SnapshotCell>,
        f: impl FnOnce(&Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let (out, data) = self.db.serialized(|tx| {
            let out = f(tx)?;
            tx.bump_version()?;
            let data = match publish {
                Some(cell) => Some(tx.snapshot_data(cell.load().releases())?),
                None => None,
            };
            Ok((out, data))
        })?;
        if let (Some(cell), Some(data)) = (publish, data) {
            cell.publish(Snapshot::build(data));
        }
        Ok(out)
    }

    /// Runs `f` in a write transaction that no snapshot depends on (update reports): no version
    /// bump, so replicas keep their snapshots and answer memos.
    pub fn append<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.db.concurrent(f)
    }

    /// Builds a snapshot from the current committed state.
    pub fn load_snapshot(&self) -> Result<Snapshot> {
        let data = self.read(|tx| tx.snapshot_data(&HashMap::new()))?;
        Ok(Snapshot::build(data))
    }

    /// Rebuilds the snapshot when the database holds a newer version than the one `cell`
    /// serves, reusing its parsed releases. Returns the version the database is at.
    pub fn refresh(&self, cell: &SnapshotCell) -> Result<i64> {
        let current = cell.load();
        let version = self.version()?;
        if version > current.version() {
            let data = self.read(|tx| tx.snapshot_data(current.releases()))?;
            let version = data.version;
            cell.publish(Snapshot::build(data));
            return Ok(version);
        }
        cell.confirm();
        Ok(version)
    }

    /// The version of the last committed change.
    pub fn version(&self) -> Result<i64> {
        self.read(|tx| tx.version())
    }

    /// Checks that the database answers.
    pub fn heartbeat(&self) -> Result<()> {
        self.db.heartbeat()
    }

    /// The PostgreSQL backend, if this is one (the change listener needs its URL).
    pub fn postgres(&self) -> Option<&postgres::Pg> {
        self.db.postgres()
    }
}

impl Tx<'_> {
    /// The version of the last committed change to anything a snapshot shows.
    pub fn version(&self) -> Result<i64> {
        self.query_one("SELECT version FROM kiln_state WHERE id = 1", args![])?
            .get(0)
    }

    /// Bumps the change version; on PostgreSQL also queues the notification that tells the
    /// other replicas at commit.
    fn bump_version(&self) -> Result<i64> {
        let version: i64 = self
            .query_one(
                "UPDATE kiln_state SET version = version + 1 WHERE id = 1 RETURNING version",
                args![],
            )?
            .get(0)?;
        if self.dialect() == Dialect::Postgres {
            self.execute(
                "SELECT pg_notify(?1, ?2)",
                args![postgres::CHANNEL, version.to_string()],
            )?;
        }
        Ok(version)
    }

    /// Reads everything a snapshot needs; releases whose `data_version` equals the one in `reuse`
    /// are taken from there instead of being parsed again.
    pub fn snapshot_data(&self, reuse: &HashMap<String, Arc<Release>>) -> Result<SnapshotData> {
        let version = self.version()?;
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
            version,
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
    use rusqlite::Connection;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A database written before migrations existed (its tables, no `kiln_migrations`) is
    /// adopted: its rows stay, both migrations are recorded, and the change version starts at 0.
    #[test]
    fn a_database_from_before_migrations_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE users (username TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);
             INSERT INTO users VALUES ('old', 1);",
        )
        .unwrap();
        drop(old);
        let store = Store::open(&Database::Sqlite(path.clone())).unwrap();
        assert_eq!(store.read(|tx| tx.users()).unwrap(), vec!["old".to_owned()]);
        assert_eq!(store.version().unwrap(), 0);
        let applied: Vec<i64> = store
            .read(|tx| {
                tx.collect(
                    "SELECT version FROM kiln_migrations ORDER BY version",
                    args![],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(applied, vec![1, 2]);
        drop(store);
        let again = Store::connect(&Database::Sqlite(path)).unwrap();
        assert_eq!(again.migrate().unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn reads_do_not_wait_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&Database::Sqlite(dir.path().join("kiln.db"))).unwrap());
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
