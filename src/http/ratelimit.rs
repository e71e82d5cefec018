//! Per-IP and per-user rate limits, off unless configured. A refused request
//! is a 429 `rate_limited` problem with `Retry-After`; every response a
//! limit applied to says so in the `RateLimit-Policy` and `RateLimit`
//! fields of draft-ietf-httpapi-ratelimit-headers-09, one list item per
//! limit.
//!
//! Counting and telling are apart: a limiter answers a [`Decision`]
//! (governor's in-process GCRA, or the same algorithm in Redis with
//! `RATE_LIMIT_REDIS_URL`: [`shared_limit`](super::shared_limit)), and
//! [`render`] alone turns a request's decisions into the fields, whatever
//! limiter made them.

use std::future::{Ready, ready};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpRequest, ResponseError};
use futures_util::future::LocalBoxFuture;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;

use super::shared_limit::RedisLimits;
use crate::auth::Credentials;
use crate::error::ApiError;

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The settings count requests a minute.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What one limit decided about one request: the draft's quota policy
/// (`q`, `w`) and service limit (`r`, `t`), and whether it refused.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The policy's name in both fields (`per-ip`, `per-user`).
    pub policy: &'static str,
    /// `q`: requests allowed in a window, all at once if need be.
    pub quota: u32,
    /// `w`: the window the quota is allocated for.
    pub window: Duration,
    /// `r`: requests left after this one; 0 when it was refused.
    pub remaining: u32,
    /// `t`: until the whole quota is available again.
    pub reset: Duration,
    /// `Some(wait)` when the request was refused: how long until one more
    /// request would be accepted (`Retry-After`).
    pub retry_after: Option<Duration>,
}

/// Writes `RateLimit-Policy` and `RateLimit` for `decisions`, in their
/// order, replacing any already there; nothing when no limit applied.
/// Durations are whole seconds, rounded up.
pub fn render(decisions: &[Decision], headers: &mut HeaderMap) {
    if decisions.is_empty() {
        return;
    }
    let list = |item: fn(&Decision) -> String| {
        let items: Vec<String> = decisions.iter().map(item).collect();
        HeaderValue::try_from(items.join(", "))
    };
    let policies = list(|d| {
        format!(
            "\"{}\";q={};w={}",
            d.policy,
            d.quota,
            whole_seconds(d.window)
        )
    });
    let limits = list(|d| {
        format!(
            "\"{}\";r={};t={}",
            d.policy,
            d.remaining,
            whole_seconds(d.reset)
        )
    });
    // Policy names are constants and numbers are digits: always valid.
    if let (Ok(policies), Ok(limits)) = (policies, limits) {
        headers.insert(RATELIMIT_POLICY, policies);
        headers.insert(RATELIMIT, limits);
    }
}

/// Seconds, rounded up: a client that waits this long has waited enough.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// What a limit counts requests by.
pub trait Partition: Clone + 'static {
    type Key: Clone + Hash + Eq + Send + Sync + std::fmt::Display + 'static;
    /// The policy's name in the fields.
    const POLICY: &'static str;
    /// The request's key; `None` leaves the request to the other limits.
    fn key(&self, req: &ServiceRequest) -> Option<Self::Key>;
}

/// Counts requests by the client's address: the peer's, or, when the peer
/// is one of the `TRUSTED_PROXIES` (a load balancer), the address that
/// proxy put last in `X-Forwarded-For` that is not itself a trusted proxy.
#[derive(Debug, Clone, Default)]
pub struct ByIp {
    trusted: Arc<Vec<IpNet>>,
}

