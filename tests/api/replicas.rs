//! Anonymous reads from a streaming replica (`DATABASE_REPLICA_URLS`), on a
//! primary and replica the test makes itself.

use favorites::db::Backend;
use reqwest::Method;
use serde_json::Value;

use crate::harness::{Options, TestApp, series_value, wait_until};
use crate::pgcluster::PgCluster;

async fn serve(cluster: &PgCluster, replica: String, max_lag: u64) -> TestApp {
    favorites::db::run_migrations(&cluster.primary.url()).expect("migrate the primary");
    TestApp::spawn_with(
        Backend::Postgres,
        Options {
            database_url: Some(cluster.primary.url()),
            replica_urls: vec![replica],
            replica_max_lag: Some(max_lag),
            ..Options::default()
        },
    )
    .await
}

async fn replica_state(app: &TestApp) -> String {
    let ready = app.get("/readyz", None).await.assert_status(200);
    ready.body["replicas"][0]["state"]
        .as_str()
        .expect("the replica's state")
        .to_owned()
}

async fn count_seen(app: &TestApp, token: Option<&str>, interview: i64) -> i64 {
    app.get(&format!("/api/v1/interviews/{interview}"), token)
        .await
        .assert_status(200)
        .body["favorites_count"]
        .as_i64()
        .expect("favorites_count")
}

async fn favorite(app: &TestApp, token: &str, interview: i64) {
    app.call(
        Method::PUT,
        &format!("/api/v1/favorites/{interview}"),
        Some(token),
        None,
    )
    .await
    .assert_status(201);
}

/// An interview favorited once, seen so by anonymous readers (the replica
/// has caught up).
async fn favorited_once(app: &TestApp) -> i64 {
    wait_until("the replica is usable", async || {
        replica_state(app).await == "usable"
    })
    .await;
    let ada = app.token("ada");
    let interview = app.interview(&ada, "Replicated").await;
    favorite(app, &ada, interview).await;
    wait_until("the replica has the favorite", async || {
        count_seen(app, None, interview).await == 1
    })
    .await;
    interview
}

fn reads_of(metrics: &Value, target: &str) -> u64 {
    let series = format!("favorites_db_reads_total{{target=\"{target}\"}}");
    series_value(metrics.as_str().expect("metrics text"), &series)
        .and_then(|value| u64::try_from(value).ok())
        .unwrap_or(0)
}

#[actix_web::test]
async fn postgres_anonymous_reads_come_from_the_replica_and_writers_read_their_own_writes() {
    let cluster = PgCluster::start();
    let app = serve(&cluster, cluster.replica.url(), 3600).await;
    let interview = favorited_once(&app).await;

    // Replay stops on the replica; Bob's favorite reaches the primary only.
    cluster.replica.execute("SELECT pg_wal_replay_pause()");
    let bob = app.token("bob");
    favorite(&app, &bob, interview).await;

    assert_eq!(
        count_seen(&app, Some(&bob), interview).await,
        2,
        "the writer reads the primary"
    );
    assert_eq!(
        count_seen(&app, None, interview).await,
        1,
        "anonymous reads the replica"
    );
    let by = app
        .get(
            &format!("/api/v1/interviews/{interview}/favorited-by"),
            None,
        )
        .await
        .assert_status(200);
    assert_eq!(by.body["items"].as_array().map(Vec::len), Some(1));
    let metrics = app.get("/metrics", None).await.body;
    let replica = format!("127.0.0.1:{}/postgres", cluster.replica.port);
    assert!(
        reads_of(&metrics, &replica) >= 2,
        "reads counted for the replica"
    );
    assert!(reads_of(&metrics, "primary") >= 1, "and for the primary");

    cluster.replica.execute("SELECT pg_wal_replay_resume()");
    wait_until("anonymous readers see the second favorite", async || {
        count_seen(&app, None, interview).await == 2
    })
    .await;
}

#[actix_web::test]
async fn postgres_a_lagging_or_stopped_replica_is_skipped_and_no_read_fails() {
    let cluster = PgCluster::start();
    let app = serve(&cluster, cluster.replica.url(), 1).await;
    let interview = favorited_once(&app).await;

    cluster.replica.execute("SELECT pg_wal_replay_pause()");
    favorite(&app, &app.token("bob"), interview).await;
    wait_until("the paused replica counts as lagging", async || {
        replica_state(&app).await == "lagging"
    })
    .await;
    assert_eq!(
        count_seen(&app, None, interview).await,
        2,
        "read from the primary"
    );

    cluster.replica.execute("SELECT pg_wal_replay_resume()");
    wait_until("the replica is usable again", async || {
        replica_state(&app).await == "usable"
    })
    .await;

    cluster.replica.stop_immediately();
    for _ in 0..50 {
        assert_eq!(count_seen(&app, None, interview).await, 2);
    }
    assert_eq!(replica_state(&app).await, "down");
}

#[actix_web::test]
async fn postgres_a_server_that_is_no_standby_serves_no_reads() {
    let cluster = PgCluster::start();
    let app = serve(&cluster, cluster.primary.url(), 5).await;
    wait_until("the check has run", async || {
        replica_state(&app).await == "not_a_standby"
    })
    .await;
    let interview = app.interview(&app.token("ada"), "X").await;
    assert_eq!(count_seen(&app, None, interview).await, 0);
    let metrics = app.get("/metrics", None).await.body;
    let replica = format!("127.0.0.1:{}/postgres", cluster.primary.port);
    assert_eq!(reads_of(&metrics, &replica), 0);
}
