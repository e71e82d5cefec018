//! A client that disconnects while its request is inside a database
//! transaction. actix drops the request's future at whatever `.await` it
//! stood, so the pooled PostgreSQL connection comes back with a transaction
//! open; it must be discarded, never handed to the next request.
//!
//! (On SQLite a request's database work runs to its end on a blocking
//! thread whatever the client does, so there is no such state to test.)

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use favorites::db::Backend;

use crate::harness::{HeldLock, Options, TestApp, wait_until};

/// The pool's connections in the given state, from `/metrics`.
pub async fn pool_connections(app: &TestApp, state: &str) -> i64 {
    app.metric(&format!(
        "favorites_db_pool_connections{{state=\"{state}\"}}"
    ))
    .await
}

#[actix_web::test]
async fn postgres_cancelled_transaction_never_reaches_the_next_request() {
    // One pooled connection: whatever the cancelled request leaves behind is
    // what the next request gets, unless the pool discards it.
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            pool_size: 1,
            ..Options::default()
        },
    )
    .await;
    let author = app.token("cancel-author");
    let id = app.interview(&author, "original").await;

    // The test holds the interview's row lock, so the PATCH waits for it
    // inside its transaction (locking the row before its checks).
    let lock = HeldLock::take(
        &app,
        &format!("SELECT id FROM interviews WHERE id = {id} FOR UPDATE"),
    );

    let body = r#"{"title":"from the cancelled request"}"#;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut client = TcpStream::connect(&address).expect("connect to the server");
    write!(
        client,
        "PATCH /api/v1/interviews/{id} HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {author}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send the PATCH");
    wait_until("the PATCH waits for the row lock", async || {
        app.lock_waiters("%interviews%") == 1
    })
    .await;

    // The client goes away; the server drops the request mid-transaction.
    drop(client);
    wait_until("the request has given its connection back", async || {
        pool_connections(&app, "in_use").await == 0
    })
    .await;
    lock.release();

    // The next write commits on its own, at once: had the cancelled
    // request's connection gone back to the pool, the next write would either
    // run inside its open transaction or wait for the row lock it holds.
    app.send(
        app.request(
            reqwest::Method::PATCH,
            &format!("/api/v1/interviews/{id}"),
            Some(&author),
        )
        .json(&serde_json::json!({"title": "after the cancel"}))
        .timeout(Duration::from_secs(10)),
    )
    .await
    .assert_status(200);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM interviews WHERE id = {id} AND title = 'after the cancel'"
        )),
        1,
        "the next request's write is committed"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM interviews WHERE title = 'from the cancelled request'"
        ),
        0,
        "the cancelled request's write is not"
    );
    wait_until(
        "no session of the server is left inside a transaction",
        async || {
            app.count(
                "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND state LIKE 'idle in transaction%'",
            ) == 0
        },
    )
    .await;
}
