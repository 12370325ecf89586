//! The PostgreSQL connection pool (sync `postgres` client behind `r2d2`), the advisory lock that
//! serializes admin writes across replicas, and the `LISTEN` connection for change notifications.

use std::time::Duration;

use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

use crate::error::{Error, Result};

/// The key of the transaction-scoped advisory lock every admin write takes first
/// (`pg_advisory_xact_lock`): ASCII "kilnwrit".
pub const WRITE_LOCK: i64 = 0x6b69_6c6e_7772_6974;

/// The channel a committed change is announced on; the payload is the new version.
pub const CHANNEL: &str = "kiln_changes";

/// How long to wait for a connection (new or pooled) before answering 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long sent data may stay unacknowledged, and how soon an idle connection is probed, before a
/// silent network partition (no reset, no FIN) counts as a lost connection, unless the URL says
/// otherwise.
const DEAD_PEER: Duration = Duration::from_secs(10);

/// Most pooled connections per process.
const POOL_SIZE: u32 = 8;

/// A pooled connection.
pub type PooledClient = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// A PostgreSQL database: its connection settings and the pool.
#[derive(Debug)]
pub struct Pg {
    config: postgres::Config,
    /// Always `Some` until dropped (see the `Drop` impl).
    pool: Option<r2d2::Pool<PostgresConnectionManager<NoTls>>>,
}

impl Drop for Pg {
    /// Closes the pooled connections on a thread of their own: the sync client closes a connection
    /// by blocking on its runtime, which panics when the last owner of the store is dropped on an
    /// async worker thread (as actix does when a server stops).
    fn drop(&mut self) {
        let pool = self.pool.take();
        std::thread::scope(|s| {
            s.spawn(move || drop(pool));
        });
    }
}

impl Pg {
    /// Parses `url` (`postgres://user:password@host:port/dbname?…`, or `host=/path` for a unix
    /// socket) and opens a pool whose connections name `application_name`; fails if the server
    /// cannot be reached now.
    pub fn connect(url: &str, application_name: &str) -> Result<Self> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| Error::Invalid(format!("invalid PostgreSQL URL: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(DEAD_PEER);
        }
        if config.get_keepalives_idle() > DEAD_PEER {
            config.keepalives_idle(DEAD_PEER);
        }
        config.application_name(application_name);
        let manager = PostgresConnectionManager::new(config.clone(), NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT)
            .build(manager)?;
        Ok(Pg {
            config,
            pool: Some(pool),
        })
    }

    /// A connection from the pool (checked alive on checkout).
    pub fn get(&self) -> Result<PooledClient> {
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| Error::Internal("the connection pool is closed".to_owned()))?;
        Ok(pool.get()?)
    }

    /// A new connection of its own (not pooled) listening on [`CHANNEL`].
    pub fn listener(&self) -> Result<postgres::Client> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        Ok(client)
    }
}
