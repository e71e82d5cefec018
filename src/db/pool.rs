//! [`Database`], the pool of the configured backend (PostgreSQL's per-worker
//! pools with their replicas, or SQLite's r2d2 pool), and [`Database::run`],
//! the one way a request gets a connection.

use diesel::r2d2;

use super::pg_pools::{Access, PgPools, PoolError, PoolOptions, PoolState, WorkError, run_pg};
use super::replicas::Replicas;
use super::sqlite::{self, SqliteManager};
use super::{Backend, Conn, run_inline};

/// The connection pool of the configured backend.
///
/// PostgreSQL: asynchronous connections (diesel-async over tokio-postgres),
/// awaited on the actix workers with no hand-off to another thread: reads
/// share a few per worker, pipelined; writes check one out of a deadpool. A
/// write connection returned with a transaction still open (its request was
/// cancelled mid-transaction) or closed by the server is discarded on its
/// next checkout, never reused. SQLite: an r2d2 pool of [`SqliteConn`], each
/// request's work run on a blocking thread.
#[derive(Clone)]
pub enum Database {
    Pg(PgPools, Replicas),
    Sqlite(r2d2::Pool<SqliteManager>),
}

impl Database {
    /// Builds the pool without connecting, so a server can start (and answer
    /// `/healthz`) while the database is still coming up.
    pub fn new(url: &str, options: &PoolOptions) -> Result<Database, PoolError> {
        match Backend::of_url(url) {
            Backend::Postgres => Ok(Database::Pg(
                PgPools::new(url, options),
                Replicas::new(&options.replica_urls, options, options.replica_max_lag),
            )),
            Backend::Sqlite => Ok(Database::Sqlite(
                r2d2::Pool::builder()
                    .max_size(options.max_size)
                    .min_idle(Some(0))
                    .connection_timeout(options.connection_timeout)
                    .test_on_check_out(false)
                    .build_unchecked(SqliteManager {
                        path: sqlite::path(url).to_owned(),
                        synchronous: options.sqlite_synchronous,
                    }),
            )),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Pg(..) => Backend::Postgres,
            Database::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub fn state(&self) -> PoolState {
        match self {
            Database::Pg(pools, _) => pools.state(),
            Database::Sqlite(pool) => {
                let state = pool.state();
                PoolState {
                    connections: state.connections,
                    idle: state.idle_connections,
                }
            }
        }
    }

    /// The replicas, when this is PostgreSQL with some configured.
    pub fn replicas(&self) -> Option<&Replicas> {
        match self {
            Database::Pg(_, replicas) if !replicas.is_empty() => Some(replicas),
            _ => None,
        }
    }

    /// Reads served by each target so far: `primary`, then each replica by
    /// its label (PostgreSQL; nothing for SQLite).
    pub fn reads(&self) -> Vec<(String, u64)> {
        let Database::Pg(primary, replicas) = self else {
            return Vec::new();
        };
        let mut reads = vec![("primary".to_owned(), primary.reads())];
        reads.extend(
            replicas
                .members()
                .iter()
                .map(|replica| (replica.label.clone(), replica.pools.reads())),
        );
        reads
    }

    /// Runs `work` on a pooled connection: on the calling async worker for
    /// PostgreSQL, on a blocking thread for SQLite. Waiting for a connection
    /// is bounded by the pool's timeout. When the error says the database
    /// went away, the connection is discarded rather than returned, so
    /// service resumes by itself once it is back.
    pub async fn run<T, E, F>(&self, access: Access, work: F) -> Result<T, E>
    where
        F: for<'c> AsyncFnOnce(&mut Conn<'c>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WorkError + Send + 'static,
    {
        match self {
            Database::Pg(pools, _) => {
                if access == Access::Read {
                    pools.count_read();
                }
                run_pg(pools, access, work).await
            }
            Database::Sqlite(pool) => {
                let pool = pool.clone();
                actix_web::web::block(move || {
                    let mut pooled = pool.get().map_err(|error| PoolError(error.to_string()))?;
                    let result = run_inline(work(&mut Conn::Sqlite(&mut pooled)));
                    if let Err(error) = &result {
                        pooled.lost |= error.connection_lost();
                    }
                    result
                })
                .await?
            }
        }
    }

    /// As [`run`](Self::run) for a read that may be a little stale (an
    /// anonymous read): on a usable replica when there is one. Should the
    /// replica turn out gone, it is taken out and `work` runs again on the
    /// primary, so a replica's failure never fails a read.
    pub async fn run_anonymous<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: for<'c> AsyncFn(&mut Conn<'c>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WorkError + std::fmt::Display + Send + 'static,
    {
        if let Database::Pg(_, replicas) = self
            && let Some(replica) = replicas.pick()
        {
            match run_pg(&replica.pools, Access::Read, &work).await {
                Err(error) if error.connection_lost() => replica.lost(&error.to_string()),
                done => {
                    replica.pools.count_read();
                    return done;
                }
            }
        }
        self.run(Access::Read, work).await
    }
}
