//! `Idempotency-Key` on `POST /interviews` and `POST /teams`: replay, reuse
//! with another body, a repeat while the first runs, concurrency, a second
//! instance on the same database, expiry and malformed keys.

use favorites::db::Backend;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::harness::{HeldLock, Options, Reply, TestApp, wait_until};

const INTERVIEWS: &str = "/api/v1/interviews";
const TEAMS: &str = "/api/v1/teams";

fn keyed(app: &TestApp, path: &str, token: &str, key: &str, body: &str) -> reqwest::RequestBuilder {
    app.request(Method::POST, path, Some(token))
        .header("idempotency-key", key)
        .header("content-type", "application/json")
        .body(body.to_owned())
}

fn replayed(reply: &Reply) -> bool {
    reply
        .headers
        .get("idempotent-replayed")
        .is_some_and(|value| value == "true")
}

fn count(app: &TestApp, table: &str) -> i64 {
    app.count(&format!("SELECT count(*) AS n FROM {table}"))
}

/// SQL for "`seconds` ago" in UTC on the app's backend, as stored timestamps are.
fn ago(app: &TestApp, seconds: i64) -> String {
    match app.backend {
        Backend::Postgres => {
            format!("(now() AT TIME ZONE 'UTC') - interval '{seconds} seconds'")
        }
        Backend::Sqlite => format!("strftime('%Y-%m-%d %H:%M:%f', 'now', '-{seconds} seconds')"),
    }
}

