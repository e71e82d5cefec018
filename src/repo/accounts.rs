//! A user's account as a whole: its erasure (`DELETE /me`).
//!
//! The cascades of the schema would remove a user's favorites and
//! memberships, but not move the counters of the interviews and teams they
//! point at. So the rows that carry a counter go first, in batches, each a
//! transaction of the favorites protocol: lock the rows whose counter moves
//! (interviews by id, then teams by id: the order every write takes them
//! in), delete the through rows, move each counter by the rows really
//! deleted. Every counter is exact after every batch, no batch holds a
//! popular interview's lock for longer than [`BATCH`] rows take, and a
//! deletion cut short (a crash, a dropped request) leaves a state from which
//! the next one carries on. The last transaction locks the user's row, which
//! stops new rows from referring to it, makes sure nothing with a counter
//! arrived meanwhile (else it starts over) and deletes the user: the schema
//! then removes their own interviews with the favorites others made of them
//! and their idempotency keys, and sets `NULL` where they invited a member
//! or created a team.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::{favorite_interviews, interviews, team_memberships, teams, users};
use crate::db::{Conn, write_transaction};
use crate::on_backend;

/// Rows per batch transaction.
pub const BATCH: i64 = 100;

/// How many times the last transaction may find new rows and start over
/// before the deletion gives up (the caller is writing faster than it erases).
const ROUNDS: u32 = 5;

/// The PostgreSQL channel on which a deletion tells every instance to forget
/// the user (the payload is their token subject). Sent inside the deleting
/// transaction, so it is delivered exactly when the deletion commits.
pub const USER_DELETED_CHANNEL: &str = "favorites_user_deleted";

/// What an erasure did, for its log line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Erasure {
    pub favorites: usize,
    pub memberships: usize,
    pub interviews: usize,
    /// Transactions run, the last one included.
    pub transactions: u32,
    /// The longest of them: how long it held the locks it took.
    pub longest: Duration,
    /// Whether this call deleted the user row (`false`: someone else did).
    pub deleted: bool,
}

impl Erasure {
    fn timed(&mut self, started: Instant) {
        self.transactions += 1;
        self.longest = self.longest.max(started.elapsed());
    }
}

/// Erases user `user_id`, whose token subject is `subject`: see the module
/// documentation for the protocol. A user who is already gone is no error.
/// Fails with a conflict after [`ROUNDS`] rounds if rows keep arriving.
pub async fn delete_user(
    conn: &mut Conn<'_>,
    user_id: i64,
    subject: &str,
) -> QueryResult<Option<Erasure>> {
    let mut erasure = Erasure::default();
    for _ in 0..ROUNDS {
        erasure.favorites += drain(conn, &mut erasure, user_id, remove_favorites).await?;
        erasure.memberships += drain(conn, &mut erasure, user_id, remove_memberships).await?;
        erasure.interviews += drain(conn, &mut erasure, user_id, remove_interviews).await?;
        let started = Instant::now();
        let finished =
            write_transaction(conn, async |conn| remove_user(conn, user_id, subject).await).await?;
        erasure.timed(started);
        match finished {
            Finished::Deleted => {
                erasure.deleted = true;
                return Ok(Some(erasure));
            }
            Finished::Gone => return Ok(Some(erasure)),
            Finished::RowsArrived => continue,
        }
    }
    Ok(None)
}

/// Runs `batch` in transactions of its own until one removes fewer than
/// [`BATCH`] rows; returns how many they removed in all.
async fn drain<B>(
    conn: &mut Conn<'_>,
    erasure: &mut Erasure,
    user_id: i64,
    batch: B,
) -> QueryResult<usize>
where
    B: for<'c, 'd> AsyncFn(&'d mut Conn<'c>, i64) -> QueryResult<usize>,
{
    let full = usize::try_from(BATCH).unwrap_or(usize::MAX);
    let mut removed = 0;
    loop {
        let started = Instant::now();
        let rows = write_transaction(conn, async |conn| batch(conn, user_id).await).await?;
        erasure.timed(started);
        removed += rows;
        if rows < full {
            return Ok(removed);
        }
    }
}

/// One batch of the user's favorites: locks their interviews in id order,
/// deletes the rows still there and takes one off each interview's count.
async fn remove_favorites(conn: &mut Conn<'_>, user_id: i64) -> QueryResult<usize> {
    // The primary key (user_id, interview_id) gives them in id order.
    let query = favorite_interviews::table
        .filter(favorite_interviews::user_id.eq(user_id))
        .select(favorite_interviews::interview_id)
        .order(favorite_interviews::interview_id)
        .limit(BATCH);
    let ids: Vec<i64> = on_backend!(conn, |c| query.load(c).await)?;
    if ids.is_empty() {
        return Ok(0);
    }
    lock_in_id_order(conn, Counted::Interviews, &ids).await?;
    let delete = diesel::delete(
        favorite_interviews::table
            .filter(favorite_interviews::user_id.eq(user_id))
            .filter(favorite_interviews::interview_id.eq_any(&ids)),
    )
    .returning(favorite_interviews::interview_id);
    let deleted: Vec<i64> = on_backend!(conn, |c| delete.get_results(c).await)?;
    if !deleted.is_empty() {
        let update = diesel::update(interviews::table.filter(interviews::id.eq_any(&deleted)))
            .set(interviews::favorites_count.eq(interviews::favorites_count - 1));
        on_backend!(conn, |c| update.execute(c).await)?;
    }
    Ok(ids.len())
}

