//! `/favorites` (the caller's side of the relation), a user's favorites and
//! an interview's favorited-by list.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::interviews::{Interview, favorited_flags};
use super::pagination::{self, PageQuery};
use super::path::Id;
use super::users::User;
use crate::app::AppState;
use crate::auth::{Caller, MaybeCaller};
use crate::db::Conn;
use crate::error::{ApiError, Problem};
use crate::metrics::FavoriteOperation;
use crate::repo::favorites::{self as repo, FavoriteState as StateRow};
use crate::repo::users::{self, UserRow};
use crate::repo::{self as repository, Page, PageRequest};

/// One user's relation to one interview.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"interview_id": 7, "favorited": true, "favorited_at": "2026-11-23T05:00:00.123456Z", "favorites_count": 3}))]
pub struct FavoriteState {
    pub interview_id: i64,
    pub favorited: bool,
    /// When the caller favorited it; `null` when they have not.
    #[schema(required = true)]
    pub favorited_at: Option<DateTime<Utc>>,
    pub favorites_count: i64,
}

impl From<StateRow> for FavoriteState {
    fn from(row: StateRow) -> FavoriteState {
        FavoriteState {
            interview_id: row.interview_id,
            favorited: row.favorited_at.is_some(),
            favorited_at: row.favorited_at.map(|at| at.and_utc()),
            favorites_count: row.favorites_count,
        }
    }
}

/// An interview in someone's favorites.
#[derive(Debug, Serialize, ToSchema)]
pub struct FavoriteInterview {
    pub interview: Interview,
    pub favorited_at: DateTime<Utc>,
}

/// A user who favorited an interview.
#[derive(Debug, Serialize, ToSchema)]
pub struct FavoritedBy {
    pub user: User,
    pub favorited_at: DateTime<Utc>,
}

fn missing_interview(interview_id: i64) -> ApiError {
    ApiError::not_found("interview", interview_id)
}

/// Favorite an interview. Idempotent: 201 when the favorite was created,
/// 200 when it already existed.
#[utoipa::path(
    tag = "favorites",
    security(("bearer" = [])),
    params(("interview_id" = i64, Path, minimum = 1, description = "Interview id")),
    responses(
        (status = 201, description = "Favorited now", body = FavoriteState,
            headers(("Location" = String, description = "URL of the caller's favorite state"))),
        (status = 200, description = "Was already favorited", body = FavoriteState),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interview", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/favorites/{interview_id}")]
pub async fn put_favorite(
    caller: Caller,
    path: web::Path<Id>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.into_inner();
    let added = state
        .run(move |conn| {
            let user = caller.user(conn)?;
            repo::add_favorite(conn, user.id, interview_id, repository::now())?
                .ok_or_else(|| missing_interview(interview_id))
        })
        .await?;
    state.metrics.record(FavoriteOperation::Favorite);
    let mut response = if added.created {
        let mut created = HttpResponse::Created();
        created.insert_header((
            header::LOCATION,
            format!("/api/v1/favorites/{interview_id}"),
        ));
        created
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(FavoriteState::from(added.state)))
}

/// Unfavorite an interview. Idempotent: 200 whether or not it was favorited.
#[utoipa::path(
    tag = "favorites",
    security(("bearer" = [])),
    params(("interview_id" = i64, Path, minimum = 1, description = "Interview id")),
    responses(
        (status = 200, description = "Not favorited (any more)", body = FavoriteState),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interview", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/favorites/{interview_id}")]
pub async fn delete_favorite(
    caller: Caller,
    path: web::Path<Id>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.into_inner();
    let state_row = state
        .run(move |conn| {
            let user = caller.user(conn)?;
            repo::remove_favorite(conn, user.id, interview_id)?
                .ok_or_else(|| missing_interview(interview_id))
        })
        .await?;
    state.metrics.record(FavoriteOperation::Unfavorite);
    Ok(HttpResponse::Ok().json(FavoriteState::from(state_row)))
}

/// The caller's favorite state on an interview.
#[utoipa::path(
    tag = "favorites",
    security(("bearer" = [])),
    params(("interview_id" = i64, Path, minimum = 1, description = "Interview id")),
    responses(
        (status = 200, description = "The caller's state", body = FavoriteState),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interview", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/favorites/{interview_id}")]
