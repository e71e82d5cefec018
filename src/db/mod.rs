//! The one place that knows both database backends: the connection type and
//! `on_backend!`, per-backend connection setup, migrations and write
//! transactions; the pools are in [`pool`] and [`pg_pools`].

pub mod listen;
mod pg_pools;
mod pg_shared;
mod pool;
pub mod replicas;
pub mod schema;
mod sqlite;

pub use pg_pools::{
    Access, PgPools, PoolError, PoolOptions, PoolState, WorkError, default_pool_size,
    default_write_pool_size,
};
pub use pool::Database;
pub use sqlite::{DbConn, Inline, SqliteConn, SqliteManager, Synchronous, run_inline};

use diesel::Connection as _;
use diesel::PgConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager as SyncTransactionManager};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection, TransactionManager};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// A PostgreSQL connection: asynchronous, driven on the actix workers.
pub type PgConn = AsyncPgConnection;

/// A connection to either backend. Repository functions take `&mut Conn`
/// and are written once for both: [`on_backend!`](crate::on_backend) runs
/// the same diesel expression on whichever connection this holds.
pub enum Conn<'c> {
    /// A PostgreSQL connection this request has to itself: for writes and
    /// their transactions.
    Pg(&'c mut PgConn),
    /// A PostgreSQL connection shared with the worker's other reads, which
    /// tokio-postgres pipelines on it; never in a transaction (see
    /// [`pg_shared`]).
    PgShared(&'c PgConn),
    Sqlite(&'c mut SqliteConn),
}

/// Runs the same diesel expression on whichever backend `conn` holds: the
/// body is compiled once per backend, with `$c` the backend's connection.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::Conn::Pg(conn) => {
                let $c: &mut $crate::db::PgConn = conn;
                $body
            }
            $crate::db::Conn::PgShared(conn) => {
                let $c: &mut &$crate::db::PgConn = conn;
                $body
            }
            $crate::db::Conn::Sqlite(conn) => {
                let $c: &mut $crate::db::SqliteConn = conn;
                $body
            }
        }
    };
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

/// One connection of either backend outside any pool, opened exactly as the
/// pools open theirs: for tools and tests that call the repository directly.
pub enum Connection {
    Pg(Box<PgConn>),
    Sqlite(SqliteConn),
}

impl Connection {
    /// Connects to the URL's backend (PostgreSQL: with [`PG_SESSION_SETTINGS`]).
    /// The PostgreSQL connection is driven by the calling tokio runtime.
    pub async fn open(url: &str) -> ConnectionResult<Connection> {
        match Backend::of_url(url) {
            Backend::Postgres => establish_pg(url.to_owned())
                .await
                .map(|conn| Connection::Pg(Box::new(conn))),
            Backend::Sqlite => sqlite::connect(sqlite::path(url), sqlite::Synchronous::Full)
                .map(Connection::Sqlite),
        }
    }

    /// The connection as repository functions take it.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Connection::Pg(conn) => Conn::Pg(conn),
            Connection::Sqlite(conn) => Conn::Sqlite(conn),
        }
    }
}