async fn a_repeat_replays_the_first_response(app: TestApp) {
    let ada = app.token("ada");
    for (path, body, same, table) in [
        (
            INTERVIEWS,
            r#"{"title": "once", "company": "Acme"}"#,
            "{ \"company\":\"Acme\",\n  \"title\" : \"once\" }",
            "interviews",
        ),
        (TEAMS, r#"{"name": "once"}"#, r#"{"name":"once"}"#, "teams"),
    ] {
        let key = format!("key-{table}");
        let first = app
            .send(keyed(&app, path, &ada, &key, body))
            .await
            .assert_status(201);
        assert!(!replayed(&first));
        let before = count(&app, table);
        // The same JSON, another key order and spacing: the same request.
        for repeat_body in [body, same] {
            let again = app
                .send(keyed(&app, path, &ada, &key, repeat_body))
                .await
                .assert_status(201);
            assert!(replayed(&again), "{path}: Idempotent-Replayed: true");
            assert_eq!(again.body, first.body, "{path}: the same body");
            assert_eq!(again.header("location"), first.header("location"));
            assert!(again.header("content-type").starts_with("application/json"));
        }
        assert_eq!(count(&app, table), before, "{path}: nothing created twice");
    }
    // Keys are per caller: bob's "key-interviews" is his own.
    let bob = app.token("bob");
    let his = app
        .send(keyed(
            &app,
            INTERVIEWS,
            &bob,
            "key-interviews",
            r#"{"title": "once", "company": "Acme"}"#,
        ))
        .await
        .assert_status(201);
    assert!(!replayed(&his));
    // Without a key, nothing changes: every POST creates.
    let before = count(&app, "interviews");
    for _ in 0..2 {
        app.call(
            Method::POST,
            INTERVIEWS,
            Some(&ada),
            Some(json!({"title": "unkeyed"})),
        )
        .await
        .assert_status(201);
    }
    assert_eq!(count(&app, "interviews"), before + 2);
}

async fn a_key_with_another_request_is_422(app: TestApp) {
    let ada = app.token("ada");
    app.send(keyed(&app, INTERVIEWS, &ada, "k", r#"{"title": "a"}"#))
        .await
        .assert_status(201);
    let counts = app.snapshot();
    let teams = count(&app, "teams");
    app.send(keyed(&app, INTERVIEWS, &ada, "k", r#"{"title": "b"}"#))
        .await
        .assert_problem(422, "idempotency_key_reused");
    app.send(keyed(&app, TEAMS, &ada, "k", r#"{"title": "a"}"#))
        .await
        .assert_problem(422, "idempotency_key_reused");
    assert_eq!(app.snapshot(), counts);
    assert_eq!(count(&app, "teams"), teams);
}

async fn a_failed_request_does_not_use_the_key_up(app: TestApp) {
    let ada = app.token("ada");
    app.send(keyed(
        &app,
        INTERVIEWS,
        &ada,
        "retry-me",
        r#"{"title": ""}"#,
    ))
    .await
    .assert_problem(400, "validation_failed");
    app.send(keyed(&app, INTERVIEWS, &ada, "retry-me", "not json"))
        .await
        .assert_problem(400, "invalid_body");
    assert_eq!(count(&app, "idempotency_keys"), 0, "the key was given back");
    let created = app
        .send(keyed(
            &app,
            INTERVIEWS,
            &ada,
            "retry-me",
            r#"{"title": "fixed"}"#,
        ))
        .await
        .assert_status(201);
    assert!(!replayed(&created));
    assert_eq!(created.body["title"], "fixed");
}

async fn a_repeat_while_the_first_runs_is_409_until_abandoned(app: TestApp) {
    let ada = app.token("ada");
    let body = r#"{"title": "slow"}"#;
    app.send(keyed(&app, INTERVIEWS, &ada, "running", body))
        .await
        .assert_status(201);
    // Make the stored key look like its request is still running.
    app.execute(&format!(
        "UPDATE idempotency_keys SET status = NULL, body = NULL, location = NULL, claimed_at = {}",
        ago(&app, 1)
    ));
    let counts = app.snapshot();
    let reply = app
        .send(keyed(&app, INTERVIEWS, &ada, "running", body))
        .await;
    reply.assert_problem(409, "idempotency_key_in_progress");
    assert_eq!(reply.header("retry-after"), "1");
    assert_eq!(app.snapshot(), counts);
    // A claim left unfinished for over a minute (its request died) is taken over.
    app.execute(&format!(
        "UPDATE idempotency_keys SET claimed_at = {}",
        ago(&app, 61)
    ));
    let taken = app
        .send(keyed(&app, INTERVIEWS, &ada, "running", body))
        .await
        .assert_status(201);
    assert!(!replayed(&taken));
    let again = app
        .send(keyed(&app, INTERVIEWS, &ada, "running", body))
        .await
        .assert_status(201);
    assert!(replayed(&again));
    assert_eq!(again.body, taken.body);
}

async fn sixteen_concurrent_posts_with_one_key_create_one(app: TestApp) {
    let ada = app.token("ada");
    app.user_id(&ada).await;
    let before = count(&app, "interviews");
    let replies = app
        .send_all((0..16).map(|_| keyed(&app, INTERVIEWS, &ada, "burst", r#"{"title": "burst"}"#)))
        .await;
    assert_eq!(
        count(&app, "interviews"),
        before + 1,
        "exactly one interview"
    );
    let created: Vec<&Reply> = replies.iter().filter(|reply| reply.status == 201).collect();
    assert!(!created.is_empty(), "{replies:?}");
    assert_eq!(
        created.iter().filter(|reply| !replayed(reply)).count(),
        1,
        "one creation, the others replays: {replies:?}"
    );
    for reply in &replies {
        match reply.status.as_u16() {
            201 => assert_eq!(reply.body, created[0].body),
            409 => reply.assert_problem(409, "idempotency_key_in_progress"),
            other => panic!("unexpected {other}: {reply:?}"),
        }
    }
}

async fn keys_are_shared_by_instances_and_survive_a_restart(app: TestApp) {
    let ada = app.token("ada");
    let body = r#"{"title": "shared"}"#;
    let first = app
        .send(keyed(&app, INTERVIEWS, &ada, "shared", body))
        .await
        .assert_status(201);
    // A second server on the same database (as after a restart, or beside it).
    let second = TestApp::spawn_with(
        app.backend,
        Options {
            database_url: Some(app.database.url.clone()),
            ..Options::default()
        },
    )
    .await;
    let replay = second
        .send(keyed(&second, INTERVIEWS, &ada, "shared", body))
        .await
        .assert_status(201);
    assert!(replayed(&replay));
    assert_eq!(replay.body, first.body);
}

async fn keys_expire_after_24_hours_and_are_purged(app: TestApp) {
    let ada = app.token("ada");
    let body = r#"{"title": "old"}"#;
    app.send(keyed(&app, INTERVIEWS, &ada, "old", body))
        .await
        .assert_status(201);
    app.send(keyed(
        &app,
        INTERVIEWS,
        &ada,
        "stale-other",
        r#"{"title": "x"}"#,
    ))
    .await
    .assert_status(201);
    let day = 24 * 3600;
    app.execute(&format!(
        "UPDATE idempotency_keys SET created_at = {}",
        ago(&app, day + 60)
    ));
    let before = count(&app, "interviews");
    let fresh = app
        .send(keyed(&app, INTERVIEWS, &ada, "old", body))
        .await
        .assert_status(201);
    assert!(!replayed(&fresh), "an expired key is a new request");
    assert_eq!(count(&app, "interviews"), before + 1);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM idempotency_keys WHERE idempotency_key = 'stale-other'"
        ),
        0,
        "expired keys are purged by the next keyed request"
    );
    assert_eq!(count(&app, "idempotency_keys"), 1);
}

async fn malformed_keys_are_400_invalid_header(app: TestApp) {
    let ada = app.token("ada");
    app.user_id(&ada).await;
    let counts = app.snapshot();
    let long = "k".repeat(256);
    for key in ["", long.as_str(), "tab\there"] {
        app.send(keyed(&app, INTERVIEWS, &ada, key, r#"{"title": "x"}"#))
            .await
            .assert_problem(400, "invalid_header");
    }
    let non_ascii = app
        .request(Method::POST, INTERVIEWS, Some(&ada))
        .header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes("clé".as_bytes()).unwrap(),
        )
        .json(&json!({"title": "x"}));
    app.send(non_ascii)
        .await
        .assert_problem(400, "invalid_header");
    let twice = app
        .request(Method::POST, INTERVIEWS, Some(&ada))
        .header("idempotency-key", "a")
        .header("idempotency-key", "b")
        .json(&json!({"title": "x"}));
    app.send(twice).await.assert_problem(400, "invalid_header");
    assert_eq!(app.snapshot(), counts);
    assert_eq!(count(&app, "idempotency_keys"), 0);
    // 255 printable characters, spaces included, are fine.
    let longest = format!("a b{}", "c".repeat(252));
    app.send(keyed(&app, INTERVIEWS, &ada, &longest, r#"{"title": "x"}"#))
        .await
        .assert_status(201);
}

both_backends!(
    a_repeat_replays_the_first_response,
    a_key_with_another_request_is_422,
    a_failed_request_does_not_use_the_key_up,
    a_repeat_while_the_first_runs_is_409_until_abandoned,
    sixteen_concurrent_posts_with_one_key_create_one,
    keys_are_shared_by_instances_and_survive_a_restart,
    keys_expire_after_24_hours_and_are_purged,
    malformed_keys_are_400_invalid_header,
);

/// A real overlap: the first request's creation waits (the test holds a
/// lock on `interviews` that every insert waits for), its key claimed; a
/// repeat then is 409, and after the first finishes, a replay.
#[actix_web::test]
async fn postgres_a_repeat_during_a_running_request_is_409() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let ada = app.token("ada");
    app.user_id(&ada).await;
    let body = r#"{"title": "overlapping"}"#;
    let lock = HeldLock::take(&app, "LOCK TABLE interviews IN SHARE MODE");
    let (first, ()) = futures::join!(
        app.send(keyed(&app, INTERVIEWS, &ada, "overlap", body)),
        async {
            wait_until("the first POST waits inside its creation", async || {
                app.lock_waiters("INSERT%interviews%") == 1
            })
            .await;
            app.send(keyed(&app, INTERVIEWS, &ada, "overlap", body))
                .await
                .assert_problem(409, "idempotency_key_in_progress");
            lock.release();
        }
    );
    let first = first.assert_status(201);
    assert!(!replayed(&first));
    let again = app
        .send(keyed(&app, INTERVIEWS, &ada, "overlap", body))
        .await
        .assert_status(201);
    assert!(replayed(&again));
    assert_eq!(again.body, first.body);
    assert_eq!(count(&app, "interviews"), 1);
}
