//! `/teams` and their memberships, and a user's teams and invitations.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::pagination::{self, PageQuery};
use super::path::Id;
use super::users::User;
use super::validation::{check_text, validated};
use crate::app::AppState;
use crate::auth::Caller;
use crate::db::Conn;
use crate::error::{ApiError, FieldErrors, Problem};
use crate::repo::teams::{
    self as repo, MemberFields, Memberships, Refusal, TeamWithCreator, Upsert,
};
use crate::repo::{self as repository, PageRequest, users};

pub const MAX_TEAM_NAME_CHARS: usize = 100;
pub const MAX_REASON_CHARS: usize = 64;

/// A team of users.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": 3, "name": "Platform", "created_by": {"id": 1, "name": "ada", "created_at": "2026-11-23T05:00:00Z"},
    "members_count": 2, "created_at": "2026-11-23T05:00:00Z"}))]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub created_by: User,
    pub members_count: i64,
    pub created_at: DateTime<Utc>,
}

impl From<TeamWithCreator> for Team {
    fn from((team, creator): TeamWithCreator) -> Team {
        Team {
            id: team.id,
            name: team.name,
            created_by: creator.into(),
            members_count: team.members_count,
            created_at: team.created_at.and_utc(),
        }
    }
}

/// A user's membership in a team: a row of the through table with its own data.
#[derive(Debug, Serialize, ToSchema)]
pub struct Membership {
    pub team: Team,
    /// The member.
    pub user: User,
    /// Who added the member; `null` for the team's creator (and when the
    /// inviter's account is gone).
    #[schema(required = true)]
    pub inviter: Option<User>,
    #[schema(value_type = String, format = Date, example = "2026-11-23")]
    pub joined_date: NaiveDate,
    pub reason: String,
}

impl From<repo::Membership> for Membership {
    fn from(membership: repo::Membership) -> Membership {
        Membership {
            team: membership.team.into(),
            user: membership.user.into(),
            inviter: membership.inviter.map(User::from),
            joined_date: membership.row.joined_date,
            reason: membership.row.reason,
        }
    }
}

/// The body of `POST /teams`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Platform"}))]
pub struct CreateTeam {
    /// 1 to 100 characters, not blank (not only whitespace), no NUL.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*[^\u0000\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000]*$"
    )]
    pub name: String,
}

/// The optional body of `PUT /teams/{team_id}/members/{user_id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "on-call rotation", "joined_date": "2026-11-23"}))]
pub struct PutMember {
    /// Up to 64 characters, no NUL; defaults to "" for a new member.
    #[schema(max_length = 64, pattern = r"^[^\u0000]*$")]
    pub reason: Option<String>,
    /// `YYYY-MM-DD`; defaults to today (UTC) for a new member.
    #[schema(format = Date)]
    pub joined_date: Option<String>,
}

impl CreateTeam {
    fn validate(self) -> Result<String, ApiError> {
        let mut errors = FieldErrors::new();
        check_text(&mut errors, "name", &self.name, 1, MAX_TEAM_NAME_CHARS);
        validated(errors)?;
        Ok(self.name)
    }
}

impl PutMember {
    fn validate(self) -> Result<MemberFields, ApiError> {
        let mut errors = FieldErrors::new();
        if let Some(reason) = &self.reason {
            check_text(&mut errors, "reason", reason, 0, MAX_REASON_CHARS);
        }
        let joined_date = match self.joined_date.as_deref() {
            None => None,
            Some(text) => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(date) if text.len() == 10 => Some(date),
                _ => {
                    errors.insert(
                        "joined_date",
                        vec![format!(
                            "`{}` is not a date (YYYY-MM-DD)",
                            text.escape_debug()
                        )],
                    );
                    None
                }
            },
        };
        validated(errors)?;
        Ok(MemberFields {
            reason: self.reason,
            joined_date,
        })
    }
}

/// A refused membership write as the API answers it; `who_may` says who
/// could have made the change.
fn refused(refusal: Refusal, team_id: i64, user_id: i64, who_may: &str) -> ApiError {
    match refusal {
        Refusal::TeamNotFound => ApiError::not_found("team", team_id),
        Refusal::UserNotFound => ApiError::not_found("user", user_id),
        Refusal::NotAllowed => {
            ApiError::Forbidden(format!("only {who_may} of team {team_id} may do this"))
        }
    }
}

