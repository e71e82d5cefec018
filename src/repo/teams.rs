//! Teams: created by a user, who becomes the first member in the same
//! transaction; listed newest first. Their memberships are in
//! [`memberships`](super::memberships).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::users::UserRow;
use super::{Cursor, Page, PageRequest, older_than};
use crate::db::schema::{team_memberships, teams, users};
use crate::db::{Conn, write_transaction};
use crate::on_backend;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = teams)]
pub struct TeamRow {
    pub id: i64,
    pub name: String,
    /// `None` once the creator's account was deleted.
    pub created_by: Option<i64>,
    pub members_count: i64,
    pub created_at: NaiveDateTime,
}

/// A team with the user who created it (`None` once their account is gone).
pub type TeamWithCreator = (TeamRow, Option<UserRow>);

/// Creates a team; in the same transaction its creator becomes the first
/// member (inviter `NULL`, reason `""`, joined today), so `members_count`
/// starts at 1.
pub async fn create_team(
    conn: &mut Conn<'_>,
    creator_id: i64,
    name: &str,
    now: NaiveDateTime,
) -> QueryResult<TeamWithCreator> {
    let team_id = write_transaction(conn, async |conn| {
        let team = diesel::insert_into(teams::table)
            .values((
                teams::name.eq(name),
                teams::created_by.eq(creator_id),
                teams::members_count.eq(1),
                teams::created_at.eq(now),
            ))
            .returning(teams::id);
        let team_id: i64 = on_backend!(conn, |c| team.get_result(c).await)?;
        let membership = diesel::insert_into(team_memberships::table).values((
            team_memberships::team_id.eq(team_id),
            team_memberships::user_id.eq(creator_id),
            team_memberships::inviter_id.eq(None::<i64>),
            team_memberships::joined_date.eq(now.date()),
            team_memberships::reason.eq(""),
            team_memberships::created_at.eq(now),
        ));
        on_backend!(conn, |c| membership.execute(c).await)?;
        QueryResult::Ok(team_id)
    })
    .await?;
    find_team(conn, team_id)
        .await?
        .ok_or(diesel::result::Error::NotFound)
}

/// The creator's columns, in [`UserRow`]'s order, to select `.nullable()`
/// from the left join (the creator's account may be gone).
fn creator_columns() -> (users::id, users::subject, users::name, users::created_at) {
    (users::id, users::subject, users::name, users::created_at)
}

/// The team with this id and its creator, or `None`.
pub async fn find_team(conn: &mut Conn<'_>, team_id: i64) -> QueryResult<Option<TeamWithCreator>> {
    on_backend!(conn, |c| {
        let query = teams::table
            .left_join(users::table)
            .filter(teams::id.eq(team_id))
            .select((TeamRow::as_select(), creator_columns().nullable()));
        query.first(c).await.optional()
    })
}

/// Whether a team with this id exists.
pub async fn team_exists(conn: &mut Conn<'_>, team_id: i64) -> QueryResult<bool> {
    let query = diesel::select(diesel::dsl::exists(teams::table.find(team_id)));
    on_backend!(conn, |c| query.get_result(c).await)
}

/// All teams, newest first; keyset on (`created_at`, `id`) over `teams_newest`.
pub async fn list_teams(
    conn: &mut Conn<'_>,
    page: &PageRequest,
) -> QueryResult<Page<TeamWithCreator>> {
    let rows = on_backend!(conn, |c| {
        let query = teams::table
            .left_join(users::table)
            .select((TeamRow::as_select(), creator_columns().nullable()))
            .order((teams::created_at.desc(), teams::id.desc()))
            .limit(page.fetch())
            .into_boxed();
        older_than!(query, teams::created_at, teams::id, page.after)
            .load::<TeamWithCreator>(c)
            .await
    })?;
    Ok(page.page(rows, |(team, _)| Cursor {
        at: team.created_at,
        id: team.id,
    }))
}

/// Locks the team row for the rest of the transaction (PostgreSQL: `FOR NO
/// KEY UPDATE`; SQLite's write transaction already owns the database) and
/// returns its creator (`Some(None)` when the creator's account is gone),
/// or `None` when the team does not exist.
pub(super) async fn lock_team(
    conn: &mut Conn<'_>,
    team_id: i64,
) -> QueryResult<Option<Option<i64>>> {
    let query = teams::table.find(team_id).select(teams::created_by);
    match conn {
        Conn::Pg(c) => query.for_no_key_update().first(*c).await.optional(),
        Conn::PgShared(c) => query.for_no_key_update().first(c).await.optional(),
        Conn::Sqlite(c) => query.first(*c).await.optional(),
    }
}
