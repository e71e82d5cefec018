//! Settings from the environment (and matching flags), validated once at
//! start. A bad value is one line naming the setting, never a panic.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;

mod values;

pub use values::{ConfigError, MAX_POOL_SIZE};
use values::{
    comma_list, either, invalid, parse_origin, parse_rate, parse_replica_urls,
    parse_trusted_proxies, pool_size_setting, present, seconds_setting,
};

use crate::auth::KeyConfig;
use crate::db::{Backend, Synchronous, default_pool_size, default_write_pool_size};

pub const DEFAULT_DATABASE_PATH: &str = "./data/favorites.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const SECRET_FILE_NAME: &str = "jwt-secret";
/// The name of the generated HS256 secret in PostgreSQL's `server_secrets`.
const SHARED_SECRET_NAME: &str = "jwt_hs256";
/// Shortest accepted `JWT_SECRET`: HS256 keys shorter than the hash are weak.
pub const MIN_SECRET_BYTES: usize = 32;
/// How long a request waits for a database connection before 503.
pub const DEFAULT_POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// The raw configuration, as the environment and the command line give it.
/// Every value is a string here so that validation, not clap, reports it.
#[derive(Debug, Clone, Default, Args)]
pub struct RawSettings {
    /// Database: a `postgres://` URL, or a SQLite file path [default: ./data/favorites.db]
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "BIND", global = true)]
    pub bind: Option<String>,
    /// Database connections for reads (SQLite: for everything) [default: twice the CPU cores, 4 to 32]
    #[arg(long, env = "DATABASE_POOL_SIZE", global = true)]
    pub database_pool_size: Option<String>,
    /// PostgreSQL: database connections for writes, apart from the reads' [default: eight per CPU core, 16 to 64]
    #[arg(long, env = "DATABASE_WRITE_POOL_SIZE", global = true)]
    pub database_write_pool_size: Option<String>,
    /// HS256 shared secret (at least 32 bytes); generated and kept in ./data when unset
    #[arg(long, env = "JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM public key (RSA, P-256 or Ed25519) of an external identity provider
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE", global = true)]
    pub jwt_public_key_file: Option<String>,
    /// JWK Set file of an external identity provider (key chosen by `kid`; reloaded on change or SIGHUP)
    #[arg(long, env = "JWT_JWKS_FILE", global = true)]
    pub jwt_jwks_file: Option<String>,
    /// Required `iss` claim
    #[arg(long, env = "JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim
    #[arg(long, env = "JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
    /// Log format: `pretty` or `json` [default: pretty]
    #[arg(long, env = "LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Browser origins allowed to call the API, comma-separated (e.g. https://app.example.com)
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", global = true)]
    pub cors_allowed_origins: Option<String>,
    /// Requests a minute per client IP, bursts of as many; 0 or unset is off
    #[arg(long, env = "RATE_LIMIT_PER_IP", global = true)]
    pub rate_limit_per_ip: Option<String>,
    /// Requests a minute per user (token subject), bursts of as many; 0 or unset is off
    #[arg(long, env = "RATE_LIMIT_PER_USER", global = true)]
    pub rate_limit_per_user: Option<String>,
    /// Load balancers whose X-Forwarded-For names the client for the per-IP limit: comma-separated addresses or CIDR networks (e.g. 10.0.0.0/8)
    #[arg(long, env = "TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// PostgreSQL streaming replicas for anonymous reads, comma-separated postgres:// URLs (ignored, with a warning, on SQLite)
    #[arg(
        long,
        env = "DATABASE_REPLICA_URLS",
        global = true,
        hide_env_values = true
    )]
    pub database_replica_urls: Option<String>,
    /// Seconds of replay lag beyond which a replica serves no reads [default: 5]
    #[arg(long, env = "DATABASE_REPLICA_MAX_LAG", global = true)]
    pub database_replica_max_lag: Option<String>,
    /// Redis URL (redis://host:port/db) where the rate limits are counted, shared by every instance using it; unset: each process counts its own
    #[arg(long, env = "RATE_LIMIT_REDIS_URL", global = true)]
    pub rate_limit_redis_url: Option<String>,
    /// SQLite: `full` (every acknowledged write survives a power loss) or `normal` (faster commits; the last ones may be lost on a power loss or OS crash, not on a process crash) [default: full]
    #[arg(long, env = "SQLITE_SYNCHRONOUS", global = true)]
    pub sqlite_synchronous: Option<String>,
    /// Seconds to keep serving after SIGTERM while `/readyz` answers 503, so a load balancer takes the instance out first; 0-300 [default: 5]
    #[arg(long, env = "SHUTDOWN_DRAIN_SECONDS", global = true)]
    pub shutdown_drain_seconds: Option<String>,
    /// Apply pending migrations when the server starts: `true` or `false` [default: true]
    #[arg(long, env = "MIGRATE_ON_START", global = true)]
    pub migrate_on_start: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub backend: Backend,
    /// Where generated state (the JWT secret) lives: beside the SQLite file,
    /// or `./data` with PostgreSQL.
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    pub pool_size: u32,
    pub write_pool_size: u32,
    /// How long a request waits for a pooled connection before 503; not an
    /// environment setting (tests shorten it).
    pub pool_timeout: Duration,
    /// Whether `serve` migrates first; without it, the server starts (and
    /// answers `/healthz`) even while the database is unreachable.
    pub migrate_on_start: bool,
    pub sqlite_synchronous: Synchronous,
    pub jwt_secret: Option<Vec<u8>>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub jwt_public_key_file: Option<PathBuf>,
    pub jwt_jwks_file: Option<PathBuf>,
    pub log_format: LogFormat,
    pub cors_allowed_origins: Vec<String>,
    pub rate_limit_per_ip: Option<u32>,
    pub rate_limit_per_user: Option<u32>,
    /// Where the limits count, when not in this process.
    pub rate_limit_redis_url: Option<String>,
    /// Proxies trusted to name the client in `X-Forwarded-For`.
    pub trusted_proxies: Vec<IpNet>,
    /// PostgreSQL replicas for anonymous reads (SQLite ignores them).
    pub replica_urls: Vec<String>,
    pub replica_max_lag: Duration,
    /// How long SIGTERM keeps the server serving, `/readyz` 503, before it
    /// stops accepting.
    pub shutdown_drain: Duration,
}

