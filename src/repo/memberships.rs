//! The through table `team_memberships`, whose rows carry their own data
//! (`inviter_id`, `joined_date`, `reason`) and point at users twice:
//! `user_id` is the member (with `team_id`, the composite unique key) and
//! `inviter_id` who added them. Every query names the one it follows.
//!
//! Writes follow the favorites protocol: lock the team row first, then
//! change memberships, then move `members_count` by the rows that really
//! changed. Who may write is decided by [`policy`] under that lock.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::counter::AddToCounter;
use super::teams::{TeamRow, TeamWithCreator, lock_team};
use super::users::UserRow;
use super::{Cursor, Page, PageRequest, newer_than};
use crate::db::schema::{team_memberships, teams, users};
use crate::db::{Conn, write_transaction};
use crate::on_backend;
use crate::policy::{self, Refusal};

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

/// A membership row with everything its representation shows, loaded in
/// one query: the team and its creator, the member, and the inviter (if any).
#[derive(Debug, Clone)]
pub struct MembershipRecord {
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

/// Whether a membership was created or already existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Created,
    Updated,
}

async fn is_member(conn: &mut Conn<'_>, team_id: i64, user_id: i64) -> QueryResult<bool> {
    let query = diesel::select(diesel::dsl::exists(
        team_memberships::table
            .filter(team_memberships::team_id.eq(team_id))
            .filter(team_memberships::user_id.eq(user_id)),
    ));
    on_backend!(conn, |c| query.get_result(c).await)
}

async fn adjust_members(conn: &mut Conn<'_>, team_id: i64, delta: i64) -> QueryResult<()> {
    let update = AddToCounter::new(
        "teams",
        <teams::members_count as Column>::NAME,
        team_id,
        delta,
    );
    on_backend!(conn, |c| update.execute(c).await).map(drop)
}

/// The first steps of both writes, in the SPEC's order: lock the team (404
/// when missing), then check the user exists (404); returns the creator
/// (`None` once their account is gone).
async fn lock_team_and_user<E>(
    conn: &mut Conn<'_>,
    team_id: i64,
    user_id: i64,
) -> Result<Option<i64>, E>
where
    E: From<diesel::result::Error> + From<Refusal>,
{
    let creator = lock_team(conn, team_id)
        .await?
        .ok_or(Refusal::missing("team", team_id))?;
    if !super::users::exists(conn, user_id).await? {
        return Err(Refusal::missing("user", user_id).into());
    }
    Ok(creator)
}

/// Adds `user_id` to the team on behalf of `caller_id`, who is recorded as
/// the inviter and must be allowed by [`policy::may_add_member`].
///
/// The checks run in the SPEC's order inside the write transaction: team
/// (404), user (404), the caller's right (403), and only then `fields`, the
/// parsed body (its error, a 400, is returned as it is). An idempotent
/// upsert: a new membership takes the given fields (reason `""` and joined
/// `today` by default) and bumps `members_count`; an existing one gets only
/// the given fields, and keeps its inviter and the rest. Concurrent adds of
/// one user make one row: the team row is locked first and the insert
/// ignores the composite key's duplicate. Returns the membership as the
/// same transaction left it.
pub async fn add_member<E>(
    conn: &mut Conn<'_>,
    team_id: i64,
    user_id: i64,
    caller_id: i64,
    fields: Result<MemberFields, E>,
    now: NaiveDateTime,
) -> Result<(Upsert, MembershipRecord), E>
where
    E: From<diesel::result::Error> + From<Refusal>,
{
    write_transaction(conn, async |conn| {
        let creator = lock_team_and_user::<E>(conn, team_id, user_id).await?;
        let caller_is_member = is_member(conn, team_id, caller_id).await?;
        policy::may_add_member(team_id, creator, caller_id, caller_is_member)?;
        let fields = fields?;
        let row = (
            team_memberships::team_id.eq(team_id),
            team_memberships::user_id.eq(user_id),
            team_memberships::inviter_id.eq(Some(caller_id)),
            team_memberships::joined_date.eq(fields.joined_date.unwrap_or(now.date())),
            team_memberships::reason.eq(fields.reason.clone().unwrap_or_default()),
            team_memberships::created_at.eq(now),
        );
        let inserted = on_backend!(conn, |c| diesel::insert_into(team_memberships::table)
            .values(row)
            .on_conflict((team_memberships::team_id, team_memberships::user_id))
            .do_nothing()
            .execute(c)
            .await)?;
        let upsert = if inserted > 0 {
            adjust_members(conn, team_id, 1).await?;
            Upsert::Created
        } else {
            let target = team_memberships::table
                .filter(team_memberships::team_id.eq(team_id))
                .filter(team_memberships::user_id.eq(user_id));
            if let Some(reason) = &fields.reason {
                let update = diesel::update(target).set(team_memberships::reason.eq(reason));
                on_backend!(conn, |c| update.execute(c).await)?;
            }
            if let Some(joined_date) = fields.joined_date {
                let update =
                    diesel::update(target).set(team_memberships::joined_date.eq(joined_date));
                on_backend!(conn, |c| update.execute(c).await)?;
            }
            Upsert::Updated
        };
        let membership = find_membership(conn, team_id, user_id)
            .await?
            .ok_or(diesel::result::Error::NotFound)?;
        Ok((upsert, membership))
    })
    .await
}

