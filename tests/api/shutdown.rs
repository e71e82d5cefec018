//! Graceful shutdown of the real binary: requests in flight when SIGTERM
//! arrives complete with 2xx, and their writes are in the database.
//!
//! The requests are held in flight deterministically: the test itself holds
//! the lock they need (a row lock on PostgreSQL, the write lock on SQLite),
//! waits until the server reports them in flight, sends SIGTERM, waits for
//! the server to say it is shutting down, and only then lets them through.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use favorites::db::Backend;
use reqwest::{Method, StatusCode};

use crate::harness::{Server, TestDatabase, count_at, requests_in_flight, token};

const IN_FLIGHT: usize = 8;

/// The test's own hold on what the requests need.
enum Hold {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

impl Hold {
    fn take(backend: Backend, url: &str, interview_id: i64) -> Hold {
        match backend {
            Backend::Postgres => {
                let mut conn = PgConnection::establish(url).unwrap();
                conn.batch_execute(&format!(
                    "BEGIN; SELECT id FROM interviews WHERE id = {interview_id} FOR UPDATE;"
                ))
                .unwrap();
                Hold::Pg(conn)
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(url).unwrap();
                conn.batch_execute("BEGIN IMMEDIATE;").unwrap();
                Hold::Sqlite(conn)
            }
        }
    }

    fn release(self) {
        match self {
            Hold::Pg(mut conn) => conn.batch_execute("COMMIT").unwrap(),
            Hold::Sqlite(mut conn) => conn.batch_execute("COMMIT").unwrap(),
        }
    }
}

async fn sigterm_drains_requests_in_flight(backend: Backend) {
    let database = TestDatabase::create(backend);
    // No load-balancer drain here (the tests below have it): SIGTERM goes
    // straight to the graceful stop this test is about.
    let server = Server::start_with(&database.url, &[("SHUTDOWN_DRAIN_SECONDS", "0")]);
    let client = reqwest::Client::new();

    let author = token("author");
    let created: serde_json::Value = client
        .post(format!("{}/api/v1/interviews", server.base))
        .bearer_auth(&author)
        .json(&serde_json::json!({"title": "Shutdown"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let interview_id = created["id"].as_i64().unwrap();
    let fans: Vec<String> = (0..IN_FLIGHT).map(|i| token(&format!("fan-{i}"))).collect();
    for fan in &fans {
        let status = client
            .get(format!("{}/api/v1/me", server.base))
            .bearer_auth(fan)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK);
    }

    let hold = Hold::take(backend, &database.url, interview_id);
    let requests: Vec<_> = fans
        .iter()
        .map(|fan| {
            let request = client
                .request(
                    Method::PUT,
                    format!("{}/api/v1/favorites/{interview_id}", server.base),
                )
                .bearer_auth(fan)
                .send();
            actix_web::rt::spawn(request)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while requests_in_flight(&client, &server.base).await < IN_FLIGHT as i64 {
        assert!(
            Instant::now() < deadline,
            "the requests never reached the server"
        );
    }

    server.signal("-TERM");
    server.wait_for_log("graceful shutdown");
    hold.release();

    for request in requests {
        let response = request
            .await
            .unwrap()
            .expect("an in-flight request is answered");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let mut server = server;
    let status = server.wait();
    assert!(status.success(), "the server exits cleanly: {status}");

    let rows = count_at(
        backend,
        &database.url,
        &format!(
            "SELECT count(*) AS n FROM favorite_interviews WHERE interview_id = {interview_id}"
        ),
    );
    assert_eq!(
        rows, IN_FLIGHT as i64,
        "every drained write is in the database"
    );
}

#[actix_web::test]
async fn sqlite_sigterm_drains_requests_in_flight() {
    sigterm_drains_requests_in_flight(Backend::Sqlite).await;
}

#[actix_web::test]
async fn postgres_sigterm_drains_requests_in_flight() {
    sigterm_drains_requests_in_flight(Backend::Postgres).await;
}

async fn status_of(url: String) -> StatusCode {
    // A new client each time: a new connection, as a load balancer's check.
    reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("the server answers")
        .status()
}

#[actix_web::test]
async fn sigterm_first_fails_readiness_and_serves_on_until_the_drain_ends() {
    let database = TestDatabase::create(Backend::Sqlite);
    // A drain longer than any test: it ends here by a second SIGTERM.
    let mut server = Server::start_with(&database.url, &[("SHUTDOWN_DRAIN_SECONDS", "300")]);
    let base = server.base.clone();
    assert_eq!(status_of(format!("{base}/readyz")).await, StatusCode::OK);

    server.signal("-TERM");
    server.wait_for_log("serving on for the drain");
    assert_eq!(
        status_of(format!("{base}/readyz")).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "a load balancer's check fails at once"
    );
    assert_eq!(status_of(format!("{base}/healthz")).await, StatusCode::OK);
    let created = reqwest::Client::new()
        .post(format!("{base}/api/v1/interviews"))
        .bearer_auth(token("late"))
        .json(&serde_json::json!({"title": "during the drain"}))
        .send()
        .await
        .expect("new connections are still served");
    assert_eq!(created.status(), StatusCode::CREATED);

    server.signal("-TERM");
    server.wait_for_log("graceful shutdown");
    let status = server.wait();
    assert!(status.success(), "the server exits cleanly: {status}");
}

#[actix_web::test]
async fn the_drain_ends_by_itself() {
    let database = TestDatabase::create(Backend::Sqlite);
    let mut server = Server::start_with(&database.url, &[("SHUTDOWN_DRAIN_SECONDS", "1")]);
    server.signal("-TERM");
    server.wait_for_log("serving on for the drain");
    server.wait_for_log("graceful shutdown");
    assert!(server.wait().success());
}

#[actix_web::test]
async fn sigint_skips_the_drain() {
    let database = TestDatabase::create(Backend::Sqlite);
    // Were SIGINT to drain, "graceful shutdown" would come 300 s later and
    // wait_for_log would fail after its 30 s.
    let mut server = Server::start_with(&database.url, &[("SHUTDOWN_DRAIN_SECONDS", "300")]);
    server.signal("-INT");
    server.wait_for_log("graceful shutdown");
    assert!(server.wait().success());
}
