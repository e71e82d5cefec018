//! Reading one setting's text: the shapes settings come in, each checked
//! once, each failure one line naming the setting.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::db::Backend;

pub const MAX_POOL_SIZE: u32 = 1_000;

/// A whole number of seconds from 0 to `max`; `default` when unset.
pub(super) fn seconds_setting(
    setting: &'static str,
    value: &Option<String>,
    default: Duration,
    max: u64,
) -> Result<Duration, ConfigError> {
    match present(value) {
        None => Ok(default),
        Some(text) => match text.parse::<u64>() {
            Ok(seconds) if seconds <= max => Ok(Duration::from_secs(seconds)),
            _ => Err(invalid(
                setting,
                format!("`{text}` is not a whole number of seconds from 0 to {max}"),
            )),
        },
    }
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

pub(super) fn invalid(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        message: message.into(),
    }
}

/// Treats an empty variable like an unset one (`FOO= cmd` is common in scripts).
pub(super) fn present(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// A pool size setting: 1 to [`MAX_POOL_SIZE`], `default` when unset.
pub(super) fn pool_size_setting(
    setting: &'static str,
    value: &Option<String>,
    default: u32,
) -> Result<u32, ConfigError> {
    match present(value) {
        None => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|size| (1..=MAX_POOL_SIZE).contains(size))
            .ok_or_else(|| {
                invalid(
                    setting,
                    format!("`{text}` is not a number from 1 to {MAX_POOL_SIZE}"),
                )
            }),
    }
}

/// A setting with two values, the first its default; case does not matter.
pub(super) fn either<T>(
    setting: &'static str,
    value: &Option<String>,
    default: (&str, T),
    other: (&str, T),
) -> Result<T, ConfigError> {
    match present(value).map(str::to_ascii_lowercase) {
        None => Ok(default.1),
        Some(text) if text == default.0 => Ok(default.1),
        Some(text) if text == other.0 => Ok(other.1),
        Some(text) => Err(invalid(
            setting,
            format!("`{text}` is neither `{}` nor `{}`", default.0, other.0),
        )),
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, no path. `*` is
/// refused: with bearer tokens the allowed origins must be explicit.
pub(super) fn parse_origin(origin: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| invalid("CORS_ALLOWED_ORIGINS", format!("`{origin}` {why}"));
    if origin == "*" {
        return Err(bad("is not allowed: list the origins explicitly"));
    }
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains('/') || rest.contains(char::is_whitespace) {
        return Err(bad("must be scheme://host[:port] with no path"));
    }
    Ok(origin.to_owned())
}

/// A requests-per-minute limit; 0 or unset turns it off.
pub(super) fn parse_rate(
    value: &Option<String>,
    setting: &'static str,
) -> Result<Option<u32>, ConfigError> {
    match present(value) {
        None => Ok(None),
        Some(text) => match text.parse::<u32>() {
            Ok(0) => Ok(None),
            Ok(limit) => Ok(Some(limit)),
            Err(_) => Err(invalid(
                setting,
                format!("`{text}` is not a whole number of requests per minute"),
            )),
        },
    }
}

/// The non-empty, trimmed items of a comma-separated setting.
pub(super) fn comma_list(value: &Option<String>) -> impl Iterator<Item = &str> {
    present(value)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// `TRUSTED_PROXIES`: addresses or CIDR networks.
pub(super) fn parse_trusted_proxies(value: &Option<String>) -> Result<Vec<IpNet>, ConfigError> {
    comma_list(value)
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    invalid(
                        "TRUSTED_PROXIES",
                        format!("`{entry}` is not an IP address or CIDR network"),
                    )
                })
        })
        .collect()
}

/// `DATABASE_REPLICA_URLS`: PostgreSQL URLs (credentials never repeated in
/// the error).
pub(super) fn parse_replica_urls(value: &Option<String>) -> Result<Vec<String>, ConfigError> {
    comma_list(value)
        .map(|url| {
            if Backend::of_url(url) == Backend::Postgres {
                Ok(url.to_owned())
            } else {
                Err(invalid(
                    "DATABASE_REPLICA_URLS",
                    format!(
                        "`{}` is not a postgres:// URL",
                        url.split('@').next_back().unwrap_or(url)
                    ),
                ))
            }
        })
        .collect()
}
