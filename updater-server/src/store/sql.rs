//! The SQL layer under the update server's store and the release pipeline's state: a SQLite file
//! (a writer connection behind a mutex and a pool of read-only ones, WAL, `synchronous=FULL`) or
//! a PostgreSQL pool; read, serialized and concurrent transactions; numbered migrations; and
//! [`Tx`], where a query is written once with `?N` placeholders and [`Dialect`] type tokens and
//! runs on either backend.

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::config::Database;
use crate::error::{Error, Result};
use crate::store::postgres;
use crate::store::schema::{Dialect, Schema};
use crate::store::value::{self, args, Row, SqlValue};

/// Read-only connections next to the writer: in WAL mode they read the last committed state
/// while the writer writes, so reads never queue behind the write mutex.
const READERS: usize = 4;

/// How a program connects: its name on PostgreSQL (`application_name`, shown in
/// `pg_stat_activity`) and how long a SQLite statement waits for another process's write lock.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// PostgreSQL's `application_name`.
    pub application_name: &'static str,
    /// SQLite's busy timeout.
    pub busy_timeout: Duration,
}

/// The update server's connection settings: a request waits at most 5 s for SQLite's lock.
pub const SERVER: ConnectOptions = ConnectOptions {
    application_name: "kiln-updater-server",
    busy_timeout: Duration::from_secs(5),
};

/// SQLite: one writer connection behind a mutex, and a small pool of read-only ones.
#[derive(Debug)]
struct Sqlite {
    conn: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

#[derive(Debug)]
enum Backend {
    Sqlite(Sqlite),
    Postgres(postgres::Pg),
}

/// A database, SQLite or PostgreSQL, without a schema of its own: [`Db::migrate`] gives it one.
#[derive(Debug)]
pub struct Db {
    backend: Backend,
}

enum Inner<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Postgres(RefCell<::postgres::Transaction<'a>>),
}

impl std::fmt::Debug for Inner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inner::Sqlite(tx) => f.debug_tuple("Sqlite").field(tx).finish(),
            Inner::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

/// A transaction; every typed query runs on one.
#[derive(Debug)]
pub struct Tx<'a> {
    inner: Inner<'a>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Sqlite {
    fn open(path: &Path, options: &ConnectOptions) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(options.busy_timeout)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            reader.busy_timeout(options.busy_timeout)?;
            readers.push(Mutex::new(reader));
        }
        Ok(Sqlite {
            conn: Mutex::new(conn),
            readers,
            next_reader: AtomicUsize::new(0),
        })
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
        lock(&self.readers[start])
    }
}

impl Db {
    /// Opens the database named by `db` (creating a SQLite file and its folder if needed),
    /// without migrating it.
    pub fn connect(db: &Database, options: &ConnectOptions) -> Result<Self> {
        let backend = match db {
            Database::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        Error::Invalid(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
                Backend::Sqlite(Sqlite::open(path, options)?)
            }
            Database::Postgres(url) => {
                Backend::Postgres(postgres::Pg::connect(url, options.application_name)?)
            }
        };
        Ok(Db { backend })
    }

