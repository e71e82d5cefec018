//! The pieces of pooling: the pool options and their defaults, errors, and
//! PostgreSQL's connections (per worker thread: shared ones for reads, a pool
//! for writes) with the way a request runs its work on one of them.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel_async::pooled_connection::deadpool::{Object, Pool as DeadPool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, TransactionManager};
use futures_util::FutureExt;

use super::pg_shared::{Counts, SharedConns};
use super::sqlite::Synchronous;
use super::{Conn, PgConn, establish_pg};

fn cores() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores).unwrap_or(u32::MAX)
}

/// `DATABASE_POOL_SIZE` when unset: twice the CPU cores, from 4 to 32.
/// A read is CPU work on both sides; beyond a few connections per core,
/// PostgreSQL's backends only add context switches and queueing
/// (`bench/README.md` has the measurements). The cap keeps one server well
/// under PostgreSQL's default `max_connections` (100) on big machines.
pub fn default_pool_size() -> u32 {
    cores().saturating_mul(2).clamp(4, 32)
}

/// `DATABASE_WRITE_POOL_SIZE` when unset (PostgreSQL): eight per core, from
/// 16 to 64. A favorite write mostly waits for its commit's WAL flush; the
/// more transactions commit at once, the more share one flush.
pub fn default_write_pool_size() -> u32 {
    cores().saturating_mul(8).clamp(16, 64)
}

/// Pool settings; `connection_timeout` bounds how long a request waits for a
/// connection (and so how fast an outage turns into 503).
pub struct PoolOptions {
    /// Connections for reads (PostgreSQL), or all connections (SQLite).
    pub max_size: u32,
    /// PostgreSQL's connections for writes.
    pub write_size: u32,
    pub connection_timeout: Duration,
    /// The server's worker threads, over which PostgreSQL's connections are
    /// divided (see [`PgPools`]).
    pub workers: usize,
    /// When SQLite's commits reach the disk.
    pub sqlite_synchronous: Synchronous,
    /// PostgreSQL streaming replicas for anonymous reads (see [`Replicas`]).
    pub replica_urls: Vec<String>,
    /// The replay lag beyond which a replica serves no reads.
    pub replica_max_lag: Duration,
}

/// PostgreSQL's connections, per worker thread, made on the thread's first
/// request: the reads' shared connections ([`SharedConns`]) and a deadpool
/// for writes, whose connections a request has to itself.
///
/// tokio-postgres drives each connection from a task on the runtime that
/// opened it. With one pool shared by all workers, a request on one worker
/// often used a connection driven by another, and every statement cost
/// wake-ups on both threads (the CPU stood partly idle under full load).
/// A connection here only ever serves requests of the thread it runs on.
#[derive(Clone)]
pub struct PgPools(Arc<PgPoolsInner>);

struct PgPoolsInner {
    /// Tells this set of pools apart from another server's in the same
    /// process (the tests run many).
    id: u64,
    url: Arc<str>,
    /// Each worker's connections for reads and for writes.
    reads: usize,
    writes: usize,
    timeout: Duration,
    /// Every worker's write pool and read connections, for the metrics.
    write_pools: Mutex<Vec<DeadPool<PgConn>>>,
    read_counts: Mutex<Vec<Arc<Counts>>>,
    /// Reads served here, for the metrics.
    served_reads: AtomicU64,
}

/// A worker's read connections and write pool, under the id of the
/// [`PgPools`] they belong to.
struct WorkerPools {
    id: u64,
    reads: Rc<SharedConns>,
    writes: DeadPool<PgConn>,
}

thread_local! {
    static WORKER_POOLS: RefCell<Vec<WorkerPools>> = const { RefCell::new(Vec::new()) };
}