/// `SHUTDOWN_DRAIN_SECONDS` when unset.
pub const DEFAULT_SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);
const MAX_SHUTDOWN_DRAIN_SECONDS: u64 = 300;
/// `DATABASE_REPLICA_MAX_LAG` when unset.
pub const DEFAULT_REPLICA_MAX_LAG: Duration = Duration::from_secs(5);
const MAX_REPLICA_MAX_LAG_SECONDS: u64 = 86_400;

impl RawSettings {
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let database_url = present(&self.database_url)
            .unwrap_or(DEFAULT_DATABASE_PATH)
            .to_owned();
        let backend = Backend::of_url(&database_url);
        let data_dir = match backend {
            Backend::Postgres => PathBuf::from("./data"),
            Backend::Sqlite => {
                let path = database_url
                    .strip_prefix("sqlite://")
                    .unwrap_or(&database_url);
                if path == ":memory:" {
                    return Err(invalid(
                        "DATABASE_URL",
                        "an in-memory SQLite database is not supported; give a file path",
                    ));
                }
                match PathBuf::from(path).parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                    _ => PathBuf::from("."),
                }
            }
        };
        let bind_text = present(&self.bind).unwrap_or(DEFAULT_BIND);
        let bind = bind_text.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "BIND",
                format!("`{bind_text}` is not an address like 127.0.0.1:8080"),
            )
        })?;
        let pool_size = pool_size_setting(
            "DATABASE_POOL_SIZE",
            &self.database_pool_size,
            default_pool_size(),
        )?;
        let write_pool_size = pool_size_setting(
            "DATABASE_WRITE_POOL_SIZE",
            &self.database_write_pool_size,
            default_write_pool_size(),
        )?;
        let jwt_secret = match present(&self.jwt_secret) {
            None => None,
            Some(secret) if secret.len() < MIN_SECRET_BYTES => {
                return Err(invalid(
                    "JWT_SECRET",
                    format!("must be at least {MIN_SECRET_BYTES} bytes long"),
                ));
            }
            Some(secret) => Some(secret.as_bytes().to_vec()),
        };
        let log_format = either(
            "LOG_FORMAT",
            &self.log_format,
            ("pretty", LogFormat::Pretty),
            ("json", LogFormat::Json),
        )?;
        let cors_allowed_origins = comma_list(&self.cors_allowed_origins)
            .map(parse_origin)
            .collect::<Result<_, _>>()?;
        let rate_limit_per_ip = parse_rate(&self.rate_limit_per_ip, "RATE_LIMIT_PER_IP")?;
        let rate_limit_per_user = parse_rate(&self.rate_limit_per_user, "RATE_LIMIT_PER_USER")?;
        let migrate_on_start = either(
            "MIGRATE_ON_START",
            &self.migrate_on_start,
            ("true", true),
            ("false", false),
        )?;
        let rate_limit_redis_url = present(&self.rate_limit_redis_url).map(str::to_owned);
        if let Some(url) = &rate_limit_redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("redis+unix://")
                || url.starts_with("unix://"))
        {
            return Err(invalid(
                "RATE_LIMIT_REDIS_URL",
                format!("`{url}` is not a redis:// URL"),
            ));
        }
        let shutdown_drain = seconds_setting(
            "SHUTDOWN_DRAIN_SECONDS",
            &self.shutdown_drain_seconds,
            DEFAULT_SHUTDOWN_DRAIN,
            MAX_SHUTDOWN_DRAIN_SECONDS,
        )?;
        let replica_max_lag = seconds_setting(
            "DATABASE_REPLICA_MAX_LAG",
            &self.database_replica_max_lag,
            DEFAULT_REPLICA_MAX_LAG,
            MAX_REPLICA_MAX_LAG_SECONDS,
        )?;
        let trusted_proxies = parse_trusted_proxies(&self.trusted_proxies)?;
        let replica_urls = parse_replica_urls(&self.database_replica_urls)?;
        let sqlite_synchronous = either(
            "SQLITE_SYNCHRONOUS",
            &self.sqlite_synchronous,
            ("full", Synchronous::Full),
            ("normal", Synchronous::Normal),
        )?;
        Ok(Settings {
            database_url,
            backend,
            data_dir,
            bind,
            pool_size,
            write_pool_size,
            pool_timeout: DEFAULT_POOL_TIMEOUT,
            migrate_on_start,
            sqlite_synchronous,
            jwt_secret,
            jwt_issuer: present(&self.jwt_issuer).map(str::to_owned),
            jwt_audience: present(&self.jwt_audience).map(str::to_owned),
            jwt_public_key_file: present(&self.jwt_public_key_file).map(PathBuf::from),
            jwt_jwks_file: present(&self.jwt_jwks_file).map(PathBuf::from),
            log_format,
            cors_allowed_origins,
            rate_limit_per_ip,
            rate_limit_per_user,
            rate_limit_redis_url,
            trusted_proxies,
            replica_urls,
            replica_max_lag,
            shutdown_drain,
        })
    }
}

