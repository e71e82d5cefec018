//! Users: created on their first authenticated request; deleted with their
//! account by [`accounts`](super::accounts).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::users;
use crate::on_backend;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub subject: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}

/// The user a token's subject names, created with `name` when it is new.
///
/// Idempotent and race-free: concurrent first requests of one subject insert
/// at most one row (`ON CONFLICT DO NOTHING` on the unique subject) and all
/// get that row. The name of an existing user is never changed.
pub async fn ensure(
    conn: &mut Conn<'_>,
    subject: &str,
    name: &str,
    now: NaiveDateTime,
) -> QueryResult<UserRow> {
    if let Some(user) = by_subject(conn, subject).await? {
        return Ok(user);
    }
    let new_user = (
        users::subject.eq(subject),
        users::name.eq(name),
        users::created_at.eq(now),
    );
    on_backend!(conn, |c| diesel::insert_into(users::table)
        .values(new_user)
        .on_conflict(users::subject)
        .do_nothing()
        .execute(c)
        .await)?;
    by_subject(conn, subject)
        .await?
        .ok_or(diesel::result::Error::NotFound)
}

/// The user a token's subject names, or `None` (never creates one).
pub async fn by_subject(conn: &mut Conn<'_>, subject: &str) -> QueryResult<Option<UserRow>> {
    on_backend!(conn, |c| {
        let query = users::table
            .filter(users::subject.eq(subject))
            .select(UserRow::as_select());
        query.first(c).await.optional()
    })
}

/// The user with this id, or `None`.
pub async fn find(conn: &mut Conn<'_>, id: i64) -> QueryResult<Option<UserRow>> {
    on_backend!(conn, |c| {
        let query = users::table.find(id).select(UserRow::as_select());
        query.first(c).await.optional()
    })
}

/// Whether a user with this id exists.
pub async fn exists(conn: &mut Conn<'_>, id: i64) -> QueryResult<bool> {
    let query = diesel::select(diesel::dsl::exists(users::table.find(id)));
    on_backend!(conn, |c| query.get_result(c).await)
}
