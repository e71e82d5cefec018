//! The request's bearer token, verified once by the [`authenticate`]
//! middleware and left in the request's extensions as [`Credentials`]; the
//! extractors, the per-user rate limit and the request log all read that.

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, web};

use super::authenticator::{Authenticator, Identity};
use crate::db::Conn;
use crate::error::ApiError;
use crate::repo::{self, users, users::UserRow};
use crate::state::{AppState, UserCache};

/// What the request's `Authorization` header proved.
#[derive(Debug, Clone)]
pub enum Credentials {
    Anonymous,
    Valid(Identity),
    /// A header that is not a valid bearer token: 401 wherever a caller is
    /// extracted, ignored elsewhere.
    Invalid(ApiError),
}

impl Credentials {
    /// The verified token subject, if any.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Credentials::Valid(identity) => Some(&identity.subject),
            _ => None,
        }
    }

    fn of(req: &HttpRequest, auth: &Authenticator) -> Credentials {
        match bearer_token(req) {
            Ok(None) => Credentials::Anonymous,
            Ok(Some(token)) => match auth.verify(token) {
                Ok(identity) => Credentials::Valid(identity),
                Err(error) => Credentials::Invalid(error),
            },
            Err(error) => Credentials::Invalid(error),
        }
    }
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

/// Middleware: verifies the request's bearer token with the app's
/// `web::Data<Authenticator>` and leaves the [`Credentials`] in the
/// request's extensions. It refuses nothing itself.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let credentials = match req.app_data::<web::Data<Authenticator>>() {
        Some(auth) => Credentials::of(req.request(), auth),
        None => Credentials::Invalid(ApiError::Internal(
            "no Authenticator is configured".to_owned(),
        )),
    };
    req.extensions_mut().insert(credentials);
    next.call(req).await
}

fn credentials(req: &HttpRequest) -> Result<Option<Caller>, ApiError> {
    let credentials = req.extensions().get::<Credentials>().cloned();
    let identity = match credentials {
        Some(Credentials::Anonymous) => return Ok(None),
        Some(Credentials::Valid(identity)) => identity,
        Some(Credentials::Invalid(error)) => return Err(error),
        None => {
            return Err(ApiError::Internal(
                "the authenticate middleware is not configured".to_owned(),
            ));
        }
    };
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("application state is not configured".to_owned()))?;
    Ok(Some(Caller {
        identity,
        users: state.users.clone(),
    }))
}

/// An authenticated caller; extraction fails with 401 without a valid token.
/// Put it first among a handler's arguments: authentication is checked
/// before the path and the body.
pub struct Caller {
    identity: Identity,
    users: UserCache,
}

impl Caller {
    /// The caller's user row, created on their first request.
    pub async fn user(&self, conn: &mut Conn<'_>) -> Result<UserRow, ApiError> {
        if let Some(user) = self.users.get(&self.identity.subject) {
            return Ok(user);
        }
        let user = users::ensure(
            conn,
            &self.identity.subject,
            &self.identity.name,
            repo::now(),
        )
        .await?;
        self.users
            .insert(self.identity.subject.clone(), user.clone());
        Ok(user)
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(credentials(req).and_then(|caller| caller.ok_or(ApiError::Unauthorized)))
    }
}

/// A caller who may be anonymous; a token that is present must be valid.
pub struct MaybeCaller(pub Option<Caller>);

impl MaybeCaller {
    /// The caller's user row (created on their first request), or `None`.
    pub async fn user(&self, conn: &mut Conn<'_>) -> Result<Option<UserRow>, ApiError> {
        match &self.0 {
            Some(caller) => caller.user(conn).await.map(Some),
            None => Ok(None),
        }
    }
}

impl FromRequest for MaybeCaller {
    type Error = ApiError;
    type Future = Ready<Result<MaybeCaller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(credentials(req).map(MaybeCaller))
    }
}
