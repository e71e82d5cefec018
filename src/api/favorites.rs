//! `/favorites` (the caller's side of the relation), a user's favorites and
//! an interview's favorited-by list.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::interviews::Interview;
use super::pagination::{Listing, PageQuery, page_schema};
use super::params::{Id, InterviewPath, UserPath};
use super::time::{rfc3339, rfc3339_or_null};
use super::users::User;
use crate::auth::{Caller, MaybeCaller};
use crate::error::ApiError;
use crate::repo::favorites::{self as repo, FavoriteStateRow, FavoriteWrite};
use crate::repo::{interviews, now, users};
use crate::state::AppState;

/// One user's relation to one interview.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"interview_id": 7, "favorited": true, "favorited_at": "2026-11-23T05:00:00.123456Z", "favorites_count": 3}))]
pub struct FavoriteState {
    pub interview_id: i64,
    pub favorited: bool,
    /// When the caller favorited it; `null` when they have not.
    #[schema(required = true)]
    #[serde(serialize_with = "rfc3339_or_null")]
    pub favorited_at: Option<DateTime<Utc>>,
    pub favorites_count: i64,
}

impl From<FavoriteStateRow> for FavoriteState {
    fn from(row: FavoriteStateRow) -> FavoriteState {
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
    #[serde(serialize_with = "rfc3339")]
    pub favorited_at: DateTime<Utc>,
}

/// A user who favorited an interview.
#[derive(Debug, Serialize, ToSchema)]
pub struct FavoritedBy {
    pub user: User,
    #[serde(serialize_with = "rfc3339")]
    pub favorited_at: DateTime<Utc>,
}

page_schema!(
    FavoriteInterviewPage,
    PageOf_FavoriteInterview,
    FavoriteInterview,
    "A page of a user's favorites."
);
page_schema!(
    FavoritedByPage,
    PageOf_FavoritedBy,
    FavoritedBy,
    "A page of the users who favorited an interview."
);

/// The one shape of the three writes: run it for the caller, count it, and
/// answer the state (201 with `Location` when an add created the favorite).
async fn write_favorite(
    caller: Caller,
    path: web::Path<InterviewPath>,
    state: web::Data<AppState>,
    write: FavoriteWrite,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.interview_id;
    let written = caller
        .write(&state, async move |conn, user| {
            repo::write(conn, write, user.id, interview_id, now())
                .await?
                .ok_or_else(|| ApiError::not_found("interview", interview_id))
        })
        .await?;
    state.metrics.record_favorite(match write {
        FavoriteWrite::Add => "favorite",
        FavoriteWrite::Remove => "unfavorite",
        FavoriteWrite::Toggle => "toggle",
    });
    let mut response = if written.created {
        let mut created = HttpResponse::Created();
        created.insert_header((
            header::LOCATION,
            format!("/api/v1/favorites/{interview_id}"),
        ));
        created
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(FavoriteState::from(written.state)))
}

/// Favorite an interview. Idempotent: 201 when the favorite was created,
/// 200 when it already existed.
#[utoipa::path(
    tag = "favorites",
    params(InterviewPath),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Favorited now", body = FavoriteState,
            headers(("Location" = String, description = "URL of the caller's favorite state"))),
        (status = 200, description = "Was already favorited", body = FavoriteState),
        (status = 404, description = "No such interview"),
    )
)]
#[put("/favorites/{interview_id}")]
pub async fn put_favorite(
    caller: Caller,
    path: web::Path<InterviewPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    write_favorite(caller, path, state, FavoriteWrite::Add).await
}

/// Unfavorite an interview. Idempotent: 200 whether or not it was favorited.
#[utoipa::path(
    tag = "favorites",
    params(InterviewPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Not favorited (any more)", body = FavoriteState),
        (status = 404, description = "No such interview"),
    )
)]
#[delete("/favorites/{interview_id}")]
pub async fn delete_favorite(
    caller: Caller,
    path: web::Path<InterviewPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    write_favorite(caller, path, state, FavoriteWrite::Remove).await
}

