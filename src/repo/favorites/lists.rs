//! The two lists of the favorites relation, one from each side, each over
//! the through table index that matches its order.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::{favorite_interviews, interviews, users};
use crate::on_backend;
use crate::repo::interviews::InterviewRow;
use crate::repo::users::UserRow;
use crate::repo::{Cursor, Page, PageRequest, older_than};

/// A favorite seen from the user's side: when, and the interview with its author.
pub type FavoriteOfUser = (NaiveDateTime, InterviewRow, UserRow);

/// list_favorites(user): what the user favorited, newest favorite first,
/// each with whether `viewer_id` favorites it too (`None` without a viewer;
/// `true` on the user's own list). Keyset on (`created_at`,
/// `interview_id`) over `favorite_interviews_by_user_newest`; the interview
/// and its author come in the same query, another viewer's flags in one
/// more query per page. An unknown user yields an empty page.
pub async fn list_favorites(
    conn: &mut Conn<'_>,
    user_id: i64,
    viewer_id: Option<i64>,
    page: &PageRequest,
) -> QueryResult<Page<(FavoriteOfUser, Option<bool>)>> {
    let rows = on_backend!(conn, |c| {
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
            .into_boxed();
        let query = older_than!(
            query,
            favorite_interviews::created_at,
            favorite_interviews::interview_id,
            page.after
        );
        query.load::<FavoriteOfUser>(c).await
    })?;
    let page = page.page(rows, |(at, interview, _)| Cursor {
        at: *at,
        id: interview.id,
    });
    let flags = match viewer_id {
        Some(viewer_id) if viewer_id != user_id => {
            let ids: Vec<i64> = page.rows.iter().map(|(_, row, _)| row.id).collect();
            Some(favorited_among(conn, viewer_id, &ids).await?)
        }
        _ => None,
    };
    Ok(page.map(|row| {
        let favorited = match (viewer_id, &flags) {
            (None, _) => None,
            (Some(_), Some(flags)) => Some(flags.contains(&row.1.id)),
            (Some(_), None) => Some(true),
        };
        (row, favorited)
    }))
}

/// Which of `interview_ids` the user has favorited: one indexed query per
/// page, never one per row.
async fn favorited_among(
    conn: &mut Conn<'_>,
    user_id: i64,
    interview_ids: &[i64],
) -> QueryResult<HashSet<i64>> {
    if interview_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let query = favorite_interviews::table
        .filter(favorite_interviews::user_id.eq(user_id))
        .filter(favorite_interviews::interview_id.eq_any(interview_ids))
        .select(favorite_interviews::interview_id);
    let ids: Vec<i64> = on_backend!(conn, |c| query.load(c).await)?;
    Ok(ids.into_iter().collect())
}

/// list_favorited_by(interview): who favorited it, newest first. Keyset on
/// (`created_at`, `user_id`) over `favorite_interviews_by_interview_newest`.
pub async fn list_favorited_by(
    conn: &mut Conn<'_>,
    interview_id: i64,
    page: &PageRequest,
) -> QueryResult<Page<(NaiveDateTime, UserRow)>> {
    let rows = on_backend!(conn, |c| {
        let query = favorite_interviews::table
            .inner_join(users::table)
            .filter(favorite_interviews::interview_id.eq(interview_id))
            .select((favorite_interviews::created_at, UserRow::as_select()))
            .order((
                favorite_interviews::created_at.desc(),
                favorite_interviews::user_id.desc(),
            ))
            .limit(page.fetch())
            .into_boxed();
        let query = older_than!(
            query,
            favorite_interviews::created_at,
            favorite_interviews::user_id,
            page.after
        );
        query.load::<(NaiveDateTime, UserRow)>(c).await
    })?;
    Ok(page.page(rows, |(at, user)| Cursor {
        at: *at,
        id: user.id,
    }))
}