pub async fn get_favorite(
    caller: Caller,
    path: web::Path<Id>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.into_inner();
    let state_row = state
        .run(move |conn| {
            let user = caller.user(conn)?;
            repo::favorite_state(conn, user.id, interview_id)?
                .ok_or_else(|| missing_interview(interview_id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(FavoriteState::from(state_row)))
}

/// Flip the caller's favorite on an interview, atomically.
#[utoipa::path(
    tag = "favorites",
    security(("bearer" = [])),
    params(("interview_id" = i64, Path, minimum = 1, description = "Interview id")),
    responses(
        (status = 200, description = "The state after the flip", body = FavoriteState),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interview", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/favorites/{interview_id}/toggle")]
pub async fn toggle_favorite(
    caller: Caller,
    path: web::Path<Id>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.into_inner();
    let state_row = state
        .run(move |conn| {
            let user = caller.user(conn)?;
            repo::toggle_favorite(conn, user.id, interview_id, repository::now())?
                .ok_or_else(|| missing_interview(interview_id))
        })
        .await?;
    state.metrics.record(FavoriteOperation::Toggle);
    Ok(HttpResponse::Ok().json(FavoriteState::from(state_row)))
}

/// One page of `owner`'s favorites as `viewer` sees them.
fn favorites_page(
    conn: &mut Conn,
    owner: i64,
    viewer: Option<&UserRow>,
    page: &PageRequest,
) -> Result<Page<FavoriteInterview>, ApiError> {
    let page = repo::list_favorites(conn, owner, page)?;
    let flags = match viewer {
        Some(viewer) if viewer.id == owner => None,
        _ => {
            let ids: Vec<i64> = page
                .rows
                .iter()
                .map(|(_, interview, _)| interview.id)
                .collect();
            favorited_flags(conn, viewer, &ids)?
        }
    };
    let own_list = viewer.is_some_and(|viewer| viewer.id == owner);
    Ok(
        page.map(|(favorited_at, interview, author): (NaiveDateTime, _, _)| {
            let favorited = if own_list {
                Some(true)
            } else {
                flags.as_ref().map(|flags| flags.contains(&interview.id))
            };
            FavoriteInterview {
                interview: Interview::new((interview, author), favorited),
                favorited_at: favorited_at.and_utc(),
            }
        }),
    )
}

/// list_favorites(caller): the caller's favorites, newest favorite first.
#[utoipa::path(
    tag = "favorites",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the caller's favorites", body = pagination::FavoriteInterviewPage,
            headers(("Link" = String, description = "`<url>; rel=\"next\"` when a next page exists"))),
        (status = 400, description = "Invalid query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/favorites")]
pub async fn list_my_favorites(
    caller: Caller,
    page: web::Query<PageQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    pagination::list(&state, &req, &page, move |conn, page| {
        let user = caller.user(conn)?;
        favorites_page(conn, user.id, Some(&user), page)
    })
    .await
}

/// list_favorites(user): a user's favorites, newest favorite first.
#[utoipa::path(
    tag = "favorites",
    params(("user_id" = i64, Path, minimum = 1, description = "User id"), PageQuery),
    responses(
        (status = 200, description = "A page of the user's favorites", body = pagination::FavoriteInterviewPage,
            headers(("Link" = String, description = "`<url>; rel=\"next\"` when a next page exists"))),
        (status = 400, description = "Malformed id, invalid query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{user_id}/favorites")]
pub async fn list_user_favorites(
    caller: MaybeCaller,
    path: web::Path<Id>,
    page: web::Query<PageQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(user_id) = path.into_inner();
    pagination::list(&state, &req, &page, move |conn, page| {
        let viewer = caller.user(conn)?;
        if !users::exists(conn, user_id)? {
            return Err(ApiError::not_found("user", user_id));
        }
        favorites_page(conn, user_id, viewer.as_ref(), page)
    })
    .await
}

/// list_favorited_by(interview): who favorited an interview, newest first.
#[utoipa::path(
    tag = "favorites",
    params(("interview_id" = i64, Path, minimum = 1, description = "Interview id"), PageQuery),
    responses(
        (status = 200, description = "A page of users", body = pagination::FavoritedByPage,
            headers(("Link" = String, description = "`<url>; rel=\"next\"` when a next page exists"))),
        (status = 400, description = "Malformed id, invalid query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interview", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/interviews/{interview_id}/favorited-by")]
pub async fn list_favorited_by(
    caller: MaybeCaller,
    path: web::Path<Id>,
    page: web::Query<PageQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.into_inner();
    pagination::list(&state, &req, &page, move |conn, page| {
        caller.user(conn)?;
        let page = repo::list_favorited_by(conn, interview_id, page)?;
        // A page with rows proves the interview exists; only an empty one
        // needs the second query to tell "nobody" from 404.
        if page.rows.is_empty() && crate::repo::interviews::author_of(conn, interview_id)?.is_none()
        {
            return Err(missing_interview(interview_id));
        }
        Ok(page.map(|(favorited_at, user)| FavoritedBy {
            user: user.into(),
            favorited_at: favorited_at.and_utc(),
        }))
    })
    .await
}