/// What a request's database work does, and so which pool serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl PgPools {
    pub(super) fn new(url: &str, options: &PoolOptions) -> PgPools {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let per_worker = |size: u32| {
            usize::try_from(size)
                .unwrap_or(usize::MAX)
                .div_ceil(options.workers.max(1))
                .max(1)
        };
        PgPools(Arc::new(PgPoolsInner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            url: url.into(),
            reads: per_worker(options.max_size),
            writes: per_worker(options.write_size),
            timeout: options.connection_timeout,
            write_pools: Mutex::new(Vec::new()),
            read_counts: Mutex::new(Vec::new()),
            served_reads: AtomicU64::new(0),
        }))
    }

    /// This thread's pools, made on first use, given to `f`.
    fn local<T>(&self, f: impl FnOnce(&WorkerPools) -> T) -> Result<T, PoolError> {
        WORKER_POOLS.with(|pools| {
            let mut pools = pools.borrow_mut();
            let index = match pools.iter().position(|pools| pools.id == self.0.id) {
                Some(index) => index,
                None => {
                    let worker = WorkerPools {
                        id: self.0.id,
                        reads: SharedConns::new(
                            Arc::clone(&self.0.url),
                            self.0.reads,
                            self.0.timeout,
                        ),
                        writes: self.build(self.0.writes)?,
                    };
                    lock(&self.0.write_pools).push(worker.writes.clone());
                    lock(&self.0.read_counts).push(worker.reads.counts());
                    pools.push(worker);
                    pools.len() - 1
                }
            };
            Ok(f(&pools[index]))
        })
    }

    fn build(&self, max_size: usize) -> Result<DeadPool<PgConn>, PoolError> {
        let mut config = ManagerConfig::<PgConn>::default();
        config.custom_setup = Box::new(|url| establish_pg(url.to_owned()).boxed());
        // No `SELECT 1` on every checkout (the default would double the
        // round trips of a one-statement request): a connection with an
        // open or broken transaction, or closed by the server, is discarded
        // without one, and a request that finds the database gone discards
        // its connection (503).
        config.recycling_method = RecyclingMethod::Fast;
        let manager = AsyncDieselConnectionManager::new_with_config(&*self.0.url, config);
        DeadPool::builder(manager)
            .max_size(max_size)
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(Some(self.0.timeout))
            .create_timeout(Some(self.0.timeout))
            .build()
            .map_err(|error| PoolError(error.to_string()))
    }

    /// Counts one read served by these pools.
    pub(super) fn count_read(&self) {
        self.0.served_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads served by these pools so far.
    pub(super) fn reads(&self) -> u64 {
        self.0.served_reads.load(Ordering::Relaxed)
    }

    pub(super) fn state(&self) -> PoolState {
        let (mut connections, mut idle) = (0, 0);
        for pool in lock(&self.0.write_pools).iter() {
            let status = pool.status();
            connections += status.size;
            idle += status.available;
        }
        let mut state = PoolState {
            connections: u32::try_from(connections).unwrap_or(u32::MAX),
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
        };
        for counts in lock(&self.0.read_counts).iter() {
            let (open, idle) = counts.read();
            state.connections += open;
            state.idle += idle;
        }
        state
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A PostgreSQL connection checked out for one request, checked again when
/// it goes back: also when the request's future is dropped mid-way (the
/// client went away), which is when a transaction can still be open, holding
/// its row locks. Such a connection, or one that found the database gone, is
/// closed at once (PostgreSQL rolls back), never returned to the pool.
struct Checked {
    pooled: Option<Object<PgConn>>,
    lost: bool,
}

impl Drop for Checked {
    fn drop(&mut self) {
        if let Some(mut pooled) = self.pooled.take()
            && (self.lost
                || <PgConn as AsyncConnection>::TransactionManager::is_broken_transaction_manager(
                    &mut *pooled,
                ))
        {
            drop(Object::take(pooled));
        }
    }
}

/// How many connections a pool holds, and how many of them are idle.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub connections: u32,
    pub idle: u32,
}

/// Why a request got no connection: the pool timed out, or connecting failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PoolError(pub String);

/// The error type of work given to [`Database::run`](super::Database::run): it can say that the
/// pool had no connection, and whether an error means the database is gone.
pub trait WorkError: From<PoolError> + From<actix_web::error::BlockingError> {
    /// Whether the connection that produced this error must not be reused.
    fn connection_lost(&self) -> bool;
}

/// Runs `work` on a connection of `pools` for `access`, on this worker: a
/// read on a shared connection, a write on one of its own.
pub(super) async fn run_pg<T, E, F>(pools: &PgPools, access: Access, work: F) -> Result<T, E>
where
    F: for<'c> AsyncFnOnce(&mut Conn<'c>) -> Result<T, E>,
    E: WorkError,
{
    if access == Access::Read {
        let lease = pools
            .local(|pools| Rc::clone(&pools.reads))?
            .get()
            .await
            .map_err(PoolError)?;
        let result = work(&mut Conn::PgShared(lease.conn())).await;
        if let Err(error) = &result
            && error.connection_lost()
        {
            lease.lost();
        }
        return result;
    }
    let pooled = pools
        .local(|pools| pools.writes.clone())?
        .get()
        .await
        .map_err(|error| PoolError(error.to_string()))?;
    let mut pooled = Checked {
        pooled: Some(pooled),
        lost: false,
    };
    let result = match pooled.pooled.as_mut() {
        Some(conn) => work(&mut Conn::Pg(conn)).await,
        None => Err(PoolError("no connection".to_owned()).into()),
    };
    if let Err(error) = &result {
        pooled.lost = error.connection_lost();
    }
    result
}