/// Removes `user_id` from the team on behalf of `caller_id`, who must be
/// allowed by [`policy::may_remove_member`]. Idempotent: removing a
/// non-member succeeds. `members_count` drops only when a row was deleted.
pub async fn remove_member<E>(
    conn: &mut Conn<'_>,
    team_id: i64,
    user_id: i64,
    caller_id: i64,
) -> Result<(), E>
where
    E: From<diesel::result::Error> + From<Refusal>,
{
    write_transaction(conn, async |conn| {
        let creator = lock_team_and_user::<E>(conn, team_id, user_id).await?;
        policy::may_remove_member(team_id, creator, user_id, caller_id)?;
        let delete = diesel::delete(
            team_memberships::table
                .filter(team_memberships::team_id.eq(team_id))
                .filter(team_memberships::user_id.eq(user_id)),
        );
        if on_backend!(conn, |c| delete.execute(c).await)? > 0 {
            adjust_members(conn, team_id, -1).await?;
        }
        Ok(())
    })
    .await
}

/// Which memberships a list reads, and so which column of the through
/// table its query follows.
#[derive(Debug, Clone, Copy)]
pub enum MembershipFilter {
    /// list_members(team): `team_id`.
    OfTeam(i64),
    /// list_teams(user): `user_id`, the member.
    OfUser(i64),
    /// list_invitations(inviter): `inviter_id`.
    InvitedBy(i64),
    /// The one membership of a user in a team: the composite key.
    Pair { team_id: i64, user_id: i64 },
}

/// A row of [`list_memberships`]' query: the membership, its team and the
/// team's creator, the member and the inviter.
type MembershipJoin = (
    MembershipRow,
    TeamRow,
    Option<UserRow>,
    UserRow,
    Option<UserRow>,
);

/// One page of memberships in creation order (oldest first), each with its
/// team and the team's creator, the member and the inviter, all in one query:
/// `users` is joined three times under the aliases `creator`, `member` and
/// `inviter` (left joins for the creator and the inviter, who may be `NULL`). Keyset on
/// (`created_at`, `id`) over the matching `team_memberships_by_*` index.
pub async fn list_memberships(
    conn: &mut Conn<'_>,
    which: MembershipFilter,
    page: &PageRequest,
) -> QueryResult<Page<MembershipRecord>> {
    let rows = on_backend!(conn, |c| {
        let (creator, member, inviter) =
            diesel::alias!(users as creator, users as member, users as inviter);
        let query = team_memberships::table
            .inner_join(
                teams::table.left_join(
                    creator.on(teams::created_by.eq(creator.field(users::id).nullable())),
                ),
            )
            .inner_join(member.on(team_memberships::user_id.eq(member.field(users::id))))
            .left_join(
                inviter.on(team_memberships::inviter_id.eq(inviter.field(users::id).nullable())),
            )
            .select((
                MembershipRow::as_select(),
                TeamRow::as_select(),
                creator
                    .fields((users::id, users::subject, users::name, users::created_at))
                    .nullable(),
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
            .into_boxed();
        let query = match which {
            MembershipFilter::OfTeam(team_id) => {
                query.filter(team_memberships::team_id.eq(team_id))
            }
            MembershipFilter::OfUser(user_id) => {
                query.filter(team_memberships::user_id.eq(user_id))
            }
            MembershipFilter::InvitedBy(inviter_id) => {
                query.filter(team_memberships::inviter_id.eq(inviter_id))
            }
            MembershipFilter::Pair { team_id, user_id } => query
                .filter(team_memberships::team_id.eq(team_id))
                .filter(team_memberships::user_id.eq(user_id)),
        };
        let query = newer_than!(
            query,
            team_memberships::created_at,
            team_memberships::id,
            page.after
        );
        query.load::<MembershipJoin>(c).await
    })?;
    let page = page.page(rows, |(row, ..)| Cursor {
        at: row.created_at,
        id: row.id,
    });
    Ok(page.map(
        |(row, team, team_creator, user, inviter)| MembershipRecord {
            row,
            team: (team, team_creator),
            user,
            inviter,
        },
    ))
}

/// The membership of `user_id` in the team, loaded like a list row, or `None`.
pub async fn find_membership(
    conn: &mut Conn<'_>,
    team_id: i64,
    user_id: i64,
) -> QueryResult<Option<MembershipRecord>> {
    let page = list_memberships(
        conn,
        MembershipFilter::Pair { team_id, user_id },
        &PageRequest {
            limit: 1,
            after: None,
        },
    )
    .await?;
    Ok(page.rows.into_iter().next())
}
