//! `/teams`: create, list and read teams, and the `Team` representation.
//! Their memberships are in [`members`](super::members).

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::idempotency::{Created, IdempotencyKey, create_once};
use super::pagination::{Listing, PageQuery, page_schema};
use super::params::{Id, IdempotencyKeyHeader, TeamPath};
use super::text::{TeamName, check_fields, validated};
use super::time::rfc3339;
use super::users::User;
use crate::auth::{Caller, MaybeCaller};
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::repo::now;
use crate::repo::teams::{self as repo, TeamWithCreator};
use crate::state::AppState;

/// A team of users.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": 3, "name": "Platform", "created_by": {"id": 1, "name": "ada", "created_at": "2026-11-23T05:00:00Z"},
    "members_count": 2, "created_at": "2026-11-23T05:00:00Z"}))]
pub struct Team {
    pub id: i64,
    pub name: String,
    /// Who created the team; `null` once their account was deleted.
    #[schema(required = true)]
    pub created_by: Option<User>,
    pub members_count: i64,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<TeamWithCreator> for Team {
    fn from((team, creator): TeamWithCreator) -> Team {
        Team {
            id: team.id,
            name: team.name,
            created_by: creator.map(User::from),
            members_count: team.members_count,
            created_at: team.created_at.and_utc(),
        }
    }
}

page_schema!(TeamPage, PageOf_Team, Team, "A page of teams.");

/// The body of `POST /teams`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Platform"}))]
pub struct CreateTeam {
    #[schema(schema_with = TeamName::schema)]
    pub name: TeamName,
}

impl CreateTeam {
    fn validate(self) -> Result<String, ApiError> {
        validated(check_fields(&[("name", &self.name)]))?;
        Ok(self.name.0)
    }
}

/// Create a team; the caller becomes its first member.
///
/// With an `Idempotency-Key`, a repeat of the same request within 24 hours
/// answers the first one's response again (`Idempotent-Replayed: true`)
/// instead of creating a second team.
#[utoipa::path(
    tag = "teams",
    security(("bearer" = [])),
    params(IdempotencyKeyHeader),
    request_body = CreateTeam,
    responses((status = 201, description = "Created", body = Team,
        headers(("Location" = String, description = "URL of the new team"))))
)]
#[post("/teams")]
pub async fn create_team(
    caller: Caller,
    key: IdempotencyKey,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let fingerprint = body.fingerprint("/teams");
    let input = body.parse().and_then(CreateTeam::validate);
    create_once(
        &state,
        caller,
        key,
        fingerprint,
        async move |conn, creator_id| {
            let name = input.as_ref().map_err(Clone::clone)?;
            let team = Team::from(repo::create_team(conn, creator_id, name, now()).await?);
            Created::new(format!("/api/v1/teams/{}", team.id), &team)
        },
    )
    .await
}

/// Teams, newest first.
#[utoipa::path(
    tag = "teams",
    params(PageQuery),
    responses((status = 200, description = "A page of teams", body = TeamPage))
)]
#[get("/teams")]
pub async fn list_teams(caller: MaybeCaller, listing: Listing) -> Result<HttpResponse, ApiError> {
    listing
        .respond(async move |conn, page| {
            caller.user(conn).await?;
            Ok(repo::list_teams(conn, page).await?.map(Team::from))
        })
        .await
}

/// One team.
#[utoipa::path(
    tag = "teams",
    params(TeamPath),
    responses(
        (status = 200, description = "The team", body = Team),
        (status = 404, description = "No such team"),
    )
)]
#[get("/teams/{team_id}")]
pub async fn get_team(
    caller: MaybeCaller,
    path: web::Path<TeamPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Id(team_id) = path.team_id;
    let reader = caller.reader();
    let team = state
        .read_for(reader, async move |conn| {
            caller.user(conn).await?;
            repo::find_team(conn, team_id)
                .await?
                .ok_or_else(|| ApiError::not_found("team", team_id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Team::from(team)))
}
