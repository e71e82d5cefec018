//! PostgreSQL streaming replicas (`DATABASE_REPLICA_URLS`) for anonymous
//! reads: which ones may serve now, checked once a second by [`watch`].
//!
//! A replica serves while it answers, is a standby, and its replay lag is
//! within `DATABASE_REPLICA_MAX_LAG`. The lag is zero when it has replayed
//! all the WAL it received from a streaming primary, else the time since the
//! last transaction it replayed (PostgreSQL's own measure; it grows while
//! replay is paused or behind). Anything else takes it out until a check
//! finds it well again; with none usable, every read goes to the primary.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Double, Nullable};
use serde::Serialize;

use super::pg_pools::{PgPools, PoolOptions};
use super::{PgConn, establish_pg};

/// How often each replica is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The configured replicas of one server; cheap to clone.
#[derive(Clone, Default)]
pub struct Replicas(Arc<ReplicasInner>);

#[derive(Default)]
struct ReplicasInner {
    members: Vec<Replica>,
    max_lag: Duration,
    next: AtomicUsize,
}

pub(super) struct Replica {
    /// host:port/database, for the logs, `/readyz` and the metrics (no
    /// credentials).
    pub(super) label: String,
    url: String,
    pub(super) pools: PgPools,
    usable: AtomicBool,
    status: Mutex<ReplicaStatus>,
}

/// A replica as the last check saw it (`/readyz` shows these).
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaStatus {
    pub replica: String,
    /// `usable`, `lagging`, `down`, `not_a_standby` or `unchecked`.
    pub state: &'static str,
    /// Replay lag in seconds, when the replica answered as a standby.
    pub lag_seconds: Option<f64>,
    /// Why it is not usable, when it is down.
    pub error: Option<String>,
}

impl Replicas {
    pub(super) fn new(urls: &[String], options: &PoolOptions, max_lag: Duration) -> Replicas {
        let members = urls
            .iter()
            .map(|url| {
                let label = label(url);
                Replica {
                    status: Mutex::new(ReplicaStatus {
                        replica: label.clone(),
                        state: "unchecked",
                        lag_seconds: None,
                        error: None,
                    }),
                    label,
                    url: url.clone(),
                    pools: PgPools::new(url, options),
                    usable: AtomicBool::new(false),
                }
            })
            .collect();
        Replicas(Arc::new(ReplicasInner {
            members,
            max_lag,
            next: AtomicUsize::new(0),
        }))
    }

    pub fn is_empty(&self) -> bool {
        self.0.members.is_empty()
    }

    /// A usable replica, taking turns; `None` when there is none.
    pub(super) fn pick(&self) -> Option<&Replica> {
        let members = &self.0.members;
        let start = self.0.next.fetch_add(1, Ordering::Relaxed);
        (0..members.len())
            .map(|turn| &members[(start + turn) % members.len()])
            .find(|replica| replica.usable.load(Ordering::Relaxed))
    }

    pub(super) fn members(&self) -> &[Replica] {
        &self.0.members
    }

    /// What the last checks found, in the configured order.
    pub fn statuses(&self) -> Vec<ReplicaStatus> {
        self.0
            .members
            .iter()
            .map(|replica| lock(&replica.status).clone())
            .collect()
    }
}

impl Replica {
    /// Takes the replica out at once (a read found it gone); the next check
    /// that finds it well puts it back.
    pub(super) fn lost(&self, error: &str) {
        self.set(ReplicaStatus {
            replica: self.label.clone(),
            state: "down",
            lag_seconds: None,
            error: Some(error.to_owned()),
        });
    }

    fn set(&self, status: ReplicaStatus) {
        let usable = status.state == "usable";
        let mut current = lock(&self.status);
        if current.state != status.state {
            if usable {
                tracing::info!(replica = %self.label, lag_seconds = ?status.lag_seconds, "replica usable: anonymous reads go to it");
            } else {
                tracing::warn!(replica = %self.label, state = status.state, error = ?status.error, lag_seconds = ?status.lag_seconds, "replica not usable: its reads go elsewhere");
            }
        }
        self.usable.store(usable, Ordering::Relaxed);
        *current = status;
    }
}

#[derive(QueryableByName)]
struct Health {
    #[diesel(sql_type = Bool)]
    standby: bool,
    #[diesel(sql_type = Nullable<Double>)]
    lag: Option<f64>,
}

const HEALTH: &str = "\
SELECT pg_is_in_recovery() AS standby,
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
                 AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
                 THEN 0.0
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 1e9)::float8
       END AS lag";

/// Checks every replica once a second for as long as the server runs, on a
/// connection of its own per replica.
pub async fn watch(replicas: Replicas) {
    let mut connections: Vec<Option<PgConn>> = replicas.members().iter().map(|_| None).collect();
    loop {
        for (replica, connection) in replicas.members().iter().zip(connections.iter_mut()) {
            let status = check(replica, connection, replicas.0.max_lag).await;
            replica.set(status);
        }
        actix_web::rt::time::sleep(CHECK_EVERY).await;
    }
}

async fn check(
    replica: &Replica,
    connection: &mut Option<PgConn>,
    max_lag: Duration,
) -> ReplicaStatus {
    use diesel_async::RunQueryDsl;
    let status = |state, lag_seconds, error| ReplicaStatus {
        replica: replica.label.clone(),
        state,
        lag_seconds,
        error,
    };
    if connection.is_none() {
        match establish_pg(replica.url.clone()).await {
            Ok(conn) => *connection = Some(conn),
            Err(error) => return status("down", None, Some(error.to_string())),
        }
    }
    let Some(conn) = connection.as_mut() else {
        return status("down", None, Some("no connection".to_owned()));
    };
    match diesel::sql_query(HEALTH).get_result::<Health>(conn).await {
        Err(error) => {
            *connection = None;
            status("down", None, Some(error.to_string()))
        }
        Ok(Health { standby: false, .. }) => status("not_a_standby", None, None),
        Ok(Health { lag, .. }) => {
            let lag = lag.unwrap_or(f64::INFINITY).max(0.0);
            if lag <= max_lag.as_secs_f64() {
                status("usable", Some(lag), None)
            } else {
                status("lagging", Some(lag), None)
            }
        }
    }
}

/// `postgres://user:secret@host:port/db?x` → `host:port/db`.
fn label(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split('?').next().unwrap_or(rest).to_owned()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_keep_no_credentials() {
        assert_eq!(
            super::label("postgres://app:s3cret@db-2:5433/favorites?sslmode=disable"),
            "db-2:5433/favorites"
        );
        assert_eq!(super::label("postgresql://db/x"), "db/x");
    }
}
