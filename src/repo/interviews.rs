//! Interviews: created, edited and deleted by their author; listed newest first.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::users::UserRow;
use super::{Cursor, Page, PageRequest, older_than};
use crate::db::schema::{favorite_interviews, interviews, users};
use crate::db::{Conn, write_transaction};
use crate::on_backend;
use crate::policy::{self, Refusal};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = interviews)]
pub struct InterviewRow {
    pub id: i64,
    pub author_id: i64,
    pub title: String,
    pub company: String,
    pub position: String,
    pub body: String,
    pub favorites_count: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// An interview with its author, as every representation needs both.
pub type InterviewWithAuthor = (InterviewRow, UserRow);

/// The fields a client writes; validated by the API before they get here.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = interviews)]
pub struct NewInterview {
    pub title: String,
    pub company: String,
    pub position: String,
    pub body: String,
}

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = interviews)]
pub struct InterviewChanges {
    pub title: Option<String>,
    pub company: Option<String>,
    pub position: Option<String>,
    pub body: Option<String>,
}

/// Creates an interview by `author_id` with no favorites; returns it with its author.
pub async fn create(
    conn: &mut Conn<'_>,
    author_id: i64,
    new: &NewInterview,
    now: NaiveDateTime,
) -> QueryResult<InterviewWithAuthor> {
    let insert = diesel::insert_into(interviews::table)
        .values((
            new,
            interviews::author_id.eq(author_id),
            interviews::favorites_count.eq(0),
            interviews::created_at.eq(now),
            interviews::updated_at.eq(now),
        ))
        .returning(interviews::id);
    let id: i64 = on_backend!(conn, |c| insert.get_result(c).await)?;
    find(conn, id).await?.ok_or(diesel::result::Error::NotFound)
}

/// The interview with this id and its author, or `None`.
pub async fn find(conn: &mut Conn<'_>, id: i64) -> QueryResult<Option<InterviewWithAuthor>> {
    on_backend!(conn, |c| {
        let query = interviews::table
            .inner_join(users::table)
            .filter(interviews::id.eq(id))
            .select((InterviewRow::as_select(), UserRow::as_select()));
        query.first(c).await.optional()
    })
}

/// The viewer's favorite of each interview row, as a left join on the
/// through table's primary key; a `NULL` (anonymous) viewer matches nothing.
#[diesel::dsl::auto_type]
fn viewers_favorite(viewer_id: Option<i64>) -> _ {
    favorite_interviews::table.on(favorite_interviews::interview_id
        .eq(interviews::id)
        .and(favorite_interviews::user_id.nullable().eq(viewer_id)))
}

/// Whether the viewer favorites an interview, from the joined row's
/// `favorite_interviews.user_id`: `None` for an anonymous viewer.
fn favorited(viewer_id: Option<i64>, favorite: Option<i64>) -> Option<bool> {
    viewer_id.map(|_| favorite.is_some())
}

/// The interview with its author and whether `viewer_id` favorites it
/// (`None` without a viewer), in one query; `None` when the interview does
/// not exist.
pub async fn find_for_viewer(
    conn: &mut Conn<'_>,
    id: i64,
    viewer_id: Option<i64>,
) -> QueryResult<Option<(InterviewWithAuthor, Option<bool>)>> {
    let row = on_backend!(conn, |c| {
        let query = interviews::table
            .inner_join(users::table)
            .left_join(viewers_favorite(viewer_id))
            .filter(interviews::id.eq(id))
            .select((
                InterviewRow::as_select(),
                UserRow::as_select(),
                favorite_interviews::user_id.nullable(),
            ));
        query
            .first::<(InterviewRow, UserRow, Option<i64>)>(c)
            .await
            .optional()
    })?;
    Ok(row
        .map(|(interview, author, favorite)| ((interview, author), favorited(viewer_id, favorite))))
}

/// The author of the interview with this id, or `None` when it does not exist.
pub async fn author_of(conn: &mut Conn<'_>, id: i64) -> QueryResult<Option<i64>> {
    let query = interviews::table.find(id).select(interviews::author_id);
    on_backend!(conn, |c| query.first(c).await.optional())
}

