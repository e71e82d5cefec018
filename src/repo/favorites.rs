//! The favorites relation: users favorite interviews, stored in the through
//! table `favorite_interviews` with its composite key (`user_id`, `interview_id`).
//!
//! Every write follows one protocol, so concurrent writes neither race nor
//! deadlock: in one write transaction, first lock the interview row (which
//! also proves it exists), then change the through table, then move
//! `favorites_count` by exactly the number of rows that changed.
//!
//! On SQLite the functions below run that protocol as a transaction of their
//! own statements. On PostgreSQL the same statements run inside the
//! server-side functions `favorite_add`, `favorite_remove` and
//! `favorite_toggle` (migration `2026-11-23-000003_favorite_writes`): one
//! round trip instead of five, and the interview's row lock is no longer
//! held across client round trips, which is what limits a hot interview.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::counter::AddToCounter;
use super::interviews::InterviewRow;
use super::users::UserRow;
use super::{Cursor, Page, PageRequest, older_than};
use crate::db::schema::{favorite_interviews, interviews, users};
use crate::db::{Conn, MultiBackend, write_transaction};
use crate::on_backend;

/// One user's relation to one interview, with the interview's current count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FavoriteState {
    pub interview_id: i64,
    /// When the user favorited it; `None` when they have not.
    pub favorited_at: Option<NaiveDateTime>,
    pub favorites_count: i64,
}

/// The outcome of [`add_favorite`]: the state, and whether a row was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub state: FavoriteState,
    pub created: bool,
}

/// Locks the interview's row for the rest of the transaction and returns its
/// `favorites_count`, or `None` when the interview does not exist.
///
/// PostgreSQL: `SELECT … FOR NO KEY UPDATE`, which serialises favorite writes
/// on one interview but not the foreign-key checks of other inserts (the
/// `favorite_*` functions take the same lock; the writes below reach this
/// only on SQLite, but it stays right for both). SQLite: the write
/// transaction is `BEGIN IMMEDIATE`, so the database is already ours.
fn lock_interview(conn: &mut Conn, interview_id: i64) -> QueryResult<Option<i64>> {
    let query = interviews::table
        .find(interview_id)
        .select(interviews::favorites_count);
    match conn {
        Conn::Pg(c) => query.for_no_key_update().first(c).optional(),
        Conn::Sqlite(c) => query.first(c).optional(),
    }
}

/// Moves the interview's `favorites_count` by `delta`; returns the new count.
fn adjust_count(conn: &mut Conn, interview_id: i64, delta: i64) -> QueryResult<i64> {
    AddToCounter::new(
        "interviews",
        <interviews::favorites_count as Column>::NAME,
        interview_id,
        delta,
    )
    .get_result(conn)
}