/// Flip the caller's favorite on an interview, atomically.
#[utoipa::path(
    tag = "favorites",
    params(InterviewPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The state after the flip", body = FavoriteState),
        (status = 404, description = "No such interview"),
    )
)]
#[post("/favorites/{interview_id}/toggle")]
pub async fn toggle_favorite(
    caller: Caller,
    path: web::Path<InterviewPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    write_favorite(caller, path, state, FavoriteWrite::Toggle).await
}

/// The caller's favorite state on an interview.
#[utoipa::path(
    tag = "favorites",
    params(InterviewPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's state", body = FavoriteState),
        (status = 404, description = "No such interview"),
    )
)]
#[get("/favorites/{interview_id}")]
pub async fn get_favorite(
    caller: Caller,
    path: web::Path<InterviewPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.interview_id;
    let row = state
        .read(async move |conn| {
            let user = caller.user(conn).await?;
            repo::favorite_state(conn, user.id, interview_id)
                .await?
                .ok_or_else(|| ApiError::not_found("interview", interview_id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(FavoriteState::from(row)))
}

/// A page of `owner`'s favorites as the viewer sees them.
pub(super) fn favorites_page(
    page: crate::repo::Page<(repo::FavoriteOfUser, Option<bool>)>,
) -> crate::repo::Page<FavoriteInterview> {
    page.map(
        |((favorited_at, interview, author), favorited)| FavoriteInterview {
            interview: Interview::new((interview, author), favorited),
            favorited_at: favorited_at.and_utc(),
        },
    )
}

/// list_favorites(caller): the caller's favorites, newest favorite first.
#[utoipa::path(
    tag = "favorites",
    params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of the caller's favorites", body = FavoriteInterviewPage))
)]
#[get("/favorites")]
pub async fn list_my_favorites(caller: Caller, listing: Listing) -> Result<HttpResponse, ApiError> {
    listing
        .respond(async move |conn, page| {
            let user = caller.user(conn).await?;
            Ok(favorites_page(
                repo::list_favorites(conn, user.id, Some(user.id), page).await?,
            ))
        })
        .await
}

/// list_favorites(user): a user's favorites, newest favorite first.
#[utoipa::path(
    tag = "favorites",
    params(UserPath, PageQuery),
    responses(
        (status = 200, description = "A page of the user's favorites", body = FavoriteInterviewPage),
        (status = 404, description = "No such user"),
    )
)]
#[get("/users/{user_id}/favorites")]
pub async fn list_user_favorites(
    caller: MaybeCaller,
    path: web::Path<UserPath>,
    listing: Listing,
) -> Result<HttpResponse, ApiError> {
    let Id(user_id) = path.user_id;
    listing
        .respond(async move |conn, page| {
            let viewer = caller.user(conn).await?.map(|viewer| viewer.id);
            if !users::exists(conn, user_id).await? {
                return Err(ApiError::not_found("user", user_id));
            }
            Ok(favorites_page(
                repo::list_favorites(conn, user_id, viewer, page).await?,
            ))
        })
        .await
}

/// list_favorited_by(interview): who favorited an interview, newest first.
#[utoipa::path(
    tag = "favorites",
    params(InterviewPath, PageQuery),
    responses(
        (status = 200, description = "A page of users", body = FavoritedByPage),
        (status = 404, description = "No such interview"),
    )
)]
#[get("/interviews/{interview_id}/favorited-by")]
pub async fn list_favorited_by(
    caller: MaybeCaller,
    path: web::Path<InterviewPath>,
    listing: Listing,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.interview_id;
    listing
        .respond(async move |conn, page| {
            caller.user(conn).await?;
            let page = repo::list_favorited_by(conn, interview_id, page).await?;
            // A page with rows proves the interview exists; only an empty one
            // needs the second query to tell "nobody" from 404.
            if page.rows.is_empty() && interviews::author_of(conn, interview_id).await?.is_none() {
                return Err(ApiError::not_found("interview", interview_id));
            }
            Ok(page.map(|(favorited_at, user)| FavoritedBy {
                user: user.into(),
                favorited_at: favorited_at.and_utc(),
            }))
        })
        .await
}
