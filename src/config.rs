//! Settings from the environment (and matching flags), validated once at
//! start. A bad value is one line naming the setting, never a panic.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::db::Backend;

pub const DEFAULT_DATABASE_PATH: &str = "./data/favorites.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const SECRET_FILE_NAME: &str = "jwt-secret";
/// Shortest accepted `JWT_SECRET`: HS256 keys shorter than the hash are weak.
pub const MIN_SECRET_BYTES: usize = 32;
pub const DEFAULT_POOL_SIZE: u32 = 16;
pub const MAX_POOL_SIZE: u32 = 1_000;

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
    /// Most database connections open at once [default: 16]
    #[arg(long, env = "DATABASE_POOL_SIZE", global = true)]
    pub database_pool_size: Option<String>,
    /// HS256 shared secret (at least 32 bytes); generated and kept in ./data when unset
    #[arg(long, env = "JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Required `iss` claim
    #[arg(long, env = "JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim
    #[arg(long, env = "JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
    /// Log format: `pretty` or `json` [default: pretty]
    #[arg(long, env = "LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
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
    pub jwt_secret: Option<Vec<u8>>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub log_format: LogFormat,
}

/// A setting that could not be used, and why.
#[derive(Debug)]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.setting, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        message: message.into(),
    }
}

/// Treats an empty variable like an unset one (`FOO= cmd` is common in scripts).
fn present(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

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
        let pool_size = match present(&self.database_pool_size) {
            None => DEFAULT_POOL_SIZE,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|size| (1..=MAX_POOL_SIZE).contains(size))
                .ok_or_else(|| {
                    invalid(
                        "DATABASE_POOL_SIZE",
                        format!("`{text}` is not a number from 1 to {MAX_POOL_SIZE}"),
                    )
                })?,
        };
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
        let log_format = match present(&self.log_format)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("`{other}` is neither `json` nor `pretty`"),
                ));
            }
        };
        Ok(Settings {
            database_url,
            backend,
            data_dir,
            bind,
            pool_size,
            jwt_secret,
            jwt_issuer: present(&self.jwt_issuer).map(str::to_owned),
            jwt_audience: present(&self.jwt_audience).map(str::to_owned),
            log_format,
        })
    }
}

impl Settings {
    /// The HS256 secret: configured, or generated on first use and kept at
    /// `<data_dir>/jwt-secret` (mode 0600), shared by `serve` and `token`.
    pub fn hs256_secret(&self) -> Result<Vec<u8>, ConfigError> {
        if let Some(secret) = &self.jwt_secret {
            return Ok(secret.clone());
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
}
