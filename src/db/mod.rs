//! The one place that knows both database backends: the connection type, the
//! pool, per-backend connection setup, migrations and write transactions.

pub mod schema;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// A connection to either backend. Queries written once against this type
/// run on both; where SQL must differ (`ON CONFLICT`), match on the variant
/// with [`on_backend!`](crate::on_backend).
#[derive(diesel::MultiConnection)]
pub enum Conn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<Manager>;

/// A pooled connection: the diesel connection, and whether the request
/// that used it found the database gone. r2d2 discards a connection marked
/// lost instead of handing it out again, so service resumes by itself once
/// the database is back.
pub struct DbConn {
    conn: Conn,
    lost: bool,
}

impl DbConn {
    /// Marks the connection unusable; the pool drops it on return.
    pub fn mark_lost(&mut self) {
        self.lost = true;
    }
}

impl std::ops::Deref for DbConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for DbConn {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Settings of every PostgreSQL connection, for an API whose statements are
/// all small, indexed and prepared:
///
/// - `plan_cache_mode = force_generic_plan`: plan each prepared statement
///   once per connection; with the page size bound as `LIMIT $n`, the
///   default (`auto`) kept re-planning some list queries on every execution.
///   `tests/api/explain` checks that the generic plan of every list query
///   is an ordered index scan, with no sequential scan and no sort.
/// - `max_parallel_workers_per_gather = 0`: a page of 20 rows never gains
///   from parallel workers, and a generic plan with a bound `LIMIT` started
///   them for every page.
pub const PG_SESSION_SETTINGS: &str =
    "SET plan_cache_mode = force_generic_plan; SET max_parallel_workers_per_gather = 0;";

/// How long SQLite waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// Runs the same diesel expression on whichever backend `conn` holds, for the
/// few statements `MultiConnection` cannot express (upserts).
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::Conn::Pg($c) => $body,
            $crate::db::Conn::Sqlite($c) => $body,
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend a `DATABASE_URL` selects: `postgres://` and `postgresql://`
    /// are PostgreSQL, anything else is a SQLite path (or `sqlite://` URL).
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// An r2d2 connection manager that picks the backend from the URL scheme.
/// `Conn::establish` would hide the real error ("invalid connection url for
/// multiconnection" even for a refused port); this keeps it.
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    backend: Backend,
}

impl Manager {
    pub fn new(url: &str) -> Manager {
        let backend = Backend::of_url(url);
        let url = match backend {
            Backend::Sqlite => url.strip_prefix("sqlite://").unwrap_or(url).to_owned(),
            Backend::Postgres => url.to_owned(),
        };
        Manager { url, backend }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConn, ConnectionError> {
        self.connect_backend()
            .map(|conn| DbConn { conn, lost: false })
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectionError> {
        conn.batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.lost
            || <Conn as Connection>::TransactionManager::is_broken_transaction_manager(
                &mut conn.conn,
            )
    }
}

impl Manager {
    fn connect_backend(&self) -> Result<Conn, ConnectionError> {
        match self.backend {
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.url)?;
                conn.batch_execute(PG_SESSION_SETTINGS)
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(Conn::Pg(conn))
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url)?;
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;"
                ))
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(Conn::Sqlite(conn))
            }
        }
    }
}

/// Pool settings; `connection_timeout` bounds how long a request waits for a
/// connection (and so how fast an outage turns into 503).
pub struct PoolOptions {
    pub max_size: u32,
    pub connection_timeout: Duration,
}

/// Builds the pool without connecting eagerly, so a server can start (and
/// answer `/healthz`) while the database is still coming up.
pub fn build_pool(url: &str, options: &PoolOptions) -> Pool {
    r2d2::Pool::builder()
        .max_size(options.max_size)
        .min_idle(Some(0))
        .connection_timeout(options.connection_timeout)
        .test_on_check_out(false)
        .build_unchecked(Manager::new(url))
}

/// Applies every pending migration of the connection's backend; returns how
/// many ran.
pub fn run_migrations(conn: &mut Conn) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let applied = match conn {
        Conn::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS)?.len(),
        Conn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS)?.len(),
    };
    Ok(applied)
}

/// Runs `f` in a transaction that takes the write lock up front.
///
/// On SQLite this is `BEGIN IMMEDIATE`: a deferred transaction that reads and
/// then writes can fail with "database is locked" when another writer got in
/// between, while an immediate one waits (`busy_timeout`) and then owns the
/// database. On PostgreSQL it is an ordinary `BEGIN`; the repository takes
/// the row locks it needs. Commits when `f` returns `Ok`, rolls back otherwise.
pub fn write_transaction<T, E, F>(conn: &mut Conn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut Conn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        Conn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        Conn::Pg(_) => <Conn as Connection>::TransactionManager::begin_transaction(conn)?,
    }
    match f(conn) {
        Ok(value) => {
            if let Err(commit_error) =
                <Conn as Connection>::TransactionManager::commit_transaction(conn)
            {
                // A failed commit leaves the transaction open; roll it back
                // so the pooled connection is clean (or marked broken).
                let _ = <Conn as Connection>::TransactionManager::rollback_transaction(conn);
                return Err(commit_error.into());
            }
            Ok(value)
        }
        Err(error) => {
            // The caller's error is the one worth reporting; a failed rollback
            // marks the connection broken and r2d2 discards it.
            let _ = <Conn as Connection>::TransactionManager::rollback_transaction(conn);
            Err(error)
        }
    }
}
