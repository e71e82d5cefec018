//! Stored `Idempotency-Key`s: claim a key, complete it with the response to
//! replay, or release it when the request failed. One row per caller and
//! key (`idempotency_keys`); every instance on the database shares them.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::idempotency_keys as keys;
use crate::db::{Conn, write_transaction};
use crate::on_backend;

/// How long a stored response is replayed.
pub const KEPT_FOR: TimeDelta = TimeDelta::hours(24);
/// How long a claim may stay unfinished before another request with the
/// same key may take it over (its request died: a crash, a lost client).
pub const ABANDONED_AFTER: TimeDelta = TimeDelta::seconds(60);

/// A response stored for replay.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct StoredResponse {
    pub status: i32,
    pub location: Option<String>,
    pub body: String,
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Claim {
    /// The key is this request's: run it, then [`complete`] or [`release`]
    /// with this token.
    Claimed(String),
    /// The key's request finished; answer its response again.
    Replay(StoredResponse),
    /// The key was used with another request.
    Reused,
    /// The key's first request is still running.
    InProgress,
}

#[derive(Queryable)]
struct KeyRow {
    fingerprint: String,
    claimed_at: NaiveDateTime,
    claim: String,
    status: Option<i32>,
    location: Option<String>,
    body: Option<String>,
}

/// Claims `key` for `user_id`'s request `fingerprint`, in one write
/// transaction that first purges every key older than [`KEPT_FOR`] (so
/// expired keys go without a scheduled job; `idempotency_keys_created_at`
/// serves the purge).
pub async fn claim(
    conn: &mut Conn<'_>,
    user_id: i64,
    key: &str,
    fingerprint: &str,
    now: NaiveDateTime,
) -> QueryResult<Claim> {
    write_transaction(conn, async |conn| {
        let purge = diesel::delete(keys::table.filter(keys::created_at.lt(now - KEPT_FOR)));
        on_backend!(conn, |c| purge.execute(c).await)?;
        let token = uuid::Uuid::new_v4().to_string();
        let insert = diesel::insert_into(keys::table)
            .values((
                keys::user_id.eq(user_id),
                keys::idempotency_key.eq(key),
                keys::fingerprint.eq(fingerprint),
                keys::claim.eq(&token),
                keys::claimed_at.eq(now),
                keys::created_at.eq(now),
            ))
            .on_conflict_do_nothing();
        if on_backend!(conn, |c| insert.execute(c).await)? == 1 {
            return Ok(Claim::Claimed(token));
        }
        let row: Option<KeyRow> = on_backend!(conn, |c| {
            keys::table
                .find((user_id, key))
                .select((
                    keys::fingerprint,
                    keys::claimed_at,
                    keys::claim,
                    keys::status,
                    keys::location,
                    keys::body,
                ))
                .first(c)
                .await
                .optional()
        })?;
        // Gone between the insert and the read: its request just failed
        // and released it. The client may simply retry.
        let Some(row) = row else {
            return Ok(Claim::InProgress);
        };
        if row.fingerprint != fingerprint {
            return Ok(Claim::Reused);
        }
        if let (Some(status), Some(body)) = (row.status, row.body) {
            return Ok(Claim::Replay(StoredResponse {
                status,
                location: row.location,
                body,
            }));
        }
        if row.claimed_at > now - ABANDONED_AFTER {
            return Ok(Claim::InProgress);
        }
        let take_over = diesel::update(
            keys::table
                .find((user_id, key))
                .filter(keys::claim.eq(&row.claim))
                .filter(keys::status.is_null()),
        )
        .set((keys::claim.eq(&token), keys::claimed_at.eq(now)));
        Ok(match on_backend!(conn, |c| take_over.execute(c).await)? {
            1 => Claim::Claimed(token),
            _ => Claim::InProgress,
        })
    })
    .await
}

/// Stores the response of the request that holds `claim`; meant to run in
/// the transaction that made the response, so both commit or neither.
/// `false` when the claim was taken over meanwhile (the caller must then
/// roll back).
pub async fn complete(
    conn: &mut Conn<'_>,
    user_id: i64,
    key: &str,
    claim: &str,
    response: &StoredResponse,
) -> QueryResult<bool> {
    let update = diesel::update(
        keys::table
            .find((user_id, key))
            .filter(keys::claim.eq(claim))
            .filter(keys::status.is_null()),
    )
    .set((
        keys::status.eq(response.status),
        keys::location.eq(&response.location),
        keys::body.eq(&response.body),
    ));
    Ok(on_backend!(conn, |c| update.execute(c).await)? == 1)
}

/// Gives the key back after its request failed, so that a retry runs it.
pub async fn release(conn: &mut Conn<'_>, user_id: i64, key: &str, claim: &str) -> QueryResult<()> {
    let delete = diesel::delete(
        keys::table
            .find((user_id, key))
            .filter(keys::claim.eq(claim))
            .filter(keys::status.is_null()),
    );
    on_backend!(conn, |c| delete.execute(c).await)?;
    Ok(())
}
