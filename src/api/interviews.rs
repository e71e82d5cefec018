//! `/interviews`: create, list, read, edit and delete, and the `Interview`
//! representation every list of interviews shares.

use std::collections::HashSet;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::body::JsonBody;
use super::pagination::{self, PageQuery};
use super::path::Id;
use super::users::User;
use super::validation::{check_text, validated};
use crate::app::AppState;
use crate::auth::{Caller, MaybeCaller};
use crate::db::Conn;
use crate::error::{ApiError, FieldErrors, Problem};
use crate::repo::interviews::{self as repo, InterviewChanges, InterviewWithAuthor, NewInterview};
use crate::repo::{self as repository, users::UserRow};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_COMPANY_CHARS: usize = 100;
pub const MAX_POSITION_CHARS: usize = 100;
pub const MAX_BODY_CHARS: usize = 20_000;

/// An interview write-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct Interview {
    pub id: i64,
    pub title: String,
    pub company: String,
    pub position: String,
    pub body: String,
    pub author: User,
    /// How many users favorite it.
    pub favorites_count: i64,
    /// Whether the caller favorites it; `null` for anonymous callers.
    #[schema(required = true)]
    pub favorited: Option<bool>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Interview {
    pub fn new((row, author): InterviewWithAuthor, favorited: Option<bool>) -> Interview {
        Interview {
            id: row.id,
            title: row.title,
            company: row.company,
            position: row.position,
            body: row.body,
            author: author.into(),
            favorites_count: row.favorites_count,
            favorited,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// The caller's `favorited` flag for each of `ids`: `None` for anonymous
/// callers, else one query for the whole page.
pub fn favorited_flags(
    conn: &mut Conn,
    viewer: Option<&UserRow>,
    ids: &[i64],
) -> Result<Option<HashSet<i64>>, ApiError> {
    viewer
        .map(|viewer| repo::favorited_among(conn, viewer.id, ids))
        .transpose()
        .map_err(ApiError::from)
}

/// The body of `POST /interviews`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Backend engineer onsite", "company": "Acme", "position": "SRE", "body": "Four rounds..."}))]
pub struct CreateInterview {
    /// 1 to 200 characters, not blank (not only whitespace), no NUL.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\u0000\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000]*$"
    )]
    pub title: String,
    /// Up to 100 characters, no NUL; defaults to "".
    #[serde(default)]
    #[schema(max_length = 100, pattern = r"^[^\u0000]*$")]
    pub company: String,
    /// Up to 100 characters, no NUL; defaults to "".
    #[serde(default)]
    #[schema(max_length = 100, pattern = r"^[^\u0000]*$")]
    pub position: String,
    /// Up to 20,000 characters, no NUL; defaults to "".
    #[serde(default)]
    #[schema(max_length = 20000, pattern = r"^[^\u0000]*$")]
    pub body: String,
}

/// The body of `PATCH /interviews/{id}`: absent (or `null`) fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Backend engineer onsite (updated)"}))]
pub struct UpdateInterview {
    /// 1 to 200 characters, not blank (not only whitespace), no NUL.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\u0000\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000]*$"
    )]
    pub title: Option<String>,
    /// Up to 100 characters, no NUL.
    #[schema(max_length = 100, pattern = r"^[^\u0000]*$")]
    pub company: Option<String>,
    /// Up to 100 characters, no NUL.
    #[schema(max_length = 100, pattern = r"^[^\u0000]*$")]
    pub position: Option<String>,
    /// Up to 20,000 characters, no NUL.
    #[schema(max_length = 20000, pattern = r"^[^\u0000]*$")]
    pub body: Option<String>,
}

impl CreateInterview {
    fn validate(self) -> Result<NewInterview, ApiError> {
        let mut errors = FieldErrors::new();
        check_text(&mut errors, "title", &self.title, 1, MAX_TITLE_CHARS);
        check_text(&mut errors, "company", &self.company, 0, MAX_COMPANY_CHARS);
        check_text(
            &mut errors,
            "position",
            &self.position,
            0,
            MAX_POSITION_CHARS,
        );
        check_text(&mut errors, "body", &self.body, 0, MAX_BODY_CHARS);
        validated(errors)?;
        Ok(NewInterview {
            title: self.title,
            company: self.company,
            position: self.position,
            body: self.body,
        })
    }
}

impl UpdateInterview {
    fn validate(self) -> Result<InterviewChanges, ApiError> {
        let mut errors = FieldErrors::new();
        let fields = [
            ("title", &self.title, 1, MAX_TITLE_CHARS),
            ("company", &self.company, 0, MAX_COMPANY_CHARS),
            ("position", &self.position, 0, MAX_POSITION_CHARS),
            ("body", &self.body, 0, MAX_BODY_CHARS),
        ];
        for (field, value, min, max) in fields {
            if let Some(value) = value {
                check_text(&mut errors, field, value, min, max);
            }
        }
        validated(errors)?;
        Ok(InterviewChanges {
            title: self.title,
            company: self.company,
            position: self.position,
            body: self.body,
        })
    }
}

