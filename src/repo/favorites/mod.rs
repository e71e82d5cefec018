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
//! `favorite_toggle` ([`pg_write`]): one round trip instead of five, so the
//! interview's row lock is not held across client round trips.

mod lists;
mod pg_write;

pub use lists::{FavoriteOfUser, list_favorited_by, list_favorites};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::counter::AddToCounter;
use crate::db::schema::{favorite_interviews, interviews};
use crate::db::{Conn, write_transaction};
use crate::on_backend;

/// One user's relation to one interview, with the interview's current count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FavoriteStateRow {
    pub interview_id: i64,
    /// When the user favorited it; `None` when they have not.
    pub favorited_at: Option<NaiveDateTime>,
    pub favorites_count: i64,
}

/// The outcome of a write: the state, and whether a row was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub state: FavoriteStateRow,
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
async fn lock_interview(conn: &mut Conn<'_>, interview_id: i64) -> QueryResult<Option<i64>> {
    let query = interviews::table
        .find(interview_id)
        .select(interviews::favorites_count);
    match conn {
        Conn::Pg(c) => query.for_no_key_update().first(*c).await.optional(),
        Conn::PgShared(c) => query.for_no_key_update().first(c).await.optional(),
        Conn::Sqlite(c) => query.first(*c).await.optional(),
    }
}

/// Moves the interview's `favorites_count` by `delta`; returns the new count.
async fn adjust_count(conn: &mut Conn<'_>, interview_id: i64, delta: i64) -> QueryResult<i64> {
    let update = AddToCounter::new(
        "interviews",
        <interviews::favorites_count as Column>::NAME,
        interview_id,
        delta,
    );
    on_backend!(conn, |c| update.get_result(c).await)
}

async fn insert_row(
    conn: &mut Conn<'_>,
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
        .execute(c)
        .await)?;
    Ok(inserted > 0)
}

async fn delete_row(conn: &mut Conn<'_>, user_id: i64, interview_id: i64) -> QueryResult<bool> {
    let delete = diesel::delete(favorite_interviews::table.find((user_id, interview_id)));
    Ok(on_backend!(conn, |c| delete.execute(c).await)? > 0)
}

async fn favorited_at(
    conn: &mut Conn<'_>,
    user_id: i64,
    interview_id: i64,
) -> QueryResult<Option<NaiveDateTime>> {
    let query = favorite_interviews::table
        .find((user_id, interview_id))
        .select(favorite_interviews::created_at);
    on_backend!(conn, |c| query.first(c).await.optional())
}

/// Favorites the interview for the user. Idempotent through the database: the
/// insert ignores an existing row (never check-then-act), and the count moves
/// only when a row was really inserted. `None` when the interview does not exist.
pub async fn add_favorite(
    conn: &mut Conn<'_>,
    user_id: i64,
    interview_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<Written>> {
    if let Conn::Pg(pg) = conn {
        let call = pg_write::Call::new("favorite_add", user_id, interview_id, Some(now));
        return Ok(call.run(pg).await?.map(|row| Written {
            created: row.changed,
            state: row.state(interview_id),
        }));
    }
    write_transaction(conn, async |conn| {
        let Some(count) = lock_interview(conn, interview_id).await? else {
            return Ok(None);
        };
        let created = insert_row(conn, user_id, interview_id, now).await?;
        let (favorites_count, favorited_at) = if created {
            (adjust_count(conn, interview_id, 1).await?, Some(now))
        } else {
            (count, favorited_at(conn, user_id, interview_id).await?)
        };
        Ok(Some(Written {
            state: FavoriteStateRow {
                interview_id,
                favorited_at,
                favorites_count,
            },
            created,
        }))
    })
    .await
}

/// Unfavorites the interview for the user. Idempotent: deleting an absent row
/// succeeds and leaves the count alone. `None` when the interview does not exist.
pub async fn remove_favorite(
    conn: &mut Conn<'_>,
    user_id: i64,
    interview_id: i64,
) -> QueryResult<Option<FavoriteStateRow>> {
    if let Conn::Pg(pg) = conn {
        let call = pg_write::Call::new("favorite_remove", user_id, interview_id, None);
        return Ok(call.run(pg).await?.map(|row| row.state(interview_id)));
    }
    write_transaction(conn, async |conn| {
        let Some(count) = lock_interview(conn, interview_id).await? else {
            return Ok(None);
        };
        let favorites_count = if delete_row(conn, user_id, interview_id).await? {
            adjust_count(conn, interview_id, -1).await?
        } else {
            count
        };
        Ok(Some(FavoriteStateRow {
            interview_id,
            favorited_at: None,
            favorites_count,
        }))
    })
    .await
}

/// Flips the user's favorite on the interview in one atomic step: with the
/// interview locked, delete the row if there is one, else insert it. N
/// concurrent toggles from a not-favorited start leave it favorited exactly
/// when N is odd. `None` when the interview does not exist.
pub async fn toggle_favorite(
    conn: &mut Conn<'_>,
    user_id: i64,
    interview_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<FavoriteStateRow>> {
    if let Conn::Pg(pg) = conn {
        let call = pg_write::Call::new("favorite_toggle", user_id, interview_id, Some(now));
        return Ok(call.run(pg).await?.map(|row| row.state(interview_id)));
    }
    write_transaction(conn, async |conn| {
        if lock_interview(conn, interview_id).await?.is_none() {
            return Ok(None);
        }
        let state = if delete_row(conn, user_id, interview_id).await? {
            FavoriteStateRow {
                interview_id,
                favorited_at: None,
                favorites_count: adjust_count(conn, interview_id, -1).await?,
            }
        } else {
            insert_row(conn, user_id, interview_id, now).await?;
            FavoriteStateRow {
                interview_id,
                favorited_at: Some(now),
                favorites_count: adjust_count(conn, interview_id, 1).await?,
            }
        };
        Ok(Some(state))
    })
    .await
}

/// The three favorite writes, for callers that treat them alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FavoriteWrite {
    Add,
    Remove,
    Toggle,
}

/// Runs one favorite write ([`add_favorite`], [`remove_favorite`] or
/// [`toggle_favorite`]); `created` is true only when an add inserted the row.
pub async fn write(
    conn: &mut Conn<'_>,
    write: FavoriteWrite,
    user_id: i64,
    interview_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<Written>> {
    let state = |state: Option<FavoriteStateRow>| {
        state.map(|state| Written {
            state,
            created: false,
        })
    };
    match write {
        FavoriteWrite::Add => add_favorite(conn, user_id, interview_id, now).await,
        FavoriteWrite::Remove => remove_favorite(conn, user_id, interview_id)
            .await
            .map(state),
        FavoriteWrite::Toggle => toggle_favorite(conn, user_id, interview_id, now)
            .await
            .map(state),
    }
}

/// The user's current state on the interview; `None` when it does not exist.
/// A plain read: it may be stale by the time the caller sees it.
pub async fn favorite_state(
    conn: &mut Conn<'_>,
    user_id: i64,
    interview_id: i64,
) -> QueryResult<Option<FavoriteStateRow>> {
    let query = interviews::table
        .find(interview_id)
        .select(interviews::favorites_count);
    let Some(favorites_count) = on_backend!(conn, |c| query.first(c).await.optional())? else {
        return Ok(None);
    };
    let favorited_at = favorited_at(conn, user_id, interview_id).await?;
    Ok(Some(FavoriteStateRow {
        interview_id,
        favorited_at,
        favorites_count,
    }))
}
