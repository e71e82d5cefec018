//! Favorite writes reuse prepared statements: nothing for the database to
//! parse and plan again on each write.

use favorites::db::Backend;
use favorites::repo::{favorites as favorites_repo, interviews, users};

use super::{Recorder, capture, connect, connect_instrumented};
use crate::harness::TestDatabase;

/// Runs add, remove and toggle (each both ways) on an instrumented
/// connection and returns the statements diesel did not keep prepared,
/// transaction control aside: a favorite write must not make the database
/// parse and plan anything again.
fn uncached_favorite_writes(url: &str) -> Vec<String> {
    let mut setup = connect(url);
    let recorder = &Recorder::default();
    let mut instrumented = connect_instrumented(url, recorder);
    let now = favorites::repo::now();
    let author = users::ensure(&mut setup, "explain-author", "Author", now).expect("user");
    let fan = users::ensure(&mut setup, "explain-fan", "Fan", now).expect("user");
    let new = interviews::NewInterview {
        title: "Title".to_owned(),
        company: "Company".to_owned(),
        position: "Position".to_owned(),
        body: "Body".to_owned(),
    };
    let (interview, _) = interviews::create(&mut setup, author.id, &new, now).expect("interview");

    let conn = &mut instrumented;
    let mut queries = Vec::new();
    let q = &mut queries;
    let (user, id) = (fan.id, interview.id);
    capture(conn, recorder, q, "add_favorite (new)", |c| {
        favorites_repo::add_favorite(c, user, id, now)
    });
    capture(conn, recorder, q, "add_favorite (again)", |c| {
        favorites_repo::add_favorite(c, user, id, now)
    });
    capture(conn, recorder, q, "remove_favorite (present)", |c| {
        favorites_repo::remove_favorite(c, user, id)
    });
    capture(conn, recorder, q, "remove_favorite (absent)", |c| {
        favorites_repo::remove_favorite(c, user, id)
    });
    capture(conn, recorder, q, "toggle_favorite (on)", |c| {
        favorites_repo::toggle_favorite(c, user, id, now)
    });
    capture(conn, recorder, q, "toggle_favorite (off)", |c| {
        favorites_repo::toggle_favorite(c, user, id, now)
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