impl Settings {
    /// The HS256 secret: configured, or generated on first use and kept at
    /// `<data_dir>/jwt-secret` (mode 0600), shared by `serve` and `token`.
    /// The keys tokens are verified with. With an external identity
    /// provider's keys configured and no `JWT_SECRET`, HS256 is off (no
    /// secret is generated); otherwise the HS256 secret is as below.
    pub fn key_config(&self) -> Result<KeyConfig, ConfigError> {
        let external = self.jwt_public_key_file.is_some() || self.jwt_jwks_file.is_some();
        let secret = if external && self.jwt_secret.is_none() {
            None
        } else {
            Some(self.hs256_secret()?)
        };
        Ok(KeyConfig {
            secret,
            public_key_file: self.jwt_public_key_file.clone(),
            jwks_file: self.jwt_jwks_file.clone(),
        })
    }

    pub fn hs256_secret(&self) -> Result<Vec<u8>, ConfigError> {
        if let Some(secret) = &self.jwt_secret {
            return Ok(secret.clone());
        }
        if self.backend == Backend::Postgres {
            return self.shared_secret();
        }
        let path = self.data_dir.join(SECRET_FILE_NAME);
        crate::auth::load_or_create_secret(&path).map_err(|error| {
            invalid(
                "JWT_SECRET",
                format!(
                    "unset, and the generated secret at {} is unusable: {error}",
                    path.display()
                ),
            )
        })
    }

    /// PostgreSQL without `JWT_SECRET`: the generated secret lives in the
    /// database (`server_secrets`), so every instance on it, and `favorites
    /// token`, use the same one. A server that generated its secret into
    /// `<data dir>/jwt-secret` before keeps it: that file seeds the database.
    fn shared_secret(&self) -> Result<Vec<u8>, ConfigError> {
        let earlier = crate::auth::read_secret(&self.data_dir.join(SECRET_FILE_NAME));
        let candidate = earlier.unwrap_or_else(crate::auth::generate_secret);
        crate::db::pg_shared_secret(&self.database_url, SHARED_SECRET_NAME, &candidate)
            .map(String::into_bytes)
            .map_err(|error| {
                invalid(
                    "JWT_SECRET",
                    format!(
                        "unset, and the secret the servers on this database share could not be \
                         read from it (set JWT_SECRET, or let `favorites serve` or `favorites \
                         migrate` create the table first): {error}"
                    ),
                )
            })
    }
}
