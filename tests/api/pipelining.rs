//! Reads on PostgreSQL share a few connections per worker, and tokio-postgres
//! pipelines the queries of concurrent requests on them: each read must
//! still get its own answer, a read dropped half-way (its client went away)
//! must leave the ones queued behind it theirs, and a shared connection that
//! dies must fail only the reads on it, then be replaced.
//!
//! The test holds `LOCK TABLE interviews` so that reads pile up inside
//! PostgreSQL: the first on each shared connection waits for the lock, and
//! the ones sent after it wait in the connection's pipeline.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use favorites::db::Backend;
use reqwest::StatusCode;

use crate::harness::{HeldLock, Options, Reply, TestApp, requests_in_flight, wait_until};

const READS: usize = 12;

/// A server with one shared read connection per worker, and `READS + 1`
/// interviews with distinct titles.
async fn app_with_interviews() -> (TestApp, Vec<i64>) {
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            pool_size: 1,
            ..Options::default()
        },
    )
    .await;
    let author = app.token("pipeline-author");
    let mut ids = Vec::new();
    for k in 0..=READS {
        ids.push(app.interview(&author, &format!("interview {k}")).await);
    }
    (app, ids)
}

/// Anonymous reads of `ids`, all sent at once.
async fn read_all(app: &TestApp, ids: &[i64]) -> Vec<Reply> {
    app.send_all(ids.iter().map(|id| {
        app.client
            .get(app.url(&format!("/api/v1/interviews/{id}")))
            .timeout(Duration::from_secs(30))
    }))
    .await
}

fn lock_interviews(app: &TestApp) -> HeldLock {
    HeldLock::take(app, "LOCK TABLE interviews IN ACCESS EXCLUSIVE MODE")
}

#[actix_web::test]
async fn postgres_a_read_dropped_inside_the_pipeline_leaves_the_others_their_answers() {
    let (app, ids) = app_with_interviews().await;
    let lock = lock_interviews(&app);

    // A client sends a read and goes away while its query waits for the lock.
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut dropped = TcpStream::connect(&address).expect("connect to the server");
    write!(
        dropped,
        "GET /api/v1/interviews/{} HTTP/1.1\r\nHost: {address}\r\n\r\n",
        ids[0]
    )
    .expect("send the read");
    wait_until("the first read waits for the lock", async || {
        app.lock_waiters("%interviews%") >= 1
    })
    .await;
    let shared_backend = app.count(
        "SELECT min(pid)::bigint AS n FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND query LIKE '%interviews%'",
    );

    let queued = &ids[1..];
    let (replies, ()) = futures::join!(read_all(&app, queued), async {
        // Everything is in PostgreSQL's hands: a waiting query on each
        // shared connection, the rest pipelined behind them.
        wait_until("every read is in flight", async || {
            requests_in_flight(&app.client, &app.base).await == 1 + READS as i64
        })
        .await;
        drop(dropped);
        wait_until("the server has dropped the first read", async || {
            requests_in_flight(&app.client, &app.base).await == READS as i64
        })
        .await;
        lock.release();
    });

    for (k, reply) in replies.iter().enumerate() {
        assert_eq!(reply.status, StatusCode::OK, "read {k}: {}", reply.body);
        assert_eq!(
            reply.body["id"], queued[k],
            "read {k} got another request's answer"
        );
        assert_eq!(reply.body["title"], format!("interview {}", k + 1));
    }
    // The connections carry on: the dropped read cost none of them.
    let again = read_all(&app, &ids).await;
    assert!(again.iter().all(|reply| reply.status == StatusCode::OK));
    assert_eq!(again[0].body["id"], ids[0]);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = {shared_backend}"
        )),
        1,
        "the connection the dropped read was on is still open"
    );
}

#[actix_web::test]
async fn postgres_a_shared_connection_that_dies_fails_its_reads_and_is_replaced() {
    let (app, ids) = app_with_interviews().await;
    let lock = lock_interviews(&app);
    let (replies, ()) = futures::join!(read_all(&app, &ids), async {
        wait_until(
            "every read is in flight, one waiting for the lock",
            async || {
                requests_in_flight(&app.client, &app.base).await == 1 + READS as i64
                    && app.lock_waiters("%interviews%") >= 1
            },
        )
        .await;
        // The server's connections that wait for the lock are killed, with
        // the reads pipelined behind them; the others then go on.
        let killed = app.count(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
             AND query LIKE '%interviews%'",
        );
        assert!(killed >= 1, "a shared connection was waiting");
        lock.release();
    });

    let failed = replies
        .iter()
        .filter(|reply| reply.status != StatusCode::OK)
        .count();
    assert!(failed >= 1, "the reads on a killed connection fail");
    for reply in replies
        .iter()
        .filter(|reply| reply.status != StatusCode::OK)
    {
        reply.assert_problem(503, "unavailable");
    }
    // The next reads get new connections at once: none waits for a dead one.
    for round in 0..3 {
        let again = read_all(&app, &ids).await;
        for (k, reply) in again.iter().enumerate() {
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "round {round}, read {k}: {}",
                reply.body
            );
            assert_eq!(reply.body["id"], ids[k]);
        }
    }
}
