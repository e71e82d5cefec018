//! `Idempotency-Key` on the creating `POST`s (draft-ietf-httpapi-idempotency-key-header,
//! with Stripe's semantics): a retried request with the same key and body
//! gets the first one's response again instead of creating twice.
//!
//! The key is claimed in a transaction of its own (so a concurrent repeat
//! sees it and is told 409); the creation and the stored response then
//! commit together, so a crash leaves either both or an unfinished claim,
//! which a repeat takes over after [`repo::ABANDONED_AFTER`]. A failed request
//! gives its key back.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::http::header::HeaderValue;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::auth::Caller;
use crate::db::{Conn, write_transaction};
use crate::error::ApiError;
use crate::repo::idempotency::{self as repo, Claim, StoredResponse};
use crate::repo::now;
use crate::state::AppState;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The response header of a replay.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// A request's `Idempotency-Key`: 1 to 255 printable ASCII characters, or
/// none. Malformed is 400 `invalid_header`.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<IdempotencyKey, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse(req))
    }
}

fn parse(req: &HttpRequest) -> Result<IdempotencyKey, ApiError> {
    let mut values = req.headers().get_all(IDEMPOTENCY_KEY);
    let Some(value) = values.next() else {
        return Ok(IdempotencyKey(None));
    };
    let invalid = |why: &str| ApiError::InvalidHeader(format!("Idempotency-Key {why}"));
    if values.next().is_some() {
        return Err(invalid("must be given once"));
    }
    let printable = |b: &u8| (0x20..=0x7e).contains(b);
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_KEY_LEN || !bytes.iter().all(printable) {
        return Err(invalid(&format!(
            "must be 1 to {MAX_KEY_LEN} printable ASCII characters"
        )));
    }
    let key = String::from_utf8_lossy(bytes).into_owned();
    Ok(IdempotencyKey(Some(key)))
}

/// What a creating request made: where it is, and its representation.
pub struct Created {
    pub location: String,
    pub body: Vec<u8>,
}

impl Created {
    pub fn new<T: Serialize>(location: String, value: &T) -> Result<Created, ApiError> {
        let body =
            serde_json::to_vec(value).map_err(|error| ApiError::Internal(error.to_string()))?;
        Ok(Created { location, body })
    }

    fn response(self) -> HttpResponse {
        HttpResponse::Created()
            .insert_header((header::LOCATION, self.location))
            .content_type("application/json")
            .body(self.body)
    }
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(u16::try_from(stored.status).unwrap_or(0))
        .unwrap_or(actix_web::http::StatusCode::CREATED);
    let mut response = HttpResponse::build(status);
    response
        .content_type("application/json")
        .insert_header((IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")));
    if let Some(location) = stored.location {
        response.insert_header((header::LOCATION, location));
    }
    response.body(stored.body)
}

/// Runs the creating `work` for `caller` (given the caller's user id) at
/// most once per `key`; without a key, just runs it. `work` may run twice
/// when the caller's cached user turns out deleted ([`Caller::write`]). `fingerprint` stands
/// for the request (its path and body): another request under the same key
/// is 422 `idempotency_key_reused`, a repeat while the first runs is 409
/// `idempotency_key_in_progress`.
pub async fn create_once<F>(
    state: &AppState,
    caller: Caller,
    key: IdempotencyKey,
    fingerprint: String,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: for<'c> AsyncFn(&mut Conn<'c>, i64) -> Result<Created, ApiError> + Send + 'static,
{
    let Some(key) = key.0 else {
        let created = caller
            .write(state, async move |conn, user| work(conn, user.id).await)
            .await?;
        return Ok(created.response());
    };
    let claim_key = key.clone();
    let (user_id, claim) = caller
        .write(state, async move |conn, user| {
            let claim = repo::claim(conn, user.id, &claim_key, &fingerprint, now()).await?;
            Ok((user.id, claim))
        })
        .await?;
    let token = match claim {
        Claim::Claimed(token) => token,
        Claim::Replay(stored) => return Ok(replay(stored)),
        Claim::Reused => return Err(ApiError::IdempotencyKeyReused),
        Claim::InProgress => return Err(ApiError::IdempotencyKeyInProgress),
    };
    let (work_key, work_token) = (key.clone(), token.clone());
    let result = state
        .write(async move |conn| {
            write_transaction(conn, async |conn| {
                let created = work(conn, user_id).await?;
                let stored = StoredResponse {
                    status: 201,
                    location: Some(created.location.clone()),
                    body: String::from_utf8_lossy(&created.body).into_owned(),
                };
                if repo::complete(conn, user_id, &work_key, &work_token, &stored).await? {
                    Ok(created)
                } else {
                    // Taken over after repo::ABANDONED_AFTER: the other request
                    // creates; this one must not.
                    Err(ApiError::IdempotencyKeyInProgress)
                }
            })
            .await
        })
        .await;
    match result {
        Ok(created) => Ok(created.response()),
        Err(error) => {
            if !matches!(error, ApiError::IdempotencyKeyInProgress) {
                // Nothing was created: give the key back for a retry. Should
                // this fail too, the claim is taken over after repo::ABANDONED_AFTER.
                let released = state
                    .write(async move |conn| Ok(repo::release(conn, user_id, &key, &token).await?))
                    .await;
                if let Err(release_error) = released {
                    tracing::warn!(%release_error, "an Idempotency-Key could not be released");
                }
            }
            Err(error)
        }
    }
}