/// One batch of the user's memberships: locks their teams in id order,
/// deletes the rows still there and takes one off each team's count.
async fn remove_memberships(conn: &mut Conn<'_>, user_id: i64) -> QueryResult<usize> {
    // `team_memberships_by_user` gives them in creation order; the locks
    // are then taken in team id order.
    let query = team_memberships::table
        .filter(team_memberships::user_id.eq(user_id))
        .select(team_memberships::team_id)
        .order((team_memberships::created_at, team_memberships::id))
        .limit(BATCH);
    let mut ids: Vec<i64> = on_backend!(conn, |c| query.load(c).await)?;
    if ids.is_empty() {
        return Ok(0);
    }
    ids.sort_unstable();
    lock_in_id_order(conn, Counted::Teams, &ids).await?;
    let delete = diesel::delete(
        team_memberships::table
            .filter(team_memberships::user_id.eq(user_id))
            .filter(team_memberships::team_id.eq_any(&ids)),
    )
    .returning(team_memberships::team_id);
    let deleted: Vec<i64> = on_backend!(conn, |c| delete.get_results(c).await)?;
    if !deleted.is_empty() {
        let update = diesel::update(teams::table.filter(teams::id.eq_any(&deleted)))
            .set(teams::members_count.eq(teams::members_count - 1));
        on_backend!(conn, |c| update.execute(c).await)?;
    }
    Ok(ids.len())
}

/// One batch of the user's own interviews, locked in id order and deleted
/// (with the favorites others made of them, by the schema's cascade).
async fn remove_interviews(conn: &mut Conn<'_>, author_id: i64) -> QueryResult<usize> {
    let query = interviews::table
        .filter(interviews::author_id.eq(author_id))
        .select(interviews::id)
        .order((interviews::created_at, interviews::id))
        .limit(BATCH);
    let mut ids: Vec<i64> = on_backend!(conn, |c| query.load(c).await)?;
    if ids.is_empty() {
        return Ok(0);
    }
    ids.sort_unstable();
    lock_in_id_order(conn, Counted::Interviews, &ids).await?;
    let delete = diesel::delete(
        interviews::table
            .filter(interviews::author_id.eq(author_id))
            .filter(interviews::id.eq_any(&ids)),
    );
    on_backend!(conn, |c| delete.execute(c).await)?;
    Ok(ids.len())
}

/// The rows whose counters the batches move.
#[derive(Clone, Copy)]
enum Counted {
    Interviews,
    Teams,
}

/// PostgreSQL: `SELECT … ORDER BY id FOR NO KEY UPDATE`, which takes the
/// row locks one by one in id order, the order of every other writer, so
/// that two erasures (or an erasure and a favorite write) cannot deadlock.
/// SQLite: the write transaction already owns the database.
async fn lock_in_id_order(conn: &mut Conn<'_>, rows: Counted, ids: &[i64]) -> QueryResult<()> {
    let Conn::Pg(c) = conn else {
        return Ok(());
    };
    let _locked: Vec<i64> = match rows {
        Counted::Interviews => {
            interviews::table
                .filter(interviews::id.eq_any(ids))
                .select(interviews::id)
                .order(interviews::id)
                .for_no_key_update()
                .load(*c)
                .await?
        }
        Counted::Teams => {
            teams::table
                .filter(teams::id.eq_any(ids))
                .select(teams::id)
                .order(teams::id)
                .for_no_key_update()
                .load(*c)
                .await?
        }
    };
    Ok(())
}

enum Finished {
    Deleted,
    /// The user row was already gone (another erasure finished first).
    Gone,
    /// New favorites, memberships or interviews arrived after the batches:
    /// nothing was deleted, start over.
    RowsArrived,
}

/// The last transaction: the teams the user created (locked in id order,
/// before the user's row: team rows come before user rows for every
/// writer), then the user's row, which waits for and then stops every
/// insert that refers to it; if nothing with a counter arrived since the
/// batches, tells every instance (PostgreSQL `NOTIFY`, delivered at commit)
/// and deletes the user.
async fn remove_user(conn: &mut Conn<'_>, user_id: i64, subject: &str) -> QueryResult<Finished> {
    if let Conn::Pg(c) = conn {
        let _teams: Vec<i64> = teams::table
            .filter(teams::created_by.eq(user_id))
            .select(teams::id)
            .order(teams::id)
            .for_no_key_update()
            .load(*c)
            .await?;
        let found: Option<i64> = users::table
            .find(user_id)
            .select(users::id)
            .for_update()
            .first(*c)
            .await
            .optional()?;
        if found.is_none() {
            return Ok(Finished::Gone);
        }
    } else if !super::users::exists(conn, user_id).await? {
        return Ok(Finished::Gone);
    }
    let arrived = diesel::select((
        diesel::dsl::exists(
            favorite_interviews::table.filter(favorite_interviews::user_id.eq(user_id)),
        ),
        diesel::dsl::exists(team_memberships::table.filter(team_memberships::user_id.eq(user_id))),
        diesel::dsl::exists(interviews::table.filter(interviews::author_id.eq(user_id))),
    ));
    let (favorites, memberships, interviews) =
        on_backend!(conn, |c| arrived.get_result::<(bool, bool, bool)>(c).await)?;
    if favorites || memberships || interviews {
        return Ok(Finished::RowsArrived);
    }
    if let Conn::Pg(c) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(USER_DELETED_CHANNEL)
            .bind::<diesel::sql_types::Text, _>(subject)
            .execute(*c)
            .await?;
    }
    let delete = diesel::delete(users::table.find(user_id));
    on_backend!(conn, |c| delete.execute(c).await)?;
    Ok(Finished::Deleted)
}
