//! The one way to start the server, from `Settings`: `favorites serve` and
//! the test harness both call [`Application::build`] and then
//! [`Application::run`]; the tests change only the settings.

use std::net::TcpListener;
use std::sync::Arc;

use std::pin::pin;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::rt::signal::unix::{Signal, SignalKind, signal};
use actix_web::{HttpServer, web};
use futures_util::future::{Either, select};

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::db::listen::Heard;
use crate::db::{self, Backend, Database, PoolOptions};
use crate::http::ratelimit::{ByIp, ByUser, Limit, LimitStore};
use crate::http::shared_limit::RedisLimits;
use crate::repo::accounts::USER_DELETED_CHANNEL;
use crate::router::{self, Parts};
use crate::state::{AppState, UserCache};

/// Exit code for unusable configuration; anything else that stops the
/// start (the database, the port) exits 1.
pub const EXIT_CONFIG: u8 = 2;
/// How long in-flight requests may take to finish after SIGTERM/SIGINT.
const SHUTDOWN_TIMEOUT_SECONDS: u64 = 30;

/// Why the server could not start, with the process's exit code.
#[derive(Debug)]
pub struct StartupError {
    pub exit_code: u8,
    pub message: String,
}

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn config_error(message: String) -> StartupError {
    StartupError {
        exit_code: EXIT_CONFIG,
        message,
    }
}

fn runtime_error(message: String) -> StartupError {
    StartupError {
        exit_code: 1,
        message,
    }
}

/// A server ready to run: its keys loaded, its database migrated, its
/// port bound.
pub struct Application {
    listener: TcpListener,
    parts: Arc<Parts>,
    auth: Arc<Authenticator>,
    /// PostgreSQL: where to listen for users deleted by other instances.
    listen_url: Option<String>,
    shutdown_drain: Duration,
}

impl Application {
    /// Opens (and, unless turned off, migrates) the database, loads the keys
    /// (on PostgreSQL a generated secret is kept in the database), and binds
    /// `settings.bind` (port 0 picks a free port).
    pub fn build(settings: &Settings) -> Result<Application, StartupError> {
        if settings.backend == Backend::Sqlite && !settings.replica_urls.is_empty() {
            tracing::warn!("DATABASE_REPLICA_URLS is ignored: replicas are for PostgreSQL");
        }
        let pool = if settings.migrate_on_start {
            open_database(settings).map_err(runtime_error)?
        } else {
            pool(settings).map_err(runtime_error)?
        };
        let keys = settings
            .key_config()
            .map_err(|error| config_error(error.to_string()))?;
        let auth = Authenticator::new(
            &keys,
            settings.jwt_issuer.as_deref(),
            settings.jwt_audience.as_deref(),
        )
        .map_err(|(setting, error)| config_error(format!("invalid {setting}: {error}")))?;
        let auth = Arc::new(auth);
        let state = AppState::new(pool)
            .map_err(|error| runtime_error(format!("metrics could not be set up: {error}")))?;
        let listener = TcpListener::bind(settings.bind).map_err(|error| {
            config_error(format!(
                "invalid BIND: cannot listen on {}: {error}",
                settings.bind
            ))
        })?;
        let limits = match &settings.rate_limit_redis_url {
            None => LimitStore::Local,
            Some(url) => {
                let failures = state.metrics.rate_limit_store_failures.clone();
                let redis = RedisLimits::new(url, failures).map_err(|error| {
                    config_error(format!("invalid RATE_LIMIT_REDIS_URL: {error}"))
                })?;
                LimitStore::Redis(Arc::new(redis))
            }
        };
        let parts = Parts {
            state: web::Data::new(state),
            auth: web::Data::from(auth.clone()),
            cors_allowed_origins: settings.cors_allowed_origins.clone(),
            ip_limit: Limit::new(
                ByIp::new(settings.trusted_proxies.clone()),
                settings.rate_limit_per_ip,
                &limits,
            ),
            user_limit: Limit::new(ByUser, settings.rate_limit_per_user, &limits),
        };
        Ok(Application {
            listener,
            parts: Arc::new(parts),
            auth,
            listen_url: (settings.backend == Backend::Postgres)
                .then(|| settings.database_url.clone()),
            shutdown_drain: settings.shutdown_drain,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map_or(0, |address| address.port())
    }

    /// Starts serving; call inside an actix system and await the server.
    /// SIGTERM drains first (see [`stop_on_signals`]); SIGINT stops at once;
    /// either then stops accepting and lets in-flight requests finish
    /// (bounded by the timeout). SIGHUP re-reads the JWK Set.
    pub fn run(self) -> Result<Server, StartupError> {
        let parts = self.parts;
        let state = parts.state.clone();
        let address = self.listener.local_addr().ok();
        let server = HttpServer::new(move || router::app(parts.clone()))
            .workers(workers())
            // A client that closes its side of the connection is gone: stop
            // its request rather than finish work nobody will read (the
            // pool then discards a connection left inside a transaction).
            .h1_allow_half_closed(false)
            .shutdown_timeout(SHUTDOWN_TIMEOUT_SECONDS)
            // Our own handler drains on SIGTERM before stopping.
            .disable_signals()
            .listen(self.listener)
            .map_err(|error| runtime_error(format!("cannot serve: {error}")))?
            .run();
        // The handlers exist before "listening" is said: a signal sent from
        // then on is ours, never the default (which kills the process).
        let signals = StopSignals::install()?;
        actix_web::rt::spawn(stop_on_signals(
            signals,
            server.handle(),
            state.clone(),
            self.shutdown_drain,
        ));
        actix_web::rt::spawn(reload_keys_on_sighup(self.auth));
        if let Some(replicas) = state.pool.replicas() {
            actix_web::rt::spawn(db::replicas::watch(replicas.clone()));
        }
        if let Some(url) = self.listen_url {
            actix_web::rt::spawn(forget_deleted_users(url, state.users.clone()));
        }
        if let Some(address) = address {
            tracing::info!(bind = %address, "listening");
        }
        Ok(server)
    }
}

/// The server's worker threads: one per core, as actix's default.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn pool(settings: &Settings) -> Result<Database, String> {
    if settings.backend == Backend::Sqlite {
        std::fs::create_dir_all(&settings.data_dir).map_err(|error| {
            format!(
                "invalid DATABASE_URL: cannot create {}: {error}",
                settings.data_dir.display()
            )
        })?;
    }
    Database::new(
        &settings.database_url,
        &PoolOptions {
            max_size: settings.pool_size,
            write_size: settings.write_pool_size,
            connection_timeout: settings.pool_timeout,
            workers: workers(),
            sqlite_synchronous: settings.sqlite_synchronous,
            replica_urls: settings.replica_urls.clone(),
            replica_max_lag: settings.replica_max_lag,
        },
    )
    .map_err(|error| format!("invalid DATABASE_URL: {error}"))
}

/// Creates the SQLite file's directory, connects, and migrates.
pub fn open_database(settings: &Settings) -> Result<Database, String> {
    let pool = pool(settings)?;
    let applied =
        db::run_migrations(&settings.database_url).map_err(|error| match error
            .downcast_ref::<diesel::ConnectionError>(
        ) {
            Some(error) => format!("cannot connect to the database (DATABASE_URL): {error}"),
            None => format!("migrations failed: {error}"),
        })?;
    tracing::info!(applied, backend = ?settings.backend, "database migrated");
    Ok(pool)
}

/// The handlers of SIGTERM and SIGINT.
struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    fn install() -> Result<StopSignals, StartupError> {
        let install = |kind| {
            signal(kind).map_err(|error| runtime_error(format!("cannot handle signals: {error}")))
        };
        Ok(StopSignals {
            terminate: install(SignalKind::terminate())?,
            interrupt: install(SignalKind::interrupt())?,
        })
    }
}

