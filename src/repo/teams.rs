//! Teams and their through table `team_memberships`, whose rows carry their
//! own data (`inviter_id`, `joined_date`, `reason`) and point at users twice:
//! `user_id` is the member (with `team_id`, the composite unique key) and
//! `inviter_id` who added them. Every query names the one it follows.
//!
//! Writes follow the favorites protocol: lock the team row first, then change
//! memberships, then move `members_count` by the rows that really changed.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::counter::AddToCounter;
use super::users::UserRow;
use super::{Cursor, Page, PageRequest, newer_than, older_than};
use crate::db::schema::{team_memberships, teams, users};
use crate::db::{Conn, MultiBackend, write_transaction};
use crate::on_backend;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = teams)]
pub struct TeamRow {
    pub id: i64,
    pub name: String,
    pub created_by: i64,
    pub members_count: i64,
    pub created_at: NaiveDateTime,
}

/// A team with the user who created it.
pub type TeamWithCreator = (TeamRow, UserRow);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = team_memberships)]
pub struct MembershipRow {
    pub id: i64,
    pub team_id: i64,
    pub user_id: i64,
    pub inviter_id: Option<i64>,
    pub joined_date: NaiveDate,
    pub reason: String,
    pub created_at: NaiveDateTime,
}

/// A membership with everything its representation shows, loaded in one
/// query: the team and its creator, the member, and the inviter (if any).
#[derive(Debug, Clone)]
pub struct Membership {
    pub row: MembershipRow,
    pub team: TeamWithCreator,
    pub user: UserRow,
    pub inviter: Option<UserRow>,
}

/// The fields a membership write may set; `None` keeps (or defaults) a field.
#[derive(Debug, Clone, Default)]
pub struct MemberFields {
    pub reason: Option<String>,
    pub joined_date: Option<NaiveDate>,
}

/// Why a membership write was refused, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TeamNotFound,
    UserNotFound,
    /// The caller may not make this change.
    NotAllowed,
}

/// Whether a membership was created or already existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Created,
    Updated,
}

/// Creates a team; in the same transaction its creator becomes the first
/// member (inviter `NULL`, reason `""`, joined `today`), so `members_count`
/// starts at 1.
pub fn create_team(
    conn: &mut Conn,
    creator_id: i64,
    name: &str,
    today: NaiveDate,
    now: NaiveDateTime,
) -> QueryResult<TeamWithCreator> {
    let team_id = write_transaction(conn, |conn| {
        let team_id: i64 = diesel::insert_into(teams::table)
            .values((
                teams::name.eq(name),
                teams::created_by.eq(creator_id),
                teams::members_count.eq(1),
                teams::created_at.eq(now),
            ))
            .returning(teams::id)
            .get_result(conn)?;
        diesel::insert_into(team_memberships::table)
            .values((
                team_memberships::team_id.eq(team_id),
                team_memberships::user_id.eq(creator_id),
                team_memberships::inviter_id.eq(None::<i64>),
                team_memberships::joined_date.eq(today),
                team_memberships::reason.eq(""),
                team_memberships::created_at.eq(now),
            ))
            .execute(conn)?;
        QueryResult::Ok(team_id)
    })?;
    find_team(conn, team_id)?.ok_or(diesel::result::Error::NotFound)
}

/// The team with this id and its creator, or `None`.
pub fn find_team(conn: &mut Conn, team_id: i64) -> QueryResult<Option<TeamWithCreator>> {
    teams::table
        .inner_join(users::table)
        .filter(teams::id.eq(team_id))
        .select((TeamRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()
}

/// Whether a team with this id exists.
pub fn team_exists(conn: &mut Conn, team_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(teams::table.find(team_id))).get_result(conn)
}

/// All teams, newest first; keyset on (`created_at`, `id`) over `teams_newest`.
pub fn list_teams(conn: &mut Conn, page: &PageRequest) -> QueryResult<Page<TeamWithCreator>> {
    let query = teams::table
        .inner_join(users::table)
        .select((TeamRow::as_select(), UserRow::as_select()))
        .order((teams::created_at.desc(), teams::id.desc()))
        .limit(page.fetch())
        .into_boxed::<MultiBackend>();
    let rows = older_than!(query, teams::created_at, teams::id, page.after)
        .load::<TeamWithCreator>(conn)?;
    Ok(page.page(rows, |(team, _)| Cursor {
        at: team.created_at,
        id: team.id,
    }))
}

/// Locks the team row for the rest of the transaction; returns its creator,
/// or `None` when the team does not exist. See `favorites::lock_interview`.
fn lock_team(conn: &mut Conn, team_id: i64) -> QueryResult<Option<i64>> {
    let query = teams::table.find(team_id).select(teams::created_by);
    match conn {
        Conn::Pg(c) => query.for_no_key_update().first(c).optional(),
        Conn::Sqlite(c) => query.first(c).optional(),
    }
}

fn is_member(conn: &mut Conn, team_id: i64, user_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        team_memberships::table
            .filter(team_memberships::team_id.eq(team_id))
            .filter(team_memberships::user_id.eq(user_id)),
    ))
    .get_result(conn)
}

