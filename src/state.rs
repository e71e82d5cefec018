//! What every request can reach, built once per server and shared by all
//! its workers: the database pool with the way to use it off the async
//! workers, the user cache and the metrics handles. Any layer may use this
//! module; it knows nothing of routes, middleware or handlers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::db::{Access, Conn, Database};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::repo::users::UserRow;

/// Users by token subject, saving a query on every authenticated request.
///
/// The API never renames a user, so an entry goes stale only when the user
/// is deleted: `DELETE /me` forgets it here, and on PostgreSQL every other
/// instance hears of it (`LISTEN`, see `startup.rs`) and forgets it too. A
/// write that still meets a deleted id resolves the subject again
/// (`Caller::write`). The time to live bounds what is left (a user deleted
/// by hand).
#[derive(Clone)]
pub struct UserCache(Arc<CacheInner>);

struct CacheInner {
    users: moka::sync::Cache<String, UserRow>,
    /// Counts what was forgotten. A row read from the database is cached
    /// only if nothing was forgotten while it was being read, so a lookup
    /// that raced a deletion cannot put the deleted user back.
    forgotten: Mutex<u64>,
}

/// A point in the cache's history, taken before reading a user.
pub struct CacheEpoch(u64);

const USER_CACHE_CAPACITY: u64 = 100_000;
const USER_CACHE_TTL: Duration = Duration::from_secs(300);

impl UserCache {
    fn new() -> UserCache {
        let users = moka::sync::Cache::builder()
            .max_capacity(USER_CACHE_CAPACITY)
            .time_to_live(USER_CACHE_TTL)
            .build();
        UserCache(Arc::new(CacheInner {
            users,
            forgotten: Mutex::new(0),
        }))
    }

    pub fn get(&self, subject: &str) -> Option<UserRow> {
        self.0.users.get(subject)
    }

    /// Take this before reading the user that [`insert`](Self::insert) caches.
    pub fn epoch(&self) -> CacheEpoch {
        CacheEpoch(*self.forgotten())
    }

    /// Caches `user` unless something was forgotten since `epoch`.
    pub fn insert(&self, subject: &str, user: UserRow, epoch: CacheEpoch) {
        let forgotten = self.forgotten();
        if *forgotten == epoch.0 {
            self.0.users.insert(subject.to_owned(), user);
        }
    }

    /// Forgets one subject (its user was deleted).
    pub fn forget(&self, subject: &str) {
        let mut forgotten = self.forgotten();
        *forgotten += 1;
        self.0.users.invalidate(subject);
    }

    /// Forgets everyone (deletions may have gone unheard).
    pub fn forget_all(&self) {
        let mut forgotten = self.forgotten();
        *forgotten += 1;
        self.0.users.invalidate_all();
    }

    fn forgotten(&self) -> std::sync::MutexGuard<'_, u64> {
        self.0
            .forgotten
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Who a read is for, and so where it may be served (see [`AppState::read_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Anonymous,
    Authenticated,
}

pub struct AppState {
    pub pool: Database,
    pub users: UserCache,
    pub metrics: Metrics,
    /// Set by SIGTERM: `/readyz` answers 503 while the server drains.
    draining: AtomicBool,
}

impl AppState {
    pub fn new(pool: Database) -> Result<AppState, prometheus::Error> {
        let metrics = Metrics::new(pool.clone())?;
        Ok(AppState {
            pool,
            users: UserCache::new(),
            metrics,
            draining: AtomicBool::new(false),
        })
    }

    /// From now on `/readyz` says the server is going away.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
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

    /// As [`read`](Self::read), for `reader`: an anonymous read may be
    /// served by a PostgreSQL replica (a little behind the primary, within
    /// `DATABASE_REPLICA_MAX_LAG`); a caller with a token always reads the
    /// primary, and so always sees their own writes. `work` may run twice
    /// (again on the primary, when a replica fails mid-way).
    pub async fn read_for<T, F>(&self, reader: Reader, work: F) -> Result<T, ApiError>
    where
        F: for<'c> AsyncFn(&mut Conn<'c>) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        match reader {
            Reader::Anonymous => self.pool.run_anonymous(work).await,
            Reader::Authenticated => self.pool.run(Access::Read, work).await,
        }
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
