//! `GET /me` and `GET /users/{user_id}`, and the `User` representation.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::params::{Id, UserPath};
use super::time::rfc3339;
use crate::auth::{Caller, MaybeCaller};
use crate::error::ApiError;
use crate::repo::users::{self, UserRow};
use crate::state::AppState;

/// A user, known to the service since their first authenticated request.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": 1, "name": "ada", "created_at": "2026-11-23T05:00:00Z"}))]
pub struct User {
    pub id: i64,
    /// Display name, from the token's `name` or `preferred_username` claim at
    /// creation, else its `sub`.
    pub name: String,
    #[serde(serialize_with = "rfc3339")]
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

/// The caller, created on their first request (and again after `DELETE /me`).
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = User))
)]
#[get("/me")]
pub async fn get_me(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // From the database, not the cache: the account may have just been
    // deleted through another instance.
    let user = state
        .read(async move |conn| caller.current_user(conn).await)
        .await?;
    Ok(HttpResponse::Ok().json(User::from(user)))
}

/// One user.
#[utoipa::path(
    tag = "users",
    params(UserPath),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = "No such user"),
    )
)]
#[get("/users/{user_id}")]
pub async fn get_user(
    caller: MaybeCaller,
    path: web::Path<UserPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(user_id) = path.user_id;
    let reader = caller.reader();
    let user = state
        .read_for(reader, async move |conn| {
            // A token, when sent, must be valid; its user exists from now on.
            caller.user(conn).await?;
            users::find(conn, user_id)
                .await?
                .ok_or_else(|| ApiError::not_found("user", user_id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(User::from(user)))
}