fn location(id: i64) -> (header::HeaderName, String) {
    (header::LOCATION, format!("/api/v1/interviews/{id}"))
}

/// Publish an interview; the caller is its author.
#[utoipa::path(
    tag = "interviews",
    security(("bearer" = [])),
    request_body = CreateInterview,
    responses(
        (status = 201, description = "Created", body = Interview,
            headers(("Location" = String, description = "URL of the new interview"))),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/interviews")]
pub async fn create_interview(
    caller: Caller,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input = body
        .parse::<CreateInterview>()
        .and_then(CreateInterview::validate);
    let created = state
        .run(move |conn| {
            let author = caller.user(conn)?;
            let input = input?;
            Ok(repo::create(conn, author.id, &input, repository::now())?)
        })
        .await?;
    let interview = Interview::new(created, Some(false));
    Ok(HttpResponse::Created()
        .insert_header(location(interview.id))
        .json(interview))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InterviewFilter {
    /// Only interviews by this author (an unknown author gives an empty page).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub author_id: Option<Id>,
}

/// Interviews, newest first.
#[utoipa::path(
    tag = "interviews",
    params(InterviewFilter, PageQuery),
    responses(
        (status = 200, description = "A page of interviews", body = pagination::InterviewPage,
            headers(("Link" = String, description = "`<url>; rel=\"next\"` when a next page exists"))),
        (status = 400, description = "Invalid query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/interviews")]
pub async fn list_interviews(
    caller: MaybeCaller,
    filter: web::Query<InterviewFilter>,
    page: web::Query<PageQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let author_id = filter.author_id.map(|Id(id)| id);
    pagination::list(&state, &req, &page, move |conn, page| {
        let viewer = caller.user(conn)?.map(|viewer| viewer.id);
        let page = repo::list(conn, author_id, viewer, page)?;
        Ok(page.map(|(row, favorited)| Interview::new(row, favorited)))
    })
    .await
}

/// One interview.
#[utoipa::path(
    tag = "interviews",
    params(("interview_id" = i64, Path, minimum = 1, description = "Interview id")),
    responses(
        (status = 200, description = "The interview", body = Interview),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interview", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/interviews/{interview_id}")]
pub async fn get_interview(
    caller: MaybeCaller,
    path: web::Path<Id>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.into_inner();
    let interview = state
        .run(move |conn| {
            let viewer = caller.user(conn)?.map(|viewer| viewer.id);
            let (row, favorited) = repo::find_for_viewer(conn, interview_id, viewer)?
                .ok_or_else(|| ApiError::not_found("interview", interview_id))?;
            Ok(Interview::new(row, favorited))
        })
        .await?;
    Ok(HttpResponse::Ok().json(interview))
}

/// Checks, in the SPEC's order, that the interview exists (404) and that the
/// caller wrote it (403).
fn authored_by(conn: &mut Conn, interview_id: i64, author: &UserRow) -> Result<(), ApiError> {
    match repo::author_of(conn, interview_id)? {
        None => Err(ApiError::not_found("interview", interview_id)),
        Some(author_id) if author_id != author.id => Err(ApiError::Forbidden(format!(
            "only the author may change interview {interview_id}"
        ))),
        Some(_) => Ok(()),
    }
}

/// Edit an interview; only its author may.
#[utoipa::path(
    tag = "interviews",
    security(("bearer" = [])),
    params(("interview_id" = i64, Path, minimum = 1, description = "Interview id")),
    request_body = UpdateInterview,
    responses(
        (status = 200, description = "The edited interview", body = Interview),
        (status = 400, description = "Malformed id or invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the author", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interview", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/interviews/{interview_id}")]
pub async fn update_interview(
    caller: Caller,
    path: web::Path<Id>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.into_inner();
    let input = body
        .parse::<UpdateInterview>()
        .and_then(UpdateInterview::validate);
    let interview = state
        .run(move |conn| {
            let author = caller.user(conn)?;
            crate::db::write_transaction(conn, |conn| {
                authored_by(conn, interview_id, &author)?;
                let changes = input?;
                if changes.title.is_some()
                    || changes.company.is_some()
                    || changes.position.is_some()
                    || changes.body.is_some()
                {
                    repo::update(conn, interview_id, &changes, repository::now())?;
                }
                let (row, favorited) = repo::find_for_viewer(conn, interview_id, Some(author.id))?
                    .ok_or_else(|| ApiError::not_found("interview", interview_id))?;
                Ok(Interview::new(row, favorited))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(interview))
}

/// Delete an interview and its favorites; only its author may.
#[utoipa::path(
    tag = "interviews",
    security(("bearer" = [])),
    params(("interview_id" = i64, Path, minimum = 1, description = "Interview id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the author", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interview", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/interviews/{interview_id}")]
pub async fn delete_interview(
    caller: Caller,
    path: web::Path<Id>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.into_inner();
    state
        .run(move |conn| {
            let author = caller.user(conn)?;
            crate::db::write_transaction(conn, |conn| {
                authored_by(conn, interview_id, &author)?;
                repo::delete(conn, interview_id)?;
                Ok(())
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