const WHO_MAY_ADD: &str = "a member or the creator";
const WHO_MAY_REMOVE: &str = "the member themself or the creator";

/// Create a team; the caller becomes its first member.
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    request_body = CreateTeam,
    responses(
        (status = 201, description = "Created", body = Team,
            headers(("Location" = String, description = "URL of the new team"))),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/teams")]
pub async fn create_team(
    caller: Caller,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input = body.parse::<CreateTeam>().and_then(CreateTeam::validate);
    let team = state
        .run(move |conn| {
            let creator = caller.user(conn)?;
            let name = input?;
            let now = repository::now();
            Ok(repo::create_team(conn, creator.id, &name, now.date(), now)?)
        })
        .await?;
    let team = Team::from(team);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/teams/{}", team.id)))
        .json(team))
}

/// Teams, newest first.
#[utoipa::path(
    tag = "teams",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of teams", body = pagination::TeamPage,
            headers(("Link" = String, description = "`<url>; rel=\"next\"` when a next page exists"))),
        (status = 400, description = "Invalid query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/teams")]
pub async fn list_teams(
    caller: crate::auth::MaybeCaller,
    page: web::Query<PageQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    pagination::list(&state, &req, &page, move |conn, page| {
        caller.user(conn)?;
        Ok(repo::list_teams(conn, page)?.map(Team::from))
    })
    .await
}