/// SIGTERM (a deploy, an orchestrator): `/readyz` answers 503 at once, and
/// the server goes on serving for `drain` so that a load balancer sees it
/// and takes it out of rotation; then it stops accepting and finishes the
/// requests in flight. SIGINT (Ctrl-C), or a second signal during the
/// drain, skips (the rest of) it.
async fn stop_on_signals(
    signals: StopSignals,
    server: ServerHandle,
    state: web::Data<AppState>,
    drain: Duration,
) {
    let StopSignals {
        mut terminate,
        mut interrupt,
    } = signals;
    let terminated = {
        let (term, int) = (pin!(terminate.recv()), pin!(interrupt.recv()));
        matches!(select(term, int).await, Either::Left(_))
    };
    if terminated && !drain.is_zero() {
        state.start_draining();
        tracing::info!(
            drain_seconds = drain.as_secs(),
            "SIGTERM: /readyz answers 503; serving on for the drain"
        );
        let (term, int) = (pin!(terminate.recv()), pin!(interrupt.recv()));
        let drained = pin!(actix_web::rt::time::sleep(drain));
        let _ = select(drained, select(term, int)).await;
    }
    state.start_draining();
    tracing::info!("graceful shutdown: no new connections; finishing the requests in flight");
    server.stop(true).await;
}

/// Every instance on one PostgreSQL database forgets a user the moment any
/// of them deletes the account (the deletion's `NOTIFY`), and forgets every
/// cached user whenever it may have missed a notification.
async fn forget_deleted_users(url: String, users: UserCache) {
    db::listen::listen(url, USER_DELETED_CHANNEL, move |heard| match heard {
        Heard::Message(subject) => users.forget(subject),
        Heard::Gap => users.forget_all(),
    })
    .await;
}

/// SIGHUP re-reads the JWK Set file, so an identity provider's keys rotate
/// without a restart (changes to the file are also noticed on their own).
async fn reload_keys_on_sighup(auth: Arc<Authenticator>) {
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("SIGHUP cannot be handled; keys reload only when the JWK Set file changes");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the JWK Set");
        auth.reload_keys();
    }
}
