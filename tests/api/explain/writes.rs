//! Favorite writes reuse prepared statements: nothing for the database to
//! parse and plan again on each write.

use favorites::db::Backend;
use favorites::repo::{favorites as favorites_repo, interviews, users};

use super::{Recorder, RepoConn, capture, connect_instrumented};
use crate::harness::TestDatabase;

/// Runs add, remove and toggle (each both ways) on an instrumented
/// connection and returns the statements diesel did not keep prepared,
/// transaction control aside: a favorite write must not make the database
/// parse and plan anything again.
fn uncached_favorite_writes(url: &str) -> Vec<String> {
    let mut setup = RepoConn::open(url);
    let recorder = &Recorder::default();
    let mut instrumented = connect_instrumented(url, recorder);
    let now = favorites::repo::now();
    let author = setup
        .run(async |c| users::ensure(c, "explain-author", "Author", now).await)
        .expect("user");
    let fan = setup
        .run(async |c| users::ensure(c, "explain-fan", "Fan", now).await)
        .expect("user");
    let new = interviews::NewInterview {
        title: "Title".to_owned(),
        company: "Company".to_owned(),
        position: "Position".to_owned(),
        body: "Body".to_owned(),
    };
    let (interview, _) = setup
        .run(async |c| interviews::create(c, author.id, &new, now).await)
        .expect("interview");

    let conn = &mut instrumented;
    let mut queries = Vec::new();
    let q = &mut queries;
    let (user, id) = (fan.id, interview.id);
    capture(conn, recorder, q, "add_favorite (new)", async |c| {
        favorites_repo::add_favorite(c, user, id, now).await
    });
    capture(conn, recorder, q, "add_favorite (again)", async |c| {
        favorites_repo::add_favorite(c, user, id, now).await
    });
    capture(conn, recorder, q, "remove_favorite (present)", async |c| {
        favorites_repo::remove_favorite(c, user, id).await
    });
    capture(conn, recorder, q, "remove_favorite (absent)", async |c| {
        favorites_repo::remove_favorite(c, user, id).await
    });
    capture(conn, recorder, q, "toggle_favorite (on)", async |c| {
        favorites_repo::toggle_favorite(c, user, id, now).await
    });
    capture(conn, recorder, q, "toggle_favorite (off)", async |c| {
        favorites_repo::toggle_favorite(c, user, id, now).await
    });
    for query in &mut queries {
        query.statements.retain(|statement| {
            !matches!(
                statement.sql_text().trim(),
                "BEGIN" | "BEGIN IMMEDIATE" | "COMMIT" | "ROLLBACK"
            )
        });
    }
    recorder.uncached(&queries)
}

/// Checks the favorite writes on a fresh database of `backend`.
pub(super) fn assert_favorite_writes_prepared(backend: Backend) {
    let database = TestDatabase::create(backend);
    let uncached = uncached_favorite_writes(&database.url);
    assert!(
        uncached.is_empty(),
        "not prepared statements:\n{}",
        uncached.join("\n")
    );
}
