//! What every request can reach, built once per server and shared by all
//! its workers: the database pool with the way to use it off the async
//! workers, the user cache and the metrics handles. Any layer may use this
//! module; it knows nothing of routes, middleware or handlers.

use std::time::Duration;

use crate::db::{Access, Conn, Database};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::repo::users::UserRow;

/// Users by token subject, saving a query on every authenticated request.
/// The API never renames a user; the time to live bounds staleness should
/// an operator delete one.
pub type UserCache = moka::sync::Cache<String, UserRow>;

const USER_CACHE_CAPACITY: u64 = 100_000;
const USER_CACHE_TTL: Duration = Duration::from_secs(300);

pub struct AppState {
    pub pool: Database,
    pub users: UserCache,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(pool: Database) -> Result<AppState, prometheus::Error> {
        let metrics = Metrics::new(pool.clone())?;
        let users = moka::sync::Cache::builder()
            .max_capacity(USER_CACHE_CAPACITY)
            .time_to_live(USER_CACHE_TTL)
            .build();
        Ok(AppState {
            pool,
            users,
            metrics,
        })
    }

    /// Runs database work that only reads on a pooled connection
    /// ([`Database::run`]): on this async worker for PostgreSQL, on a
    /// blocking thread for SQLite. Waiting for a connection is bounded by the
    /// pool's timeout, after which the request gets 503; a connection that
    /// found the database gone is discarded.
    pub async fn read<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: for<'c> AsyncFnOnce(&mut Conn<'c>) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.pool.run(Access::Read, work).await
    }

    /// As [`read`](Self::read), for work that writes: on PostgreSQL it gets
    /// a connection of the (larger) write pool, so that concurrent commits
    /// share the WAL flushes.
    pub async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: for<'c> AsyncFnOnce(&mut Conn<'c>) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.pool.run(Access::Write, work).await
    }
}
