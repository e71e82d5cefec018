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
use crate::state::{AppState, Reader, UserCache};

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
    /// The caller's user row, created on their first request; from the
    /// cache when this process has seen the subject lately.
    pub async fn user(&self, conn: &mut Conn<'_>) -> Result<UserRow, ApiError> {
        if let Some(user) = self.users.get(&self.identity.subject) {
            return Ok(user);
        }
        self.current_user(conn).await
    }

    /// The caller's user row as the database has it now (a new user when
    /// theirs was deleted), bypassing the cache and refreshing it.
    pub async fn current_user(&self, conn: &mut Conn<'_>) -> Result<UserRow, ApiError> {
        let epoch = self.users.epoch();
        let user = users::ensure(
            conn,
            &self.identity.subject,
            &self.identity.name,
            repo::now(),
        )
        .await?;
        self.users
            .insert(&self.identity.subject, user.clone(), epoch);
        Ok(user)
    }

    /// Forgets the caller's cached user (their account was just deleted).
    pub fn forget(&self) {
        self.users.forget(&self.identity.subject);
    }

    /// The token's subject.
    pub fn subject(&self) -> &str {
        &self.identity.subject
    }

    /// Runs a write as the caller on a write connection ([`AppState::write`]);
    /// `work` gets the caller's user row.
    ///
    /// When the write finds a row it refers to gone (a foreign key failed:
    /// [`ApiError::Conflict`]), the likeliest cause is that the caller's
    /// account was deleted after this process cached it, maybe through
    /// another instance. Then the subject is resolved again in the database
    /// (a new, empty user when the old one is gone) and `work` runs once
    /// more, so a stale cache never fails a write nor writes under a deleted
    /// id. A second failure is answered as the 409 it is.
    pub async fn write<T, F>(self, state: &AppState, work: F) -> Result<T, ApiError>
    where
        F: for<'c> AsyncFn(&mut Conn<'c>, &UserRow) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        state
            .write(async move |conn| {
                let caller = self;
                let user = caller.user(conn).await?;
                match work(conn, &user).await {
                    Err(ApiError::Conflict(why)) => {
                        tracing::debug!(%why, "a write referred to a deleted row; resolving the caller again");
                        let user = caller.current_user(conn).await?;
                        work(conn, &user).await
                    }
                    done => done,
                }
            })
            .await
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
    /// Who the read is for: anonymous reads may go to a replica.
    pub fn reader(&self) -> Reader {
        match self.0 {
            Some(_) => Reader::Authenticated,
            None => Reader::Anonymous,
        }
    }

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
