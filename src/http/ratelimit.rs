//! Per-IP and per-user rate limits (`actix-governor`), answering 429
//! `rate_limited` problems with `Retry-After`. Off unless configured.

use std::net::IpAddr;

use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{
    Governor, GovernorConfig, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError,
};
use actix_web::dev::ServiceRequest;
use actix_web::middleware::Condition;
use actix_web::{HttpMessage, HttpResponse, HttpResponseBuilder, ResponseError};

use crate::auth::Credentials;
use crate::error::ApiError;

/// Answers an exceeded limit as a problem with `Retry-After` (whole
/// seconds, at least 1).
fn too_many(negative: &NotUntil<QuantaInstant>) -> HttpResponse {
    let wait = negative.wait_time_from(DefaultClock::default().now());
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::RateLimited(seconds.max(1)).error_response()
}

/// Keys requests by the client's address.
#[derive(Debug, Clone, Copy)]
pub struct ByIp;

impl KeyExtractor for ByIp {
    type Key = IpAddr;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<IpAddr, Self::KeyExtractionError> {
        req.peer_addr()
            .map(|address| address.ip())
            .ok_or_else(|| SimpleKeyExtractionError::new("the client address is unknown"))
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _: HttpResponseBuilder,
    ) -> HttpResponse {
        too_many(negative)
    }
}

/// Keys requests by the subject of a valid bearer token, as the
/// `authenticate` middleware (which must wrap this one) verified it;
/// anonymous requests and invalid tokens (`None`) are left to the per-IP
/// limit and to the extractors that answer them 401.
#[derive(Debug, Clone, Copy)]
pub struct ByUser;

impl KeyExtractor for ByUser {
    type Key = Option<String>;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<Option<String>, Self::KeyExtractionError> {
        let subject = req
            .extensions()
            .get::<Credentials>()
            .and_then(|credentials| credentials.subject().map(str::to_owned));
        Ok(subject)
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _: HttpResponseBuilder,
    ) -> HttpResponse {
        too_many(negative)
    }

    fn whitelisted_keys(&self) -> Vec<Option<String>> {
        vec![None]
    }
}

pub type Config<K> = GovernorConfig<K, NoOpMiddleware<QuantaInstant>>;

/// One limit: `per_minute` requests a minute with bursts of as many. When
/// off, the middleware is skipped altogether (no key extraction).
pub struct Limit<K: KeyExtractor> {
    pub enabled: bool,
    pub config: Config<K>,
}

impl<K: KeyExtractor> Limit<K> {
    pub fn new(key: K, per_minute: Option<u32>) -> Limit<K> {
        let per_minute = per_minute.filter(|limit| *limit > 0);
        let burst = per_minute.unwrap_or(1);
        let period_ms = (60_000 / u64::from(burst)).max(1);
        let config = GovernorConfigBuilder::default()
            .key_extractor(key.clone())
            .milliseconds_per_request(period_ms)
            .burst_size(burst)
            .permissive(per_minute.is_none())
            .finish()
            .unwrap_or_else(|| {
                GovernorConfigBuilder::default()
                    .key_extractor(key)
                    .permissive(true)
                    .finish()
                    .expect("the default quota is valid")
            });
        Limit {
            enabled: per_minute.is_some(),
            config,
        }
    }

    /// The middleware, or a pass-through when the limit is off.
    pub fn middleware(&self) -> Condition<Governor<K, NoOpMiddleware<QuantaInstant>>> {
        Condition::new(self.enabled, Governor::new(&self.config))
    }
}
