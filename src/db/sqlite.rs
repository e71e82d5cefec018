//! SQLite: its connection behind diesel-async's interface, run inline on
//! the blocking thread that serves a request, and the r2d2 manager of its
//! pool.

use diesel::ConnectionError;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use diesel_async::{AsyncConnection, SimpleAsyncConnection, TransactionManager};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

/// A SQLite connection behind diesel-async's interface. Its statements run
/// inline ([`Inline`]), so it is only ever used on a blocking thread:
/// [`Database::run`] moves a request's whole SQLite work to one.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, Inline>;

/// The [`SpawnBlocking`] of [`SqliteConn`]: runs each statement at once on
/// the calling thread, which is a blocking thread already (see
/// [`Database::run`]); one hand-off per request instead of one per statement.
pub struct Inline;

impl SpawnBlocking for Inline {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        std::future::ready(Ok(task())).boxed()
    }

    fn get_runtime() -> Self {
        Inline
    }
}

/// How long SQLite waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// When SQLite's commits reach the disk (`SQLITE_SYNCHRONOUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `synchronous = FULL`: every commit is on disk before it is
    /// acknowledged, also through a power loss or an OS crash. The default.
    #[default]
    Full,
    /// `synchronous = NORMAL`: commits survive a crash of the process, but
    /// the last ones may roll back on a power loss or an OS crash.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// The SQLite file a `DATABASE_URL` names.
pub(super) fn path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

/// Opens a SQLite connection with the settings every connection needs.
pub(super) fn establish(
    path: &str,
    synchronous: Synchronous,
) -> Result<SqliteConnection, ConnectionError> {
    let mut conn = SqliteConnection::establish(path)?;
    let synchronous = synchronous.pragma();
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {synchronous};
         PRAGMA foreign_keys = ON;"
    ))
    .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// [`establish`]ed, behind diesel-async's interface.
pub(super) fn connect(path: &str, synchronous: Synchronous) -> Result<SqliteConn, ConnectionError> {
    Ok(SyncConnectionWrapper::with_runtime(
        establish(path, synchronous)?,
        Inline,
    ))
}

/// Polls a future of [`SqliteConn`] to its end on this thread; its
/// statements run inline, so it never waits on anything else.
pub fn run_inline<T>(future: impl Future<Output = T>) -> T {
    futures_executor::block_on(future)
}

/// A pooled SQLite connection, and whether the request that used it found
/// the database gone. r2d2 discards a connection marked lost instead of
/// handing it out again.
pub struct DbConn {
    conn: SqliteConn,
    pub(super) lost: bool,
}

impl std::ops::Deref for DbConn {
    type Target = SqliteConn;
    fn deref(&self) -> &SqliteConn {
        &self.conn
    }
}

impl std::ops::DerefMut for DbConn {
    fn deref_mut(&mut self) -> &mut SqliteConn {
        &mut self.conn
    }
}

/// The r2d2 manager of SQLite connections.
#[derive(Debug, Clone)]
pub struct SqliteManager {
    pub(super) path: String,
    pub(super) synchronous: Synchronous,
}

impl ManageConnection for SqliteManager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConn, ConnectionError> {
        Ok(DbConn {
            conn: connect(&self.path, self.synchronous)?,
            lost: false,
        })
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectionError> {
        run_inline(conn.conn.batch_execute("SELECT 1"))
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.lost
            || <SqliteConn as AsyncConnection>::TransactionManager::is_broken_transaction_manager(
                &mut conn.conn,
            )
    }
}
