//! The rate limits counted in Redis (`RATE_LIMIT_REDIS_URL`), so that every
//! instance behind a load balancer spends from one quota per client.
//!
//! The algorithm is the in-process limiter's, GCRA, run as one Lua script
//! per request (atomic in Redis, on Redis's clock, so instances need not
//! agree on the time): a key holds its theoretical arrival time; each
//! request moves it one emission interval (`window / quota`) ahead, and a
//! request that would move it more than a window past now is refused. The
//! key expires when its quota is whole again.
//!
//! Redis down or slow (no answer within 100 ms) is never the client's problem: the request is served
//! without a limit (fail open), counted in
//! `favorites_rate_limit_store_failures_total`, and logged at most once a
//! minute; Redis is then left alone for a second before it is asked again,
//! and limits come back by themselves once it answers.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use prometheus::IntCounter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::decision::{Decision, WINDOW};

/// How long a check may wait for Redis before the request goes on unlimited.
const REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// After a failure, how long requests skip Redis (and go on unlimited).
const BACK_OFF: Duration = Duration::from_secs(1);
/// At most one warning in this long.
const WARN_EVERY: Duration = Duration::from_secs(60);

const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local quota = tonumber(ARGV[2])
local window = interval * quota
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval
local allowed_at = next_tat - window
if now < allowed_at then
  return {0, 0, tat - now, allowed_at - now}
end
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now)
return {1, math.floor((now + window - next_tat) / interval), next_tat - now, 0}
";

/// The limits' state in one Redis, shared by every limit of this server.
pub struct RedisLimits {
    client: redis::Client,
    /// Made by the first request that needs it; reconnects by itself.
    connection: OnceLock<ConnectionManager>,
    script: redis::Script,
    failures: IntCounter,
    /// Until when requests skip Redis after a failure.
    resting_until: Mutex<Option<Instant>>,
    last_warning: Mutex<Option<Instant>>,
}

impl RedisLimits {
    /// Checks the URL; connects only when the first request needs it, so
    /// the server starts (and serves, unlimited) while Redis is down.
    pub fn new(url: &str, failures: IntCounter) -> Result<RedisLimits, String> {
        let client = redis::Client::open(url).map_err(|error| error.to_string())?;
        Ok(RedisLimits {
            client,
            connection: OnceLock::new(),
            script: redis::Script::new(GCRA),
            failures,
            resting_until: Mutex::new(None),
            last_warning: Mutex::new(None),
        })
    }

    /// Counts one request of `key` against `quota` requests a [`WINDOW`];
    /// `None` when Redis did not answer (the request goes on unlimited).
    pub async fn check(&self, policy: &'static str, key: &str, quota: u32) -> Option<Decision> {
        if lock(&self.resting_until).is_some_and(|until| Instant::now() < until) {
            self.failures.inc();
            return None;
        }
        let interval = WINDOW / quota.max(1);
        let answer: redis::RedisResult<(i64, i64, i64, i64)> = match self.connection() {
            Ok(mut connection) => {
                let mut invocation = self.script.prepare_invoke();
                invocation
                    .key(format!("favorites:ratelimit:{policy}:{key}"))
                    .arg(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX))
                    .arg(quota);
                let call = invocation.invoke_async(&mut connection);
                // Also bounds a reconnection's back-off, which the driver's
                // own timeouts do not.
                match actix_web::rt::time::timeout(REDIS_TIMEOUT, call).await {
                    Ok(answer) => answer,
                    Err(_) => Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "no answer in time",
                    ))),
                }
            }
            Err(error) => Err(error),
        };
        match answer {
            Ok((allowed, remaining, reset_ms, wait_ms)) => {
                let millis = |ms: i64| Duration::from_millis(u64::try_from(ms).unwrap_or(0));
                let retry_after =
                    (allowed == 0).then(|| millis(wait_ms).max(Duration::from_secs(1)));
                Some(Decision {
                    policy,
                    quota,
                    window: WINDOW,
                    remaining: u32::try_from(remaining).unwrap_or(0),
                    reset: millis(reset_ms).max(retry_after.unwrap_or_default()),
                    retry_after,
                })
            }
            Err(error) => {
                self.failed(&error);
                None
            }
        }
    }

    fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        Ok(self.connection.get_or_init(|| connection).clone())
    }

    fn failed(&self, error: &redis::RedisError) {
        self.failures.inc();
        let now = Instant::now();
        *lock(&self.resting_until) = Some(now + BACK_OFF);
        let mut last = lock(&self.last_warning);
        if last.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            *last = Some(now);
            tracing::warn!(%error, "Redis does not answer: requests go on without rate limits until it does");
        }
    }
}

fn lock<T: Copy>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
