//! What every request can reach, built once per server and shared by all
//! its workers: the database pool with the way to use it off the async
//! workers, the user cache and the metrics handles. Any layer may use this
//! module; it knows nothing of routes, middleware or handlers.

use std::time::Duration;

use actix_web::web;

use crate::db::{Conn, Pool};
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
    pub pool: Pool,
    pub users: UserCache,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(pool: Pool) -> Result<AppState, prometheus::Error> {
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

    /// Runs blocking database work on a pooled connection, on actix's
    /// blocking thread pool rather than the async workers. Waiting for a
    /// connection is bounded by the pool's timeout, after which the request
    /// gets 503; a connection that found the database gone is discarded.
    pub async fn run_blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Conn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get()?;
            let result = work(&mut conn);
            if let Err(ApiError::Unavailable(_)) = &result {
                conn.mark_lost();
            }
            result
        })
        .await?
    }
}