    /// The backend's SQL dialect.
    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Applies the migrations of `schema` the database lacks, in one serialized transaction (on
    /// PostgreSQL under the write lock, so processes starting together migrate once). Returns the
    /// versions applied.
    pub fn migrate(&self, schema: &Schema) -> Result<Vec<i64>> {
        let dialect = self.dialect();
        self.serialized(|tx| {
            tx.execute(&dialect.render(&schema.table_sql()), args![])?;
            let applied: Vec<i64> = tx.collect(
                &format!("SELECT version FROM {}", schema.table),
                args![],
                |r| r.get(0),
            )?;
            let mut done = Vec::new();
            for (version, statements) in schema.migrations {
                if applied.contains(version) {
                    continue;
                }
                for sql in *statements {
                    tx.execute(&dialect.render(sql), args![])?;
                }
                tx.execute(
                    &format!(
                        "INSERT INTO {} (version, applied_ms) VALUES (?1, ?2)",
                        schema.table
                    ),
                    args![*version, crate::store::now_ms()],
                )?;
                done.push(*version);
            }
            Ok(done)
        })
    }

    /// Runs `f` in a read transaction that sees one committed state (a read-only connection on
    /// SQLite, a read-only repeatable-read transaction on PostgreSQL).
    pub fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let mut conn = db.reader();
                let tx = Tx {
                    inner: Inner::Sqlite(
                        conn.transaction_with_behavior(TransactionBehavior::Deferred)?,
                    ),
                };
                f(&tx)
            }
            Backend::Postgres(pg) => {
                let mut conn = pg.get()?;
                let tx = conn
                    .build_transaction()
                    .isolation_level(::postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()?;
                let tx = Tx {
                    inner: Inner::Postgres(RefCell::new(tx)),
                };
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            }
        }
    }

    /// Runs `f` in a write transaction serialized with every other serialized one (SQLite's
    /// `BEGIN IMMEDIATE`; on PostgreSQL a transaction that first takes the advisory lock
    /// [`postgres::WRITE_LOCK`]) and commits it if `f` succeeds.
    pub fn serialized<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let mut conn = lock(&db.conn);
                let tx = Tx {
                    inner: Inner::Sqlite(
                        conn.transaction_with_behavior(TransactionBehavior::Immediate)?,
                    ),
                };
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Postgres(pg) => {
                let mut conn = pg.get()?;
                let mut tx = conn.transaction()?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&postgres::WRITE_LOCK])?;
                let tx = Tx {
                    inner: Inner::Postgres(RefCell::new(tx)),
                };
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            }
        }
    }

    /// Runs `f` in a write transaction that takes no global lock on PostgreSQL (row locks and
    /// `FOR UPDATE SKIP LOCKED` keep concurrent writers apart); on SQLite, where every write
    /// transaction is serialized anyway, the same as [`Db::serialized`].
    pub fn concurrent<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Postgres(pg) => {
                let mut conn = pg.get()?;
                let tx = Tx {
                    inner: Inner::Postgres(RefCell::new(conn.transaction()?)),
                };
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Sqlite(_) => self.serialized(f),
        }
    }

    /// Checks that the database answers.
    pub fn heartbeat(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(db) => {
                lock(&db.conn).query_row("SELECT 1", [], |_| Ok(()))?;
            }
            Backend::Postgres(pg) => {
                pg.get()?.simple_query("SELECT 1")?;
            }
        }
        Ok(())
    }

    /// The PostgreSQL backend, if this is one.
    pub fn postgres(&self) -> Option<&postgres::Pg> {
        match &self.backend {
            Backend::Postgres(pg) => Some(pg),
            Backend::Sqlite(_) => None,
        }
    }
}

impl Tx<'_> {
    /// The backend's SQL dialect.
    pub fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres(_) => Dialect::Postgres,
        }
    }

    fn commit(self) -> Result<()> {
        match self.inner {
            Inner::Sqlite(tx) => tx.commit()?,
            Inner::Postgres(tx) => tx.into_inner().commit()?,
        }
        Ok(())
    }

    /// Runs one statement (`?N` placeholders); returns the number of rows it changed.
    pub fn execute(&self, sql: &str, params: Vec<SqlValue>) -> Result<u64> {
        match &self.inner {
            Inner::Sqlite(tx) => {
                let n = tx
                    .prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(params.iter()))?;
                Ok(u64::try_from(n).unwrap_or(u64::MAX))
            }
            Inner::Postgres(tx) => {
                let refs = pg_params(&params);
                Ok(tx
                    .borrow_mut()
                    .execute(value::postgres_placeholders(sql).as_str(), &refs)?)
            }
        }
    }

    /// Runs one query (`?N` placeholders) and returns every row.
    pub fn query(&self, sql: &str, params: Vec<SqlValue>) -> Result<Vec<Row>> {
        match &self.inner {
            Inner::Sqlite(tx) => {
                let mut stmt = tx.prepare_cached(sql)?;
                let n = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut row = Vec::with_capacity(n);
                    for i in 0..n {
                        row.push(SqlValue::from_sqlite(r.get_ref(i)?)?);
                    }
                    out.push(Row(row));
                }
                Ok(out)
            }
            Inner::Postgres(tx) => {
                let refs = pg_params(&params);
                let rows = tx
                    .borrow_mut()
                    .query(value::postgres_placeholders(sql).as_str(), &refs)?;
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| SqlValue::from_postgres(r, i))
                            .collect::<Result<Vec<_>>>()
                            .map(Row)
                    })
                    .collect()
            }
        }
    }

    /// The first row of a query, if any.
    pub fn query_opt(&self, sql: &str, params: Vec<SqlValue>) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first row of a query that always returns one.
    pub fn query_one(&self, sql: &str, params: Vec<SqlValue>) -> Result<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| Error::Internal(format!("query returned no row: {sql}")))
    }

    /// Every row of a query, each converted by `f`.
    pub fn collect<T>(
        &self,
        sql: &str,
        params: Vec<SqlValue>,
        f: impl Fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.query(sql, params)?.iter().map(f).collect()
    }
}

fn pg_params(params: &[SqlValue]) -> Vec<&(dyn ::postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn ::postgres::types::ToSql + Sync))
        .collect()
}