fn insert_row(
    conn: &mut Conn,
    user_id: i64,
    interview_id: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let row = (
        favorite_interviews::user_id.eq(user_id),
        favorite_interviews::interview_id.eq(interview_id),
        favorite_interviews::created_at.eq(now),
    );
    let inserted = on_backend!(conn, |c| diesel::insert_into(favorite_interviews::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted > 0)
}

fn delete_row(conn: &mut Conn, user_id: i64, interview_id: i64) -> QueryResult<bool> {
    let deleted =
        diesel::delete(favorite_interviews::table.find((user_id, interview_id))).execute(conn)?;
    Ok(deleted > 0)
}

fn favorited_at(
    conn: &mut Conn,
    user_id: i64,
    interview_id: i64,
) -> QueryResult<Option<NaiveDateTime>> {
    favorite_interviews::table
        .find((user_id, interview_id))
        .select(favorite_interviews::created_at)
        .first(conn)
        .optional()
}

/// Favorites the interview for the user. Idempotent through the database: the
/// insert ignores an existing row (never check-then-act), and the count moves
/// only when a row was really inserted. `None` when the interview does not exist.
pub fn add_favorite(
    conn: &mut Conn,
    user_id: i64,
    interview_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<Added>> {
    if let Conn::Pg(pg) = conn {
        let call = pg_write::Call::new("favorite_add", user_id, interview_id, Some(now));
        return Ok(call.run(pg)?.map(|row| Added {
            created: row.changed,
            state: row.state(interview_id),
        }));
    }
    write_transaction(conn, |conn| {
        let Some(count) = lock_interview(conn, interview_id)? else {
            return Ok(None);
        };
        let created = insert_row(conn, user_id, interview_id, now)?;
        let (favorites_count, favorited_at) = if created {
            (adjust_count(conn, interview_id, 1)?, Some(now))
        } else {
            (count, favorited_at(conn, user_id, interview_id)?)
        };
        Ok(Some(Added {
            state: FavoriteState {
                interview_id,
                favorited_at,
                favorites_count,
            },
            created,
        }))
    })
}

/// Unfavorites the interview for the user. Idempotent: deleting an absent row
/// succeeds and leaves the count alone. `None` when the interview does not exist.
pub fn remove_favorite(
    conn: &mut Conn,
    user_id: i64,
    interview_id: i64,
) -> QueryResult<Option<FavoriteState>> {
    if let Conn::Pg(pg) = conn {
        let call = pg_write::Call::new("favorite_remove", user_id, interview_id, None);
        return Ok(call.run(pg)?.map(|row| row.state(interview_id)));
    }
    write_transaction(conn, |conn| {
        let Some(count) = lock_interview(conn, interview_id)? else {
            return Ok(None);
        };
        let favorites_count = if delete_row(conn, user_id, interview_id)? {
            adjust_count(conn, interview_id, -1)?
        } else {
            count
        };
        Ok(Some(FavoriteState {
            interview_id,
            favorited_at: None,
            favorites_count,
        }))
    })
}

/// Flips the user's favorite on the interview in one atomic step: with the
/// interview locked, delete the row if there is one, else insert it. N
/// concurrent toggles from a not-favorited start leave it favorited exactly
/// when N is odd. `None` when the interview does not exist.
pub fn toggle_favorite(
    conn: &mut Conn,
    user_id: i64,
    interview_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<FavoriteState>> {
    if let Conn::Pg(pg) = conn {
        let call = pg_write::Call::new("favorite_toggle", user_id, interview_id, Some(now));
        return Ok(call.run(pg)?.map(|row| row.state(interview_id)));
    }
    write_transaction(conn, |conn| {
        if lock_interview(conn, interview_id)?.is_none() {
            return Ok(None);
        }
        let state = if delete_row(conn, user_id, interview_id)? {
            FavoriteState {
                interview_id,
                favorited_at: None,
                favorites_count: adjust_count(conn, interview_id, -1)?,
            }
        } else {
            insert_row(conn, user_id, interview_id, now)?;
            FavoriteState {
                interview_id,
                favorited_at: Some(now),
                favorites_count: adjust_count(conn, interview_id, 1)?,
            }
        };
        Ok(Some(state))
    })
}

/// The user's current state on the interview; `None` when it does not exist.
/// A plain read: it may be stale by the time the caller sees it.
pub fn favorite_state(
    conn: &mut Conn,
    user_id: i64,
    interview_id: i64,
) -> QueryResult<Option<FavoriteState>> {
    let Some(favorites_count) = interviews::table
        .find(interview_id)
        .select(interviews::favorites_count)
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let favorited_at = favorited_at(conn, user_id, interview_id)?;
    Ok(Some(FavoriteState {
        interview_id,
        favorited_at,
        favorites_count,
    }))
}

/// A favorite seen from the user's side: when, and the interview with its author.
pub type FavoriteOfUser = (NaiveDateTime, InterviewRow, UserRow);

/// list_favorites(user): what the user favorited, newest favorite first.
/// Keyset on (`created_at`, `interview_id`) over
/// `favorite_interviews_by_user_newest`; the interview and its author come in
/// the same query. An unknown user yields an empty page.
pub fn list_favorites(
    conn: &mut Conn,
    user_id: i64,
    page: &PageRequest,
) -> QueryResult<Page<FavoriteOfUser>> {
    let query = favorite_interviews::table
        .inner_join(interviews::table.inner_join(users::table))
        .filter(favorite_interviews::user_id.eq(user_id))
        .select((
            favorite_interviews::created_at,
            InterviewRow::as_select(),
            UserRow::as_select(),
        ))
        .order((
            favorite_interviews::created_at.desc(),
            favorite_interviews::interview_id.desc(),
        ))
        .limit(page.fetch())
        .into_boxed::<MultiBackend>();
    let query = older_than!(
        query,
        favorite_interviews::created_at,
        favorite_interviews::interview_id,
        page.after
    );
    let rows = query.load::<FavoriteOfUser>(conn)?;
    Ok(page.page(rows, |(at, interview, _)| Cursor {
        at: *at,
        id: interview.id,
    }))
}

/// list_favorited_by(interview): who favorited it, newest first. Keyset on
/// (`created_at`, `user_id`) over `favorite_interviews_by_interview_newest`.
pub fn list_favorited_by(
    conn: &mut Conn,
    interview_id: i64,
    page: &PageRequest,
) -> QueryResult<Page<(NaiveDateTime, UserRow)>> {
    let query = favorite_interviews::table
        .inner_join(users::table)
        .filter(favorite_interviews::interview_id.eq(interview_id))
        .select((favorite_interviews::created_at, UserRow::as_select()))
        .order((
            favorite_interviews::created_at.desc(),
            favorite_interviews::user_id.desc(),
        ))
        .limit(page.fetch())
        .into_boxed::<MultiBackend>();
    let query = older_than!(
        query,
        favorite_interviews::created_at,
        favorite_interviews::user_id,
        page.after
    );
    let rows = query.load::<(NaiveDateTime, UserRow)>(conn)?;
    Ok(page.page(rows, |(at, user)| Cursor {
        at: *at,
        id: user.id,
    }))
}

/// The call of one of PostgreSQL's favorite write functions, as a statement
/// diesel keeps prepared: `SELECT * FROM favorite_add($1, $2, $3)`.
mod pg_write {
    use chrono::NaiveDateTime;
    use diesel::pg::Pg;
    use diesel::prelude::*;
    use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
    use diesel::sql_types::{BigInt, Bool, Nullable, Timestamp};

    use super::FavoriteState;

    #[derive(Debug, Clone, Copy)]
    pub struct Call {
        function: &'static str,
        user_id: i64,
        interview_id: i64,
        now: Option<NaiveDateTime>,
    }

    /// What every function returns: the count after the write, when the user
    /// favorited the interview (`None`: they do not), and whether a
    /// favorite row was inserted or deleted.
    #[derive(Debug, Clone, Copy, Queryable)]
    pub struct Written {
        pub favorites_count: i64,
        pub favorited_at: Option<NaiveDateTime>,
        pub changed: bool,
    }

    impl Written {
        pub fn state(&self, interview_id: i64) -> FavoriteState {
            FavoriteState {
                interview_id,
                favorited_at: self.favorited_at,
                favorites_count: self.favorites_count,
            }
        }
    }

    impl Call {
        /// `function` is one of the migration's function names, never input.
        pub fn new(
            function: &'static str,
            user_id: i64,
            interview_id: i64,
            now: Option<NaiveDateTime>,
        ) -> Call {
            Call {
                function,
                user_id,
                interview_id,
                now,
            }
        }

        /// Runs the call; `None` when the interview does not exist (the
        /// function returns no row).
        pub fn run(self, conn: &mut PgConnection) -> QueryResult<Option<Written>> {
            self.get_result::<Written>(conn).optional()
        }
    }

    impl QueryFragment<Pg> for Call {
        fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
            out.push_sql("SELECT * FROM ");
            out.push_identifier(self.function)?;
            out.push_sql("(");
            out.push_bind_param::<BigInt, _>(&self.user_id)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&self.interview_id)?;
            if let Some(now) = &self.now {
                out.push_sql(", ");
                out.push_bind_param::<Timestamp, _>(now)?;
            }
            out.push_sql(")");
            Ok(())
        }
    }

    /// The SQL depends on the function's name, a value here: diesel's
    /// statement cache keys it by its text.
    impl QueryId for Call {
        type QueryId = ();
        const HAS_STATIC_QUERY_ID: bool = false;
    }

    impl Query for Call {
        type SqlType = (BigInt, Nullable<Timestamp>, Bool);
    }

    impl RunQueryDsl<PgConnection> for Call {}
}