/// Connects to PostgreSQL and applies [`PG_SESSION_SETTINGS`].
pub(crate) async fn establish_pg(url: String) -> ConnectionResult<PgConn> {
    let mut conn = PgConn::establish(&url).await?;
    conn.batch_execute(PG_SESSION_SETTINGS)
        .await
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// The secret called `name` that every server on the PostgreSQL database at
/// `url` shares: the stored one, or `candidate`, stored now when there is
/// none. Servers starting at once agree: each insert ignores a conflict,
/// and all read the one that won.
pub fn pg_shared_secret(
    url: &str,
    name: &str,
    candidate: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct Stored {
        #[diesel(sql_type = Text)]
        value: String,
    }

    let mut conn = PgConnection::establish(url)?;
    diesel::sql_query(
        "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, localtimestamp) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(candidate)
    .execute(&mut conn)?;
    let stored: Stored = diesel::sql_query("SELECT value FROM server_secrets WHERE name = $1")
        .bind::<Text, _>(name)
        .get_result(&mut conn)?;
    Ok(stored.value)
}

/// Applies every pending migration of the URL's backend over a synchronous
/// connection of its own; returns how many ran.
pub fn run_migrations(url: &str) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let applied = match Backend::of_url(url) {
        Backend::Postgres => PgConnection::establish(url)?
            .run_pending_migrations(PG_MIGRATIONS)?
            .len(),
        Backend::Sqlite => sqlite::establish(sqlite::path(url), sqlite::Synchronous::Full)?
            .run_pending_migrations(SQLITE_MIGRATIONS)?
            .len(),
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
///
/// Inside another transaction it is a savepoint of that one (both backends),
/// so a write can join the transaction of the request around it.
///
/// Cancellation: should the request be dropped while the transaction is
/// open, diesel-async leaves the connection's transaction state open (or
/// marked broken), and the pool discards it on its next checkout.
pub async fn write_transaction<T, E, F>(conn: &mut Conn<'_>, f: F) -> Result<T, E>
where
    F: for<'c> AsyncFnOnce(&mut Conn<'c>) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        Conn::Pg(c) => {
            <PgConn as AsyncConnection>::TransactionManager::begin_transaction(&mut **c).await?;
        }
        Conn::PgShared(_) => return Err(shared_transaction().into()),
        Conn::Sqlite(c) => {
            c.spawn_blocking(begin_sqlite).await?;
        }
    }
    match f(conn).await {
        Ok(value) => {
            if let Err(commit_error) = end_transaction(conn, End::Commit).await {
                // A failed commit leaves the transaction open; roll it back
                // so the pooled connection is clean (or marked broken).
                let _ = end_transaction(conn, End::Rollback).await;
                return Err(commit_error.into());
            }
            Ok(value)
        }
        Err(error) => {
            // The caller's error is the one worth reporting; a failed rollback
            // marks the connection broken and the pool discards it.
            let _ = end_transaction(conn, End::Rollback).await;
            Err(error)
        }
    }
}

/// What a read on a shared connection gets when it asks for a transaction:
/// a transaction would hold the connection for every read pipelined on it,
/// so transactions are for connections of their own (`Access::Write`).
fn shared_transaction() -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(
        "a transaction needs a connection of its own (Access::Write), not a shared one".into(),
    )
}

enum End {
    Commit,
    Rollback,
}

async fn end_transaction(conn: &mut Conn<'_>, end: End) -> QueryResult<()> {
    match (conn, end) {
        (Conn::Pg(c), End::Commit) => commit(&mut **c).await,
        (Conn::Pg(c), End::Rollback) => rollback(&mut **c).await,
        (Conn::Sqlite(c), End::Commit) => commit(&mut **c).await,
        (Conn::Sqlite(c), End::Rollback) => rollback(&mut **c).await,
        (Conn::PgShared(_), _) => Err(shared_transaction()),
    }
}

/// SQLite's `BEGIN IMMEDIATE`, or a savepoint when a transaction is open.
fn begin_sqlite(conn: &mut SqliteConnection) -> QueryResult<()> {
    let open = <AnsiTransactionManager as SyncTransactionManager<SqliteConnection>>::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .is_some();
    if open {
        <AnsiTransactionManager as SyncTransactionManager<SqliteConnection>>::begin_transaction(
            conn,
        )
    } else {
        AnsiTransactionManager::begin_transaction_sql(conn, "BEGIN IMMEDIATE")
    }
}

async fn commit<C: AsyncConnection>(conn: &mut C) -> QueryResult<()> {
    C::TransactionManager::commit_transaction(conn).await
}

async fn rollback<C: AsyncConnection>(conn: &mut C) -> QueryResult<()> {
    C::TransactionManager::rollback_transaction(conn).await
}
