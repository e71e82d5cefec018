//! Per-IP and per-user rate limits, off unless configured. A refused request
//! is a 429 `rate_limited` problem with `Retry-After`; every response a
//! limit applied to says so in the `RateLimit-Policy` and `RateLimit`
//! fields of draft-ietf-httpapi-ratelimit-headers-09, one list item per
//! limit.
//!
//! Counting and telling are apart: a limiter answers a [`Decision`]
//! (governor's in-process GCRA, [`local_limit`](super::local_limit), or the
//! same algorithm in Redis with `RATE_LIMIT_REDIS_URL`:
//! [`shared_limit`](super::shared_limit)), and
//! [`decision::render`](super::decision::render) alone turns a request's
//! decisions into the fields, whatever limiter made them.

use std::future::{Ready, ready};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::{Error, HttpMessage, HttpRequest, ResponseError};
use futures_util::future::LocalBoxFuture;
use ipnet::IpNet;

use super::decision::{Decision, render, whole_seconds};
use super::local_limit::Gcra;
use super::shared_limit::RedisLimits;
use crate::auth::Credentials;
use crate::error::ApiError;

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
