//! `/interviews`: create, list, read, edit and delete, and the `Interview`
//! representation every list of interviews shares.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::pagination::{Listing, PageQuery, page_schema};
use super::params::{Id, InterviewPath};
use super::text::{Body, Company, Position, Title, check_fields, validated};
use super::users::User;
use crate::auth::{Caller, MaybeCaller};
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::repo::interviews::{self as repo, InterviewChanges, InterviewWithAuthor, NewInterview};
use crate::repo::now;
use crate::state::AppState;

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

page_schema!(
    InterviewPage,
    PageOf_Interview,
    Interview,
    "A page of interviews."
);

/// The body of `POST /interviews`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Backend engineer onsite", "company": "Acme", "position": "SRE", "body": "Four rounds..."}))]
pub struct CreateInterview {
    #[schema(schema_with = Title::schema)]
    pub title: Title,
    #[serde(default)]
    #[schema(schema_with = Company::defaulted_schema)]
    pub company: Company,
    #[serde(default)]
    #[schema(schema_with = Position::defaulted_schema)]
    pub position: Position,
    #[serde(default)]
    #[schema(schema_with = Body::defaulted_schema)]
    pub body: Body,
}

/// The body of `PATCH /interviews/{id}`: absent (or `null`) fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Backend engineer onsite (updated)"}))]
pub struct UpdateInterview {
    #[schema(schema_with = Title::nullable_schema)]
    pub title: Option<Title>,
    #[schema(schema_with = Company::nullable_schema)]
    pub company: Option<Company>,
    #[schema(schema_with = Position::nullable_schema)]
    pub position: Option<Position>,
    #[schema(schema_with = Body::nullable_schema)]
    pub body: Option<Body>,
}

impl CreateInterview {
    fn validate(self) -> Result<NewInterview, ApiError> {
        validated(check_fields(&[
            ("title", &self.title),
            ("company", &self.company),
            ("position", &self.position),
            ("body", &self.body),
        ]))?;
        Ok(NewInterview {
            title: self.title.0,
            company: self.company.0,
            position: self.position.0,
            body: self.body.0,
        })
    }
}

impl UpdateInterview {
    fn validate(self) -> Result<InterviewChanges, ApiError> {
        validated(check_fields(&[
            ("title", &self.title),
            ("company", &self.company),
            ("position", &self.position),
            ("body", &self.body),
        ]))?;
        Ok(InterviewChanges {
            title: self.title.map(|text| text.0),
            company: self.company.map(|text| text.0),
            position: self.position.map(|text| text.0),
            body: self.body.map(|text| text.0),
        })
    }
}

/// Publish an interview; the caller is its author.
#[utoipa::path(
    tag = "interviews",
    security(("bearer" = [])),
    request_body = CreateInterview,
    responses((status = 201, description = "Created", body = Interview,
        headers(("Location" = String, description = "URL of the new interview"))))
)]
#[post("/interviews")]
pub async fn create_interview(
    caller: Caller,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input = body.parse().and_then(CreateInterview::validate);
    let created = state
        .write(async move |conn| {
            let author = caller.user(conn).await?;
            Ok(repo::create(conn, author.id, &input?, now()).await?)
        })
        .await?;
    let interview = Interview::new(created, Some(false));
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/interviews/{}", interview.id),
        ))
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
    responses((status = 200, description = "A page of interviews", body = InterviewPage))
)]
#[get("/interviews")]
pub async fn list_interviews(
    caller: MaybeCaller,
    filter: web::Query<InterviewFilter>,
    listing: Listing,
) -> Result<HttpResponse, ApiError> {
    let author_id = filter.author_id.map(|Id(id)| id);
    listing
        .respond(async move |conn, page| {
            let viewer = caller.user(conn).await?.map(|viewer| viewer.id);
            let page = repo::list(conn, author_id, viewer, page).await?;
            Ok(page.map(|(row, favorited)| Interview::new(row, favorited)))
        })
        .await
}

/// One interview.
#[utoipa::path(
    tag = "interviews",
    params(InterviewPath),
    responses(
        (status = 200, description = "The interview", body = Interview),
        (status = 404, description = "No such interview"),
    )
)]
#[get("/interviews/{interview_id}")]
pub async fn get_interview(
    caller: MaybeCaller,
    path: web::Path<InterviewPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.interview_id;
    let interview = state
        .read(async move |conn| {
            let viewer = caller.user(conn).await?.map(|viewer| viewer.id);
            let (row, favorited) = repo::find_for_viewer(conn, interview_id, viewer)
                .await?
                .ok_or_else(|| ApiError::not_found("interview", interview_id))?;
            Ok(Interview::new(row, favorited))
        })
        .await?;
    Ok(HttpResponse::Ok().json(interview))
}

/// Edit an interview; only its author may.
#[utoipa::path(
    tag = "interviews",
    params(InterviewPath),
    security(("bearer" = [])),
    request_body = UpdateInterview,
    responses(
        (status = 200, description = "The edited interview", body = Interview),
        (status = 403, description = "Not the author"),
        (status = 404, description = "No such interview"),
    )
)]
#[patch("/interviews/{interview_id}")]
pub async fn update_interview(
    caller: Caller,
    path: web::Path<InterviewPath>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.interview_id;
    let changes = body.parse().and_then(UpdateInterview::validate);
    let (row, favorited) = state
        .write(async move |conn| {
            let author = caller.user(conn).await?;
            repo::update(conn, interview_id, author.id, changes, now()).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(Interview::new(row, favorited)))
}

/// Delete an interview and its favorites; only its author may.
#[utoipa::path(
    tag = "interviews",
    params(InterviewPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not the author"),
        (status = 404, description = "No such interview"),
    )
)]
#[delete("/interviews/{interview_id}")]
pub async fn delete_interview(
    caller: Caller,
    path: web::Path<InterviewPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.interview_id;
    state
        .write(async move |conn| {
            let author = caller.user(conn).await?;
            repo::delete(conn, interview_id, author.id).await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
