//! Team memberships, a through table with its own data: a team's members,
//! a user's teams and invitations, and adding or removing a member.

use actix_web::{HttpResponse, delete, get, put, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;

use super::pagination::{Listing, PageQuery, page_schema};
use super::params::{Id, MemberPath, TeamPath, UserPath};
use super::teams::Team;
use super::text::{Reason, check_fields, validated};
use super::users::User;
use crate::auth::{Caller, MaybeCaller};
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::repo::memberships::{
    self as repo, MemberFields, MembershipFilter, MembershipRecord, Upsert,
};
use crate::repo::{now, teams, users};
use crate::state::AppState;

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

impl From<MembershipRecord> for Membership {
    fn from(record: MembershipRecord) -> Membership {
        Membership {
            team: record.team.into(),
            user: record.user.into(),
            inviter: record.inviter.map(User::from),
            joined_date: record.row.joined_date,
            reason: record.row.reason,
        }
    }
}

page_schema!(
    MembershipPage,
    PageOf_Membership,
    Membership,
    "A page of memberships."
);

/// The optional body of `PUT /teams/{team_id}/members/{user_id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "on-call rotation", "joined_date": "2026-11-23"}))]
pub struct PutMember {
    #[schema(schema_with = reason_schema)]
    pub reason: Option<Reason>,
    /// `YYYY-MM-DD`; defaults to today (UTC) for a new member.
    #[schema(format = Date)]
    pub joined_date: Option<String>,
}

fn reason_schema() -> Object {
    Reason::RULE.schema(true, Some(r#"defaults to "" for a new member"#))
}

impl PutMember {
    fn validate(self) -> Result<MemberFields, ApiError> {
        let mut errors = check_fields(&[("reason", &self.reason)]);
        let joined_date = self.joined_date.as_deref().and_then(|text| {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
            if date.is_none() || text.len() != 10 {
                let message = format!("`{}` is not a date (YYYY-MM-DD)", text.escape_debug());
                errors.insert("joined_date", vec![message]);
            }
            date
        });
        validated(errors)?;
        Ok(MemberFields {
            reason: self.reason.map(|reason| reason.0),
            joined_date,
        })
    }
}

/// The one shape of the three membership lists: the list's owner must
/// exist (404), then a page in creation order.
async fn list_memberships(
    caller: MaybeCaller,
    filter: MembershipFilter,
    listing: Listing,
) -> Result<HttpResponse, ApiError> {
    listing
        .respond(async move |conn, page| {
            caller.user(conn).await?;
            match filter {
                MembershipFilter::OfTeam(team_id) if !teams::team_exists(conn, team_id).await? => {
                    return Err(ApiError::not_found("team", team_id));
                }
                MembershipFilter::OfUser(user_id) | MembershipFilter::InvitedBy(user_id)
                    if !users::exists(conn, user_id).await? =>
                {
                    return Err(ApiError::not_found("user", user_id));
                }
                _ => {}
            }
            Ok(repo::list_memberships(conn, filter, page)
                .await?
                .map(Membership::from))
        })
        .await
}

/// list_members(team): the team's memberships, oldest first (creation order).
#[utoipa::path(
    tag = "teams",
    params(TeamPath, PageQuery),
    responses(
        (status = 200, description = "A page of memberships", body = MembershipPage),
        (status = 404, description = "No such team"),
    )
)]
#[get("/teams/{team_id}/members")]
pub async fn list_members(
    caller: MaybeCaller,
    path: web::Path<TeamPath>,
    listing: Listing,
) -> Result<HttpResponse, ApiError> {
    let filter = MembershipFilter::OfTeam(path.team_id.0);
    list_memberships(caller, filter, listing).await
}

/// list_teams(user): the user's memberships, oldest first.
#[utoipa::path(
    tag = "teams",
    params(UserPath, PageQuery),
    responses(
        (status = 200, description = "A page of memberships", body = MembershipPage),
        (status = 404, description = "No such user"),
    )
)]
#[get("/users/{user_id}/teams")]
pub async fn list_user_teams(
    caller: MaybeCaller,
    path: web::Path<UserPath>,
    listing: Listing,
) -> Result<HttpResponse, ApiError> {
    let filter = MembershipFilter::OfUser(path.user_id.0);
    list_memberships(caller, filter, listing).await
}

/// list_invitations(inviter): memberships in which the user is the inviter, oldest first.
#[utoipa::path(
    tag = "teams",
    params(UserPath, PageQuery),
    responses(
        (status = 200, description = "A page of memberships", body = MembershipPage),
        (status = 404, description = "No such user"),
    )
)]
#[get("/users/{user_id}/invitations")]
pub async fn list_user_invitations(
    caller: MaybeCaller,
    path: web::Path<UserPath>,
    listing: Listing,
) -> Result<HttpResponse, ApiError> {
    let filter = MembershipFilter::InvitedBy(path.user_id.0);
    list_memberships(caller, filter, listing).await
}

/// Add a user to a team (a member or the team's creator may); the caller is
/// recorded as the inviter. Idempotent: 201 when the membership was created,
/// 200 when it existed (given fields updated; inviter and the rest kept).
#[utoipa::path(
    tag = "teams",
    params(MemberPath),
    security(("bearer" = [])),
    request_body(content = Option<PutMember>, description = "Optional (no body, or `null`, changes nothing of an existing membership; a new one gets reason \"\" and today's date)"),
    responses(
        (status = 201, description = "Added", body = Membership),
        (status = 200, description = "Was already a member; given fields updated", body = Membership),
        (status = 403, description = "Caller is neither a member nor the creator"),
        (status = 404, description = "No such team or user"),
    )
)]
#[put("/teams/{team_id}/members/{user_id}")]
pub async fn put_member(
    caller: Caller,
    path: web::Path<MemberPath>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (Id(team_id), Id(user_id)) = (path.team_id, path.user_id);
    let fields = body.parse_or_default().and_then(PutMember::validate);
    let (upsert, record) = caller
        .write(&state, async move |conn, inviter| {
            repo::add_member(conn, team_id, user_id, inviter.id, fields.clone(), now()).await
        })
        .await?;
    let mut response = match upsert {
        Upsert::Created => HttpResponse::Created(),
        Upsert::Updated => HttpResponse::Ok(),
    };
    Ok(response.json(Membership::from(record)))
}

/// Remove a user from a team: the member themself or the team's creator may.
/// Idempotent: 204 also when the user is not a member.
#[utoipa::path(
    tag = "teams",
    params(MemberPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Not a member (any more)"),
        (status = 403, description = "Caller is neither that member nor the creator"),
        (status = 404, description = "No such team or user"),
    )
)]
#[delete("/teams/{team_id}/members/{user_id}")]
pub async fn delete_member(
    caller: Caller,
    path: web::Path<MemberPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (Id(team_id), Id(user_id)) = (path.team_id, path.user_id);
    caller
        .write(&state, async move |conn, remover| {
            repo::remove_member(conn, team_id, user_id, remover.id).await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