/// The first steps of both author-only writes, in the SPEC's order: the
/// interview exists (404), then [`policy::may_change_interview`] (403),
/// then the caller's precondition (`If-Match`, 412) on the interview as the
/// caller sees it. On PostgreSQL the row is locked first (`FOR NO KEY
/// UPDATE`, as the write would), so nothing changes it between the check
/// and the write; SQLite's write transaction holds the database already.
async fn check_author<E, P>(
    conn: &mut Conn<'_>,
    id: i64,
    caller_id: i64,
    precondition: Option<P>,
) -> Result<(), E>
where
    E: From<diesel::result::Error> + From<Refusal>,
    P: FnOnce(InterviewWithAuthor, Option<bool>) -> Result<(), E>,
{
    let query = interviews::table.find(id).select(interviews::author_id);
    let author_id = match conn {
        Conn::Pg(c) => query.for_no_key_update().first(*c).await.optional(),
        Conn::PgShared(c) => query.for_no_key_update().first(c).await.optional(),
        Conn::Sqlite(c) => query.first(*c).await.optional(),
    }?
    .ok_or(Refusal::missing("interview", id))?;
    policy::may_change_interview(id, author_id, caller_id)?;
    if let Some(precondition) = precondition {
        let (row, favorited) = find_for_viewer(conn, id, Some(caller_id))
            .await?
            .ok_or(diesel::result::Error::NotFound)?;
        precondition(row, favorited)?;
    }
    Ok(())
}

/// Edits the interview on behalf of `caller_id`, in one write transaction:
/// after the author check and the `precondition`, `changes` (the parsed
/// body; its error, a 400, is returned as it is) are applied and
/// `updated_at` bumped when any field is given. Returns the interview as the
/// caller now sees it.
pub async fn update<E, P>(
    conn: &mut Conn<'_>,
    id: i64,
    caller_id: i64,
    precondition: Option<P>,
    changes: Result<InterviewChanges, E>,
    now: NaiveDateTime,
) -> Result<(InterviewWithAuthor, Option<bool>), E>
where
    E: From<diesel::result::Error> + From<Refusal>,
    P: FnOnce(InterviewWithAuthor, Option<bool>) -> Result<(), E>,
{
    write_transaction(conn, async |conn| {
        check_author(conn, id, caller_id, precondition).await?;
        let changes = changes?;
        if changes.title.is_some()
            || changes.company.is_some()
            || changes.position.is_some()
            || changes.body.is_some()
        {
            let update = diesel::update(interviews::table.find(id))
                .set((&changes, interviews::updated_at.eq(now)));
            on_backend!(conn, |c| update.execute(c).await)?;
        }
        Ok(find_for_viewer(conn, id, Some(caller_id))
            .await?
            .ok_or(diesel::result::Error::NotFound)?)
    })
    .await
}

/// Deletes the interview on behalf of `caller_id` after the author check
/// and the `precondition`; its favorites go with it (`ON DELETE CASCADE`).
pub async fn delete<E, P>(
    conn: &mut Conn<'_>,
    id: i64,
    caller_id: i64,
    precondition: Option<P>,
) -> Result<(), E>
where
    E: From<diesel::result::Error> + From<Refusal>,
    P: FnOnce(InterviewWithAuthor, Option<bool>) -> Result<(), E>,
{
    write_transaction(conn, async |conn| {
        check_author(conn, id, caller_id, precondition).await?;
        let delete = diesel::delete(interviews::table.find(id));
        on_backend!(conn, |c| delete.execute(c).await)?;
        Ok(())
    })
    .await
}

/// Interviews newest first, optionally only those by `author_id` (an unknown
/// author yields an empty page), each with whether `viewer_id` favorites it
/// (`None` without a viewer). Keyset on (`created_at`, `id`), served by
/// `interviews_newest` / `interviews_by_author_newest` read backwards; the
/// viewer's favorites come in the same query, a left join on the through
/// table's primary key (a `NULL` viewer matches nothing).
pub async fn list(
    conn: &mut Conn<'_>,
    author_id: Option<i64>,
    viewer_id: Option<i64>,
    page: &PageRequest,
) -> QueryResult<Page<(InterviewWithAuthor, Option<bool>)>> {
    let rows = on_backend!(conn, |c| {
        let mut query = interviews::table
            .inner_join(users::table)
            .left_join(viewers_favorite(viewer_id))
            .select((
                InterviewRow::as_select(),
                UserRow::as_select(),
                favorite_interviews::user_id.nullable(),
            ))
            .order((interviews::created_at.desc(), interviews::id.desc()))
            .limit(page.fetch())
            .into_boxed();
        if let Some(author_id) = author_id {
            query = query.filter(interviews::author_id.eq(author_id));
        }
        let query = older_than!(query, interviews::created_at, interviews::id, page.after);
        query.load::<(InterviewRow, UserRow, Option<i64>)>(c).await
    })?;
    let page = page.page(rows, |(interview, ..)| Cursor {
        at: interview.created_at,
        id: interview.id,
    });
    Ok(page
        .map(|(interview, author, favorite)| ((interview, author), favorited(viewer_id, favorite))))
}
