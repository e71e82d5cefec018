//! `GET /me` and `GET /users/{user_id}`, and the `User` representation.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::path::Id;
use crate::app::AppState;
use crate::auth::{Caller, MaybeCaller};
use crate::error::{ApiError, Problem};
use crate::repo::users::{self, UserRow};

/// A user, known to the service since their first authenticated request.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": 1, "name": "ada", "created_at": "2026-11-23T05:00:00Z"}))]
pub struct User {
    pub id: i64,
    /// Display name, from the token's `name` or `preferred_username` claim at
    /// creation, else its `sub`.
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> User {
        User {
            id: row.id,
            name: row.name,
            created_at: row.created_at.and_utc(),
        }
    }
}

/// The caller, created on their first request.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = User),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me")]
pub async fn get_me(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = state.run(move |conn| caller.user(conn)).await?;
    Ok(HttpResponse::Ok().json(User::from(user)))
}

/// One user.
#[utoipa::path(
    tag = "users",
    params(("user_id" = i64, Path, minimum = 1, description = "User id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{user_id}")]
pub async fn get_user(
    caller: MaybeCaller,
    path: web::Path<Id>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(user_id) = path.into_inner();
    let user = state
        .run(move |conn| {
            // A token, when sent, must be valid; its user exists from now on.
            caller.user(conn)?;
            users::find(conn, user_id)?.ok_or_else(|| ApiError::not_found("user", user_id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(User::from(user)))
}
