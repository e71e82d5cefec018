//! Bearer JWT authentication: key material, validation, and the `Caller` /
//! `MaybeCaller` extractors handlers use.

mod keys;

pub use keys::{Signer, load_or_create_secret};

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;

use crate::app::AppState;
use crate::db::Conn;
use crate::error::ApiError;
use crate::repo::{self, users, users::UserRow};

/// Clock skew tolerated for `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;
/// Longest accepted `sub` (and stored display name), in characters.
pub const MAX_SUBJECT_CHARS: usize = 255;

/// Who a valid token says the caller is. The user row is resolved (and
/// created on first sight) by the repository, inside the request's own
/// database work, so authentication costs no extra round trip.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: String,
    /// Display name for a user seen for the first time.
    pub name: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    name: Option<serde_json::Value>,
    #[serde(default)]
    preferred_username: Option<serde_json::Value>,
}

/// Verifies tokens against the configured keys. Which algorithms are accepted
/// follows from the keys alone; the token's header cannot choose.
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

impl Authenticator {
    /// HS256 with a shared secret; `iss` and `aud` enforced when given.
    pub fn hs256(secret: &[u8], issuer: Option<&str>, audience: Option<&str>) -> Authenticator {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => validation.iss = None,
        }
        match audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        Authenticator {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Checks signature, algorithm and claims; returns who the token names.
    pub fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        let data = decode::<Claims>(token, &self.key, &self.validation).map_err(|error| {
            ApiError::InvalidToken(format!("the bearer token is not valid: {error}"))
        })?;
        let subject = data.claims.sub;
        if !is_storable(&subject) {
            return Err(ApiError::InvalidToken(format!(
                "the token's sub must be 1 to {MAX_SUBJECT_CHARS} characters without NUL"
            )));
        }
        let name = [data.claims.name, data.claims.preferred_username]
            .into_iter()
            .flatten()
            .find_map(|claim| match claim {
                serde_json::Value::String(name) if is_storable(&name) => Some(name),
                _ => None,
            })
            .unwrap_or_else(|| subject.clone());
        Ok(Identity { subject, name })
    }
}

fn is_storable(text: &str) -> bool {
    !text.is_empty() && !text.contains('\0') && text.chars().count() <= MAX_SUBJECT_CHARS
}

/// The bearer token of a request: `None` without an `Authorization` header,
/// an error when the header is there but is not a bearer token.
fn bearer_token(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed =
        || ApiError::InvalidToken("the Authorization header must be `Bearer <token>`".to_owned());
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(Some(token))
}

/// The subject of the request's bearer token when it is valid, else `None`
/// (for keying rate limits; authentication proper happens in the extractors).
pub fn bearer_subject(req: &HttpRequest, auth: &Authenticator) -> Option<String> {
    let token = bearer_token(req).ok().flatten()?;
    auth.verify(token).ok().map(|identity| identity.subject)
}

fn authenticate(req: &HttpRequest) -> Result<Option<Identity>, ApiError> {
    let Some(token) = bearer_token(req)? else {
        return Ok(None);
    };
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("application state is not configured".to_owned()))?;
    let identity = state.auth.verify(token)?;
    req.extensions_mut().insert(crate::http::Subject(identity.subject.clone()));
    Ok(Some(identity))
}

/// An authenticated caller; extraction fails with 401 without a valid token.
/// Put it first among a handler's arguments: authentication is checked
/// before the path and the body.
pub struct Caller(pub Identity);

impl Caller {
    /// The caller's user row, created on their first request.
    pub fn user(&self, conn: &mut Conn) -> Result<UserRow, ApiError> {
        Ok(users::ensure(
            conn,
            &self.0.subject,
            &self.0.name,
            repo::now(),
        )?)
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            authenticate(req)
                .and_then(|identity| identity.map(Caller).ok_or(ApiError::Unauthorized)),
        )
    }
}

/// A caller who may be anonymous; a token that is present must be valid.
pub struct MaybeCaller(pub Option<Identity>);

impl MaybeCaller {
    /// The caller's user row (created on their first request), or `None`.
    pub fn user(&self, conn: &mut Conn) -> Result<Option<UserRow>, ApiError> {
        self.0
            .clone()
            .map(Caller)
            .map(|caller| caller.user(conn))
            .transpose()
    }
}

impl FromRequest for MaybeCaller {
    type Error = ApiError;
    type Future = Ready<Result<MaybeCaller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).map(MaybeCaller))
    }
}