fn adjust_members(conn: &mut Conn, team_id: i64, delta: i64) -> QueryResult<()> {
    AddToCounter::new(
        "teams",
        <teams::members_count as Column>::NAME,
        team_id,
        delta,
    )
    .execute(conn)
    .map(drop)
}

/// The checks both membership writes start with, in the SPEC's order: the
/// team exists, the user exists; returns the team's creator.
fn team_and_user(
    conn: &mut Conn,
    team_id: i64,
    user_id: i64,
    lock: bool,
) -> QueryResult<Result<i64, Refusal>> {
    let creator = if lock {
        lock_team(conn, team_id)?
    } else {
        teams::table
            .find(team_id)
            .select(teams::created_by)
            .first(conn)
            .optional()?
    };
    let Some(creator) = creator else {
        return Ok(Err(Refusal::TeamNotFound));
    };
    if !super::users::exists(conn, user_id)? {
        return Ok(Err(Refusal::UserNotFound));
    }
    Ok(Ok(creator))
}

/// Whether `caller_id` may add `user_id` to the team: a read-only dry run of
/// [`add_member`]'s checks, for answering 404/403 before a 400 about the body.
pub fn check_add_member(
    conn: &mut Conn,
    team_id: i64,
    user_id: i64,
    caller_id: i64,
) -> QueryResult<Result<(), Refusal>> {
    let creator = match team_and_user(conn, team_id, user_id, false)? {
        Ok(creator) => creator,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if caller_id != creator && !is_member(conn, team_id, caller_id)? {
        return Ok(Err(Refusal::NotAllowed));
    }
    Ok(Ok(()))
}

/// Adds `user_id` to the team on behalf of `caller_id`, who must be a member
/// or the team's creator and is recorded as the inviter.
///
/// An idempotent upsert: a new membership takes the given fields (reason
/// `""` and joined `today` by default) and bumps `members_count`; an existing
/// one gets only the given fields, and keeps its inviter and the rest.
/// Concurrent adds of one user make one row: the team row is locked first
/// and the insert ignores the composite key's duplicate. Returns the
/// membership as the same transaction left it.
pub fn add_member(
    conn: &mut Conn,
    team_id: i64,
    user_id: i64,
    caller_id: i64,
    fields: &MemberFields,
    today: NaiveDate,
    now: NaiveDateTime,
) -> QueryResult<Result<(Upsert, Membership), Refusal>> {
    write_transaction(conn, |conn| {
        let creator = match team_and_user(conn, team_id, user_id, true)? {
            Ok(creator) => creator,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if caller_id != creator && !is_member(conn, team_id, caller_id)? {
            return Ok(Err(Refusal::NotAllowed));
        }
        let row = (
            team_memberships::team_id.eq(team_id),
            team_memberships::user_id.eq(user_id),
            team_memberships::inviter_id.eq(Some(caller_id)),
            team_memberships::joined_date.eq(fields.joined_date.unwrap_or(today)),
            team_memberships::reason.eq(fields.reason.clone().unwrap_or_default()),
            team_memberships::created_at.eq(now),
        );
        let inserted = on_backend!(conn, |c| diesel::insert_into(team_memberships::table)
            .values(row)
            .on_conflict((team_memberships::team_id, team_memberships::user_id))
            .do_nothing()
            .execute(c))?;
        let upsert = if inserted > 0 {
            adjust_members(conn, team_id, 1)?;
            Upsert::Created
        } else {
            let target = team_memberships::table
                .filter(team_memberships::team_id.eq(team_id))
                .filter(team_memberships::user_id.eq(user_id));
            if let Some(reason) = &fields.reason {
                diesel::update(target)
                    .set(team_memberships::reason.eq(reason))
                    .execute(conn)?;
            }
            if let Some(joined_date) = fields.joined_date {
                diesel::update(target)
                    .set(team_memberships::joined_date.eq(joined_date))
                    .execute(conn)?;
            }
            Upsert::Updated
        };
        let membership =
            find_membership(conn, team_id, user_id)?.ok_or(diesel::result::Error::NotFound)?;
        Ok(Ok((upsert, membership)))
    })
}

/// Removes `user_id` from the team on behalf of `caller_id`, who must be that
/// user or the team's creator. Idempotent: removing a non-member succeeds.
/// `members_count` drops only when a row was deleted.
pub fn remove_member(
    conn: &mut Conn,
    team_id: i64,
    user_id: i64,
    caller_id: i64,
) -> QueryResult<Result<(), Refusal>> {
    write_transaction(conn, |conn| {
        let creator = match team_and_user(conn, team_id, user_id, true)? {
            Ok(creator) => creator,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if caller_id != user_id && caller_id != creator {
            return Ok(Err(Refusal::NotAllowed));
        }
        let deleted = diesel::delete(
            team_memberships::table
                .filter(team_memberships::team_id.eq(team_id))
                .filter(team_memberships::user_id.eq(user_id)),
        )
        .execute(conn)?;
        if deleted > 0 {
            adjust_members(conn, team_id, -1)?;
        }
        Ok(Ok(()))
    })
}

/// Which membership list to read, and so which column of the through table
/// the query follows.
#[derive(Debug, Clone, Copy)]
pub enum Memberships {
    /// list_members(team): `team_id`.
    OfTeam(i64),
    /// list_teams(user): `user_id`, the member.
    OfUser(i64),
    /// list_invitations(inviter): `inviter_id`.
    InvitedBy(i64),
    /// The one membership of a user in a team: the composite key.
    Pair { team_id: i64, user_id: i64 },
}

/// One page of memberships in creation order (oldest first), each with its
/// team and the team's creator, the member and the inviter, all in one query:
/// `users` is joined three times under the aliases `creator`, `member` and
/// `inviter` (a left join: the inviter may be `NULL`). Keyset on
/// (`created_at`, `id`) over the matching `team_memberships_by_*` index.
pub fn list_memberships(
    conn: &mut Conn,
    which: Memberships,
    page: &PageRequest,
) -> QueryResult<Page<Membership>> {
    let (creator, member, inviter) =
        diesel::alias!(users as creator, users as member, users as inviter);
    let query = team_memberships::table
        .inner_join(
            teams::table.inner_join(creator.on(teams::created_by.eq(creator.field(users::id)))),
        )
        .inner_join(member.on(team_memberships::user_id.eq(member.field(users::id))))
        .left_join(inviter.on(team_memberships::inviter_id.eq(inviter.field(users::id).nullable())))
        .select((
            MembershipRow::as_select(),
            TeamRow::as_select(),
            creator.fields((users::id, users::subject, users::name, users::created_at)),
            member.fields((users::id, users::subject, users::name, users::created_at)),
            inviter
                .fields((users::id, users::subject, users::name, users::created_at))
                .nullable(),
        ))
        .order((
            team_memberships::created_at.asc(),
            team_memberships::id.asc(),
        ))
        .limit(page.fetch())
        .into_boxed::<MultiBackend>();
    let query = match which {
        Memberships::OfTeam(team_id) => query.filter(team_memberships::team_id.eq(team_id)),
        Memberships::OfUser(user_id) => query.filter(team_memberships::user_id.eq(user_id)),
        Memberships::InvitedBy(inviter_id) => {
            query.filter(team_memberships::inviter_id.eq(inviter_id))
        }
        Memberships::Pair { team_id, user_id } => query
            .filter(team_memberships::team_id.eq(team_id))
            .filter(team_memberships::user_id.eq(user_id)),
    };
    let query = newer_than!(
        query,
        team_memberships::created_at,
        team_memberships::id,
        page.after
    );
    let rows = query.load::<(MembershipRow, TeamRow, UserRow, UserRow, Option<UserRow>)>(conn)?;
    let page = page.page(rows, |(row, ..)| Cursor {
        at: row.created_at,
        id: row.id,
    });
    Ok(
        page.map(|(row, team, team_creator, user, inviter)| Membership {
            row,
            team: (team, team_creator),
            user,
            inviter,
        }),
    )
}

/// The membership of `user_id` in the team, loaded like a list row, or `None`.
pub fn find_membership(
    conn: &mut Conn,
    team_id: i64,
    user_id: i64,
) -> QueryResult<Option<Membership>> {
    let page = list_memberships(
        conn,
        Memberships::Pair { team_id, user_id },
        &PageRequest {
            limit: 1,
            after: None,
        },
    )?;
    Ok(page.rows.into_iter().next())
}