/// One team.
#[utoipa::path(
    tag = "teams",
    params(("team_id" = i64, Path, minimum = 1, description = "Team id")),
    responses(
        (status = 200, description = "The team", body = Team),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/teams/{team_id}")]
pub async fn get_team(
    caller: crate::auth::MaybeCaller,
    path: web::Path<Id>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(team_id) = path.into_inner();
    let team = state
        .run(move |conn| {
            caller.user(conn)?;
            repo::find_team(conn, team_id)?.ok_or_else(|| ApiError::not_found("team", team_id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Team::from(team)))
}

/// A page of memberships after checking that the list's owner exists.
fn memberships_page(
    conn: &mut Conn,
    which: Memberships,
    page: &PageRequest,
) -> Result<repository::Page<Membership>, ApiError> {
    match which {
        Memberships::OfTeam(team_id) if !repo::team_exists(conn, team_id)? => {
            return Err(ApiError::not_found("team", team_id));
        }
        Memberships::OfUser(user_id) | Memberships::InvitedBy(user_id)
            if !users::exists(conn, user_id)? =>
        {
            return Err(ApiError::not_found("user", user_id));
        }
        _ => {}
    }
    Ok(repo::list_memberships(conn, which, page)?.map(Membership::from))
}

async fn respond_memberships(
    caller: crate::auth::MaybeCaller,
    which: Memberships,
    page: web::Query<PageQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    pagination::list(&state, &req, &page, move |conn, page| {
        caller.user(conn)?;
        memberships_page(conn, which, page)
    })
    .await
}

/// list_members(team): the team's memberships, oldest first (creation order).
#[utoipa::path(
    tag = "teams",
    params(("team_id" = i64, Path, minimum = 1, description = "Team id"), PageQuery),
    responses(
        (status = 200, description = "A page of memberships", body = pagination::MembershipPage,
            headers(("Link" = String, description = "`<url>; rel=\"next\"` when a next page exists"))),
        (status = 400, description = "Malformed id, invalid query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/teams/{team_id}/members")]
pub async fn list_members(
    caller: crate::auth::MaybeCaller,
    path: web::Path<Id>,
    page: web::Query<PageQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(team_id) = path.into_inner();
    respond_memberships(caller, Memberships::OfTeam(team_id), page, req, state).await
}

/// list_teams(user): the user's memberships, oldest first.
#[utoipa::path(
    tag = "teams",
    params(("user_id" = i64, Path, minimum = 1, description = "User id"), PageQuery),
    responses(
        (status = 200, description = "A page of memberships", body = pagination::MembershipPage,
            headers(("Link" = String, description = "`<url>; rel=\"next\"` when a next page exists"))),
        (status = 400, description = "Malformed id, invalid query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{user_id}/teams")]
pub async fn list_user_teams(
    caller: crate::auth::MaybeCaller,
    path: web::Path<Id>,
    page: web::Query<PageQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(user_id) = path.into_inner();
    respond_memberships(caller, Memberships::OfUser(user_id), page, req, state).await
}

/// list_invitations(inviter): memberships in which the user is the inviter, oldest first.
#[utoipa::path(
    tag = "teams",
    params(("user_id" = i64, Path, minimum = 1, description = "User id of the inviter"), PageQuery),
    responses(
        (status = 200, description = "A page of memberships", body = pagination::MembershipPage,
            headers(("Link" = String, description = "`<url>; rel=\"next\"` when a next page exists"))),
        (status = 400, description = "Malformed id, invalid query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{user_id}/invitations")]
pub async fn list_user_invitations(
    caller: crate::auth::MaybeCaller,
    path: web::Path<Id>,
    page: web::Query<PageQuery>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(user_id) = path.into_inner();
    respond_memberships(caller, Memberships::InvitedBy(user_id), page, req, state).await
}

/// Add a user to a team (a member or the team's creator may); the caller is
/// recorded as the inviter. Idempotent: 201 when the membership was created,
/// 200 when it existed (given fields updated; inviter and the rest kept).
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    params(
        ("team_id" = i64, Path, minimum = 1, description = "Team id"),
        ("user_id" = i64, Path, minimum = 1, description = "User id of the new member"),
    ),
    request_body(content = Option<PutMember>, description = "Optional (no body, or `null`, changes nothing of an existing membership; a new one gets reason \"\" and today's date)"),
    responses(
        (status = 201, description = "Added", body = Membership),
        (status = 200, description = "Was already a member; given fields updated", body = Membership),
        (status = 400, description = "Malformed id or invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is neither a member nor the creator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team or user", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/teams/{team_id}/members/{user_id}")]
pub async fn put_member(
    caller: Caller,
    path: web::Path<(Id, Id)>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (Id(team_id), Id(user_id)) = path.into_inner();
    let input = body
        .parse_or_default::<PutMember>()
        .and_then(PutMember::validate);
    let (upsert, membership) = state
        .run(move |conn| {
            let inviter = caller.user(conn)?;
            let fields = match input {
                Ok(fields) => fields,
                Err(body_error) => {
                    // The body is judged last: answer 404/403 first if they apply.
                    repo::check_add_member(conn, team_id, user_id, inviter.id)?
                        .map_err(|refusal| refused(refusal, team_id, user_id, WHO_MAY_ADD))?;
                    return Err(body_error);
                }
            };
            let now = repository::now();
            repo::add_member(conn, team_id, user_id, inviter.id, &fields, now.date(), now)?
                .map_err(|refusal| refused(refusal, team_id, user_id, WHO_MAY_ADD))
        })
        .await?;
    let mut response = match upsert {
        Upsert::Created => HttpResponse::Created(),
        Upsert::Updated => HttpResponse::Ok(),
    };
    Ok(response.json(Membership::from(membership)))
}

/// Remove a user from a team: the member themself or the team's creator may.
/// Idempotent: 204 also when the user is not a member.
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    params(
        ("team_id" = i64, Path, minimum = 1, description = "Team id"),
        ("user_id" = i64, Path, minimum = 1, description = "User id of the member"),
    ),
    responses(
        (status = 204, description = "Not a member (any more)"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is neither that member nor the creator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team or user", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/teams/{team_id}/members/{user_id}")]
pub async fn delete_member(
    caller: Caller,
    path: web::Path<(Id, Id)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (Id(team_id), Id(user_id)) = path.into_inner();
    state
        .run(move |conn| {
            let remover = caller.user(conn)?;
            repo::remove_member(conn, team_id, user_id, remover.id)?
                .map_err(|refusal| refused(refusal, team_id, user_id, WHO_MAY_REMOVE))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