impl ByIp {
    pub fn new(trusted_proxies: Vec<IpNet>) -> ByIp {
        ByIp {
            trusted: Arc::new(trusted_proxies),
        }
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&address))
    }

    /// The client's address: walk `X-Forwarded-For` from the right (the
    /// entries the trusted proxies added) to the first untrusted one. A
    /// client can put anything to the left, never to the right of what a
    /// proxy appends, so nothing it sends is believed.
    fn client(&self, req: &ServiceRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded: Vec<&str> = req
            .headers()
            .get_all(X_FORWARDED_FOR)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for entry in forwarded.iter().rev() {
            match entry.parse::<IpAddr>() {
                Ok(address) => {
                    client = address;
                    if !self.trusts(address) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        Some(client)
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

impl Partition for ByIp {
    type Key = IpAddr;
    const POLICY: &'static str = "per-ip";

    fn key(&self, req: &ServiceRequest) -> Option<IpAddr> {
        self.client(req)
    }
}

/// Counts requests by the subject of a valid bearer token, as the
/// `authenticate` middleware (which must wrap this one) verified it;
/// anonymous requests and invalid tokens are left to the per-IP limit and
/// to the extractors that answer them 401.
#[derive(Debug, Clone, Copy)]
pub struct ByUser;

impl Partition for ByUser {
    type Key = String;
    const POLICY: &'static str = "per-user";

    fn key(&self, req: &ServiceRequest) -> Option<String> {
        req.extensions()
            .get::<Credentials>()
            .and_then(|credentials| credentials.subject().map(str::to_owned))
    }
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// `quota` requests a [`WINDOW`] per key, with bursts of as many: governor's
/// GCRA, where one request's worth comes back every `WINDOW / quota`.
struct Gcra<K: Hash + Eq + Clone> {
    limiter: Keyed<K>,
    quota: u32,
    interval: Duration,
}

impl<K: Hash + Eq + Clone> Gcra<K> {
    fn new(quota: NonZeroU32) -> Gcra<K> {
        let quota = Quota::per_minute(quota);
        Gcra {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            quota: quota.burst_size().get(),
            interval: quota.replenish_interval(),
        }
    }

    /// Counts one request of `key` against `policy`.
    ///
    /// `r` is governor's remaining burst capacity after this request. `t`
    /// is the draft's "seconds until the quota … resets", which for GCRA
    /// means until the quota is fully restored (`q` requests available
    /// again), not until the next request's worth comes back: whoever
    /// spends at most `r` before `t` is not refused, and has `q` at `t`.
    /// An accepted request's state tells `r` but not how far into an
    /// interval the bucket is, so `t` is then the latest moment the missing
    /// `q - r` are back, `(q - r) · w/q`: never early, at most one interval
    /// late (exact when `q` is 60). A refusal tells the wait for the next
    /// request exactly (`Retry-After`), and the other `q - 1` follow one
    /// interval apart; so a 429's `t` is later than its `Retry-After`
    /// (unless `q` is 1), which the draft lets take precedence (section 7).
    fn check(&self, policy: &'static str, key: &K) -> Decision {
        let (remaining, reset, retry_after) = match self.limiter.check_key(key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                (remaining, self.interval * (self.quota - remaining), None)
            }
            Err(refusal) => {
                let wait = refusal.wait_time_from(self.limiter.clock().now());
                let retry_after = wait.max(Duration::from_secs(1));
                let reset = (wait + self.interval * (self.quota - 1)).max(retry_after);
                (0, reset, Some(retry_after))
            }
        };
        Decision {
            policy,
            quota: self.quota,
            window: WINDOW,
            remaining,
            reset,
            retry_after,
        }
    }
}

/// What load balancers and Prometheus poll: never limited, or a balancer
/// whose checks share one address would take healthy instances out.
const UNLIMITED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Where the limits count: in this process, or in Redis, shared by every
/// instance that uses the same one.
#[derive(Clone)]
pub enum LimitStore {
    Local,
    Redis(Arc<RedisLimits>),
}

/// How one limit counts.
enum Counter<K: Hash + Eq + Clone> {
    Local(Gcra<K>),
    Redis { store: Arc<RedisLimits>, quota: u32 },
}

/// One limit, and the middleware that applies it: `per_minute` requests a
/// minute per key of `P`, with bursts of as many; off (`None` or 0) it
/// counts nothing and adds no fields. Clones share the counts, so every
/// worker's app limits the same clients.
#[derive(Clone)]
pub struct Limit<P: Partition> {
    partition: P,
    counter: Option<Arc<Counter<P::Key>>>,
}

impl<P: Partition> Limit<P> {
    pub fn new(partition: P, per_minute: Option<u32>, store: &LimitStore) -> Limit<P> {
        let counter = per_minute.and_then(NonZeroU32::new).map(|quota| {
            Arc::new(match store {
                LimitStore::Local => Counter::Local(Gcra::new(quota)),
                LimitStore::Redis(store) => Counter::Redis {
                    store: store.clone(),
                    quota: quota.get(),
                },
            })
        });
        Limit { partition, counter }
    }

    /// The decision for `req`, counting it; `None` when the limit is off,
    /// does not apply to the request, or its store did not answer.
    async fn decide(&self, req: &ServiceRequest) -> Option<Decision> {
        let counter = self.counter.as_ref()?;
        if UNLIMITED.contains(&req.path()) {
            return None;
        }
        let key = self.partition.key(req)?;
        match &**counter {
            Counter::Local(gcra) => Some(gcra.check(P::POLICY, &key)),
            Counter::Redis { store, quota } => {
                store.check(P::POLICY, &key.to_string(), *quota).await
            }
        }
    }

    /// The middleware applying this limit, sharing its counts.
    pub fn middleware(&self) -> Limit<P> {
        self.clone()
    }
}

/// The decisions of the limits a request went through, outermost first.
struct Decisions(Vec<Decision>);

impl Decisions {
    fn record(req: &ServiceRequest, decision: Decision) {
        let mut extensions = req.extensions_mut();
        match extensions.get_mut::<Decisions>() {
            Some(decisions) => decisions.0.push(decision),
            None => {
                extensions.insert(Decisions(vec![decision]));
            }
        }
    }

    /// Writes the fields for every decision made so far: limits nest, so
    /// the outermost one writes them last, complete.
    fn write_fields(req: &HttpRequest, headers: &mut HeaderMap) {
        if let Some(decisions) = req.extensions().get::<Decisions>() {
            render(&decisions.0, headers);
        }
    }
}

impl<S, B, P> Transform<S, ServiceRequest> for Limit<P>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
    P: Partition,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = Limited<S, P>;
    type InitError = ();
    type Future = Ready<Result<Limited<S, P>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(Limited {
            service: Rc::new(service),
            limit: self.clone(),
        }))
    }
}

/// A service behind a [`Limit`].
pub struct Limited<S, P: Partition> {
    service: Rc<S>,
    limit: Limit<P>,
}

impl<S, B, P> Service<ServiceRequest> for Limited<S, P>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
    P: Partition,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let (service, limit) = (self.service.clone(), self.limit.clone());
        Box::pin(async move {
            if let Some(decision) = limit.decide(&req).await {
                let refused = decision.retry_after;
                Decisions::record(&req, decision);
                if let Some(wait) = refused {
                    let mut response = ApiError::RateLimited(whole_seconds(wait)).error_response();
                    Decisions::write_fields(req.request(), response.headers_mut());
                    return Ok(req.into_response(response).map_into_right_body());
                }
            }
            let mut response = service.call(req).await?;
            let request = response.request().clone();
            Decisions::write_fields(&request, response.headers_mut());
            Ok(response.map_into_left_body())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(policy: &'static str, remaining: u32, reset: Duration) -> Decision {
        Decision {
            policy,
            quota: 100,
            window: WINDOW,
            remaining,
            reset,
            retry_after: None,
        }
    }

    #[test]
    fn render_gives_one_item_per_decision_in_seconds_rounded_up() {
        let mut headers = HeaderMap::new();
        let decisions = [
            decision("per-ip", 99, Duration::from_millis(600)),
            decision("per-user", 0, Duration::from_millis(60_001)),
        ];
        render(&decisions, &mut headers);
        assert_eq!(
            headers.get(RATELIMIT_POLICY).unwrap(),
            r#""per-ip";q=100;w=60, "per-user";q=100;w=60"#
        );
        assert_eq!(
            headers.get(RATELIMIT).unwrap(),
            r#""per-ip";r=99;t=1, "per-user";r=0;t=61"#
        );
    }

    #[test]
    fn render_without_decisions_writes_nothing() {
        let mut headers = HeaderMap::new();
        render(&[], &mut headers);
        assert!(headers.is_empty());
    }
}
