//! The one error type of the API, rendered as RFC 9457 `application/problem+json`
//! with a stable machine-readable `code`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use http_api_problem::HttpApiProblem;

use crate::policy::Refusal;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The shape of every error body (RFC 9457), for the OpenAPI document; the
/// body itself is built by `http_api_problem`.
#[derive(utoipa::ToSchema)]
#[schema(example = json!({"type": "about:blank", "title": "Not Found", "status": 404,
    "detail": "interview 7 does not exist", "code": "not_found"}))]
pub struct Problem {
    /// Always `about:blank`: the `code` member says what happened.
    #[schema(rename = "type")]
    pub type_url: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable error code.
    pub code: String,
    /// Only for `validation_failed`: field name -> messages.
    #[schema(value_type = BTreeMap<String, Vec<String>>, required = false)]
    pub errors: Option<BTreeMap<String, Vec<String>>>,
}

/// Field name -> messages, for `validation_failed`.
pub type FieldErrors = BTreeMap<&'static str, Vec<String>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("this operation needs a bearer token")]
    Unauthorized,
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("{0}")]
    InvalidCursor(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("{0}")]
    InvalidHeader(String),
    #[error("one or more fields are invalid")]
    Validation(FieldErrors),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error(
        "this Idempotency-Key was used with another request; a key stands for one request (method, path and body)"
    )]
    IdempotencyKeyReused,
    #[error(
        "a request with this Idempotency-Key is still being processed; retry after it has finished"
    )]
    IdempotencyKeyInProgress,
    /// A row the request refers to was deleted while it ran (a foreign key
    /// failed): most often the caller's own account.
    #[error("{0}")]
    Conflict(String),
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: String },
    #[error("too many requests; retry after {0} seconds")]
    RateLimited(u64),
    #[error("{0}")]
    Unavailable(String),
    /// Never caused by the client; logged with its cause, answered generically.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The stable machine-readable `code` member of the problem.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::InvalidPath(_) => "invalid_path",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::InvalidCursor(_) => "invalid_cursor",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::InvalidHeader(_) => "invalid_header",
            ApiError::PreconditionFailed(_) => "precondition_failed",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::IdempotencyKeyInProgress => "idempotency_key_in_progress",
            ApiError::Validation(_) => "validation_failed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Conflict(_) => "conflict",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn not_found(what: &str, id: i64) -> ApiError {
        ApiError::NotFound(format!("{what} {id} does not exist"))
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Internal(_) => "the server failed to handle this request".to_owned(),
            other => other.to_string(),
        }
    }

    /// The problem document this error renders as.
    pub fn problem(&self) -> HttpApiProblem {
        let status = self.status_code().as_u16();
        let mut problem = HttpApiProblem::try_with_title(status)
            .unwrap_or_else(|_| {
                HttpApiProblem::with_title(http_api_problem::StatusCode::INTERNAL_SERVER_ERROR)
            })
            .type_url("about:blank")
            .detail(self.detail())
            .value("code", &self.code());
        if let ApiError::Validation(errors) = self {
            problem.set_value("errors", errors);
        }
        problem
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidPath(_)
            | ApiError::InvalidQuery(_)
            | ApiError::InvalidCursor(_)
            | ApiError::InvalidBody(_)
            | ApiError::InvalidHeader(_)
            | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::IdempotencyKeyInProgress | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            ApiError::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::InvalidToken(_) => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            ApiError::RateLimited(seconds) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            ApiError::Unavailable(_) | ApiError::IdempotencyKeyInProgress => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        response.body(self.problem().json_bytes())
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        match refusal {
            Refusal::Missing { what, id } => ApiError::not_found(what, id),
            Refusal::Denied(why) => ApiError::Forbidden(why),
        }
    }
}

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> ApiError {
        match &error {
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                ApiError::Unavailable("the database connection was lost".to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                ApiError::Conflict(
                    "something this request refers to was deleted while it ran; retry it"
                        .to_owned(),
                )
            }
            DieselError::DatabaseError(_, info) if is_unavailable_message(info.message()) => {
                ApiError::Unavailable("the database is unavailable".to_owned())
            }
            _ => ApiError::Internal(error.to_string()),
        }
    }
}

/// Messages by which PostgreSQL and SQLite report an outage or lock timeout
/// rather than a fault in the statement.
fn is_unavailable_message(message: &str) -> bool {
    const MARKERS: [&str; 8] = [
        "server closed the connection",
        "connection closed",
        "error communicating with the server",
        "terminating connection",
        "could not connect",
        "connection refused",
        "no connection to the server",
        "database is locked",
    ];
    let message = message.to_ascii_lowercase();
    MARKERS.iter().any(|marker| message.contains(marker))
}

impl From<crate::db::PoolError> for ApiError {
    fn from(error: crate::db::PoolError) -> ApiError {
        tracing::warn!(%error, "no database connection");
        ApiError::Unavailable("the database is unavailable".to_owned())
    }
}

impl crate::db::WorkError for ApiError {
    fn connection_lost(&self) -> bool {
        matches!(self, ApiError::Unavailable(_))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> ApiError {
        ApiError::Internal(error.to_string())
    }
}
