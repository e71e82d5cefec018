//! `/interviews`: create, list, read, edit and delete, and the `Interview`
//! representation every list of interviews shares.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::idempotency::{Created, IdempotencyKey, create_once};
use super::pagination::{Listing, PageQuery, page_schema};
use super::params::{Id, IdempotencyKeyHeader, IfMatchHeader, InterviewPath};
use super::text::{
    Body, Company, PatchField, Position, Title, check_fields, patch_field, validated,
};
use super::time::rfc3339;
use super::users::User;
use crate::auth::{Caller, MaybeCaller};
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::conditional::IfMatch;
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
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
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

/// The body of `PATCH /interviews/{id}`, a JSON Merge Patch (RFC 7396;
/// `application/json` or `application/merge-patch+json`): absent fields stay
/// as they are, `null` removes one (optional texts go back to `""`; `title`
/// cannot be removed, so `{"title": null}` is 400 `validation_failed`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Backend engineer onsite (updated)"}))]
pub struct UpdateInterview {
    #[serde(default, deserialize_with = "patch_field")]
    #[schema(schema_with = Title::schema)]
    pub title: PatchField<Title>,
    #[serde(default, deserialize_with = "patch_field")]
    #[schema(schema_with = Company::clearable_schema)]
    pub company: PatchField<Company>,
    #[serde(default, deserialize_with = "patch_field")]
    #[schema(schema_with = Position::clearable_schema)]
    pub position: PatchField<Position>,
    #[serde(default, deserialize_with = "patch_field")]
    #[schema(schema_with = Body::clearable_schema)]
    pub body: PatchField<Body>,
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
        let mut errors = check_fields(&[
            ("title", &self.title),
            ("company", &self.company),
            ("position", &self.position),
            ("body", &self.body),
        ]);
        if let Some(None) = self.title {
            errors.insert(
                "title",
                vec!["must not be null: a title cannot be removed".to_owned()],
            );
        }
        validated(errors)?;
        // `null` (remove) is the empty text.
        fn text<T: Into<String>>(field: PatchField<T>) -> Option<String> {
            field.map(|value| value.map(Into::into).unwrap_or_default())
        }
        Ok(InterviewChanges {
            title: text(self.title),
            company: text(self.company),
            position: text(self.position),
            body: text(self.body),
        })
    }
}

/// Publish an interview; the caller is its author.
///
/// With an `Idempotency-Key`, a repeat of the same request within 24 hours
/// answers the first one's response again (`Idempotent-Replayed: true`)
/// instead of publishing twice.
#[utoipa::path(
    tag = "interviews",
    security(("bearer" = [])),
    params(IdempotencyKeyHeader),
    request_body = CreateInterview,
    responses((status = 201, description = "Created", body = Interview,
        headers(("Location" = String, description = "URL of the new interview"))))
)]
#[post("/interviews")]
pub async fn create_interview(
    caller: Caller,
    key: IdempotencyKey,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let fingerprint = body.fingerprint("/interviews");
    let input = body.parse().and_then(CreateInterview::validate);
    create_once(
        &state,
        caller,
        key,
        fingerprint,
        async move |conn, author_id| {
            let created = repo::create(
                conn,
                author_id,
                input.as_ref().map_err(Clone::clone)?,
                now(),
            )
            .await?;
            let interview = Interview::new(created, Some(false));
            Created::new(format!("/api/v1/interviews/{}", interview.id), &interview)
        },
    )
    .await
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
    let reader = caller.reader();
    let interview = state
        .read_for(reader, async move |conn| {
            let viewer = caller.user(conn).await?.map(|viewer| viewer.id);
            let (row, favorited) = repo::find_for_viewer(conn, interview_id, viewer)
                .await?
                .ok_or_else(|| ApiError::not_found("interview", interview_id))?;
            Ok(Interview::new(row, favorited))
        })
        .await?;
    Ok(HttpResponse::Ok().json(interview))
}

/// Edit an interview; only its author may. With `If-Match`, only while the
/// interview is still the representation of that `ETag` (else 412).
#[utoipa::path(
    tag = "interviews",
    params(InterviewPath, IfMatchHeader),
    security(("bearer" = [])),
    request_body = UpdateInterview,
    responses(
        (status = 200, description = "The edited interview", body = Interview),
        (status = 403, description = "Not the author"),
        (status = 404, description = "No such interview"),
        (status = 412, description = "`If-Match` names an outdated representation (`precondition_failed`)"),
    )
)]
#[patch("/interviews/{interview_id}")]
pub async fn update_interview(
    caller: Caller,
    path: web::Path<InterviewPath>,
    if_match: IfMatch,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.interview_id;
    let changes = body.parse().and_then(UpdateInterview::validate);
    let (row, favorited) = state
        .write(async move |conn| {
            let author = caller.user(conn).await?;
            let precondition = current_is(if_match);
            repo::update(conn, interview_id, author.id, precondition, changes, now()).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(Interview::new(row, favorited)))
}

/// Delete an interview and its favorites; only its author may. With
/// `If-Match`, only while the interview is still the representation of
/// that `ETag` (else 412).
#[utoipa::path(
    tag = "interviews",
    params(InterviewPath, IfMatchHeader),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not the author"),
        (status = 404, description = "No such interview"),
        (status = 412, description = "`If-Match` names an outdated representation (`precondition_failed`)"),
    )
)]
#[delete("/interviews/{interview_id}")]
pub async fn delete_interview(
    caller: Caller,
    path: web::Path<InterviewPath>,
    if_match: IfMatch,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(interview_id) = path.interview_id;
    state
        .write(async move |conn| {
            let author = caller.user(conn).await?;
            let precondition = current_is(if_match);
            repo::delete(conn, interview_id, author.id, precondition).await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The check of a write's `If-Match` against the interview as its author
/// sees it now (`GET` gives the same representation and tag); `None`
/// without `If-Match`, so an unconditional write reads nothing more.
fn current_is(
    if_match: IfMatch,
) -> Option<impl FnOnce(InterviewWithAuthor, Option<bool>) -> Result<(), ApiError>> {
    if_match
        .is_present()
        .then_some(move |row, favorited| if_match.check(&Interview::new(row, favorited)))
}
