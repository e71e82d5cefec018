//! Every request's context: an `X-Request-Id` on every response, the
//! requests-in-flight gauge, and one log line per request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};

use crate::auth::Credentials;
use crate::state::AppState;

pub const REQUEST_ID: &str = "x-request-id";
const MAX_REQUEST_ID_CHARS: usize = 128;

/// A client's request id is kept when it is 1..=128 characters of
/// `[A-Za-z0-9._:-]`; anything else is replaced by a fresh UUID.
fn client_request_id(req: &ServiceRequest) -> Option<HeaderValue> {
    let value = req.headers().get(REQUEST_ID)?;
    let bytes = value.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_CHARS
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    valid.then(|| value.clone())
}

/// Counts a request as in flight until dropped, whatever way it ends.
struct InFlight(Option<prometheus::IntGauge>);

impl InFlight {
    fn start(gauge: Option<prometheus::IntGauge>) -> InFlight {
        if let Some(gauge) = &gauge {
            gauge.inc();
        }
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(gauge) = &self.0 {
            gauge.dec();
        }
    }
}

/// Gives every response an `X-Request-Id`, counts requests in flight, and
/// logs one line per request: method, route pattern, status, latency,
/// request id and the caller's subject.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let _in_flight = InFlight::start(
        req.app_data::<web::Data<AppState>>()
            .map(|state| state.metrics.in_flight.clone()),
    );
    let request_id = client_request_id(&req).unwrap_or_else(|| {
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .unwrap_or(HeaderValue::from_static("unknown"))
    });
    let method = req.method().clone();
    let mut response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let user = response
        .request()
        .extensions()
        .get::<Credentials>()
        .and_then(|credentials| credentials.subject().map(str::to_owned));
    let status = response.status().as_u16();
    tracing::info!(
        request_id = request_id.to_str().unwrap_or(""),
        %method,
        route,
        status,
        latency_ms = started.elapsed().as_secs_f64() * 1e3,
        user = user.as_deref().unwrap_or("-"),
        "request"
    );
    response
        .headers_mut()
        .insert(header::HeaderName::from_static(REQUEST_ID), request_id);
    Ok(response)
}
