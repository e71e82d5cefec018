//! Every list query of the repository, called for real on the heaviest and
//! on typical subjects of the seeded data, first page and after a cursor.

use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::BigInt;
use favorites::repo::memberships::{self, MembershipFilter};
use favorites::repo::{Cursor, Page, PageRequest, favorites as favorites_repo, interviews, teams};

use super::{ListQuery, Recorder, RepoConn, SqlConn, capture};

/// Pages of the API's default size; a typical (short) list gets short pages
/// so that it too has a second page to reach through a cursor.
fn first_page(limit: i64) -> PageRequest {
    PageRequest { limit, after: None }
}

fn after(limit: i64, next: Option<Cursor>, name: &str) -> PageRequest {
    PageRequest {
        limit,
        after: Some(next.unwrap_or_else(|| panic!("{name}: the seeded list has a second page"))),
    }
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The ids the list queries are asked about: the heaviest of each kind (the
/// longest lists) and a typical one.
struct Subjects {
    active_user: i64,
    typical_user: i64,
    popular_interview: i64,
    typical_interview: i64,
    prolific_author: i64,
    big_team: i64,
    joiner: i64,
    inviter: i64,
}

fn top_id(conn: &mut SqlConn, sql: &str) -> i64 {
    let query = sql_query(sql);
    let row: Id = match conn {
        SqlConn::Pg(c) => query.get_result(c),
        SqlConn::Sqlite(c) => query.get_result(c),
    }
    .unwrap_or_else(|error| panic!("{sql}: {error}"));
    row.id
}

fn subjects(conn: &mut SqlConn) -> Subjects {
    let most = |column: &str, table: &str| {
        format!(
            "SELECT {column} AS id FROM {table} WHERE {column} IS NOT NULL \
             GROUP BY {column} ORDER BY count(*) DESC, {column} LIMIT 1"
        )
    };
    let median = |column: &str, table: &str| {
        format!(
            "SELECT id FROM (SELECT {column} AS id, count(*) AS n FROM {table} GROUP BY {column}) counts \
             ORDER BY n, id LIMIT 1 OFFSET (SELECT count(DISTINCT {column}) / 2 FROM {table})"
        )
    };
    Subjects {
        active_user: top_id(conn, &most("user_id", "favorite_interviews")),
        typical_user: top_id(conn, &median("user_id", "favorite_interviews")),
        popular_interview: top_id(conn, &most("interview_id", "favorite_interviews")),
        typical_interview: top_id(conn, &median("interview_id", "favorite_interviews")),
        prolific_author: top_id(conn, &most("author_id", "interviews")),
        big_team: top_id(conn, &most("team_id", "team_memberships")),
        joiner: top_id(conn, &most("user_id", "team_memberships")),
        inviter: top_id(conn, &most("inviter_id", "team_memberships")),
    }
}

/// Calls every list function of the repository, first page and a page after
/// a real cursor, and returns the statements each one sent.
pub(super) fn list_queries(
    conn: &mut RepoConn,
    sql: &mut SqlConn,
    recorder: &Recorder,
) -> Vec<ListQuery> {
    let s = subjects(sql);
    let mut queries = Vec::new();
    let q = &mut queries;

    let limit = 20;
    for (label, author, viewer) in [
        ("all, anonymous", None, None),
        ("all, as the most active user", None, Some(s.active_user)),
        (
            "by author, as a typical user",
            Some(s.prolific_author),
            Some(s.typical_user),
        ),
    ] {
        let name = format!("list_interviews({label})");
        let page = capture(conn, recorder, q, format!("{name} first page"), async |c| {
            interviews::list(c, author, viewer, &first_page(limit)).await
        });
        capture(
            conn,
            recorder,
            q,
            format!("{name} after a cursor"),
            async |c| interviews::list(c, author, viewer, &after(limit, page.next, &name)).await,
        );
    }

    for (label, user, limit) in [
        ("most active", s.active_user, 20),
        ("typical", s.typical_user, 3),
    ] {
        let name = format!("list_favorites({label} user {user})");
        let page = capture(conn, recorder, q, format!("{name} first page"), async |c| {
            favorites_repo::list_favorites(c, user, Some(user), &first_page(limit)).await
        });
        capture(
            conn,
            recorder,
            q,
            format!("{name} after a cursor"),
            async |c| {
                favorites_repo::list_favorites(c, user, Some(user), &after(limit, page.next, &name))
                    .await
            },
        );
        // Another viewer's flags for the page: the second statement.
        let viewer = if user == s.typical_user {
            s.active_user
        } else {
            s.typical_user
        };
        capture(
            conn,
            recorder,
            q,
            format!("{name} as viewer {viewer}, after a cursor"),
            async |c| {
                favorites_repo::list_favorites(
                    c,
                    user,
                    Some(viewer),
                    &after(limit, page.next, &name),
                )
                .await
            },
        );
    }

    for (label, interview, limit) in [
        ("most popular", s.popular_interview, 20),
        ("typical", s.typical_interview, 3),
    ] {
        let name = format!("list_favorited_by({label} interview {interview})");
        let page = capture(conn, recorder, q, format!("{name} first page"), async |c| {
            favorites_repo::list_favorited_by(c, interview, &first_page(limit)).await
        });
        capture(
            conn,
            recorder,
            q,
            format!("{name} after a cursor"),
            async |c| {
                favorites_repo::list_favorited_by(c, interview, &after(limit, page.next, &name))
                    .await
            },
        );
    }

    let name = "list_teams";
    let page: Page<_> = capture(conn, recorder, q, format!("{name} first page"), async |c| {
        teams::list_teams(c, &first_page(limit)).await
    });
    capture(
        conn,
        recorder,
        q,
        format!("{name} after a cursor"),
        async |c| teams::list_teams(c, &after(limit, page.next, name)).await,
    );

    for which in [
        MembershipFilter::OfTeam(s.big_team),
        MembershipFilter::OfUser(s.joiner),
        MembershipFilter::InvitedBy(s.inviter),
    ] {
        let name = format!("list_memberships({which:?})");
        let page = capture(conn, recorder, q, format!("{name} first page"), async |c| {
            memberships::list_memberships(c, which, &first_page(limit)).await
        });
        capture(
            conn,
            recorder,
            q,
            format!("{name} after a cursor"),
            async |c| {
                memberships::list_memberships(c, which, &after(limit, page.next, &name)).await
            },
        );
    }
    queries
}
