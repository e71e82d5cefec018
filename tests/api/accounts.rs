//! Accounts that leave: `DELETE /me` with exact counters, the teams and
//! memberships it leaves behind, identities no instance keeps serving, the
//! races, and `GET /me/export`.

use std::io::Write;
use std::net::TcpStream;

use favorites::db::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::cancellation::pool_connections;
use crate::harness::{HeldLock, Options, Reply, Server, TestApp, wait_until};

fn counters_are_exact(app: &TestApp) {
    app.assert_counter_matches_rows(
        "interviews",
        "favorites_count",
        "favorite_interviews",
        "interview_id",
    );
    app.assert_counter_matches_rows("teams", "members_count", "team_memberships", "team_id");
}

/// Rows anywhere that still point at user `id`.
fn rows_referring_to(app: &TestApp, id: i64) -> i64 {
    app.count(&format!(
        "SELECT (SELECT count(*) FROM users WHERE id = {id}) \
         + (SELECT count(*) FROM favorite_interviews WHERE user_id = {id}) \
         + (SELECT count(*) FROM interviews WHERE author_id = {id}) \
         + (SELECT count(*) FROM team_memberships WHERE user_id = {id} OR inviter_id = {id}) \
         + (SELECT count(*) FROM teams WHERE created_by = {id}) \
         + (SELECT count(*) FROM idempotency_keys WHERE user_id = {id}) AS n"
    ))
}

async fn delete_me(app: &TestApp, token: &str) -> Reply {
    app.call(Method::DELETE, "/api/v1/me", Some(token), None)
        .await
}

async fn team(app: &TestApp, token: &str, name: &str) -> i64 {
    app.call(
        Method::POST,
        "/api/v1/teams",
        Some(token),
        Some(json!({"name": name})),
    )
    .await
    .assert_status(201)
    .body["id"]
        .as_i64()
        .expect("team id")
}

async fn add(app: &TestApp, token: &str, team: i64, user: i64, status: u16) {
    app.call(
        Method::PUT,
        &format!("/api/v1/teams/{team}/members/{user}"),
        Some(token),
        Some(json!({"reason": "test"})),
    )
    .await
    .assert_status(status);
}

async fn favorite(app: &TestApp, token: &str, interview: i64) {
    let status = app
        .call(
            Method::PUT,
            &format!("/api/v1/favorites/{interview}"),
            Some(token),
            None,
        )
        .await
        .status;
    assert!(status.is_success(), "PUT favorite: {status}");
}

fn count_of(app: &TestApp, table: &str, column: &str, id: i64) -> i64 {
    app.count(&format!(
        "SELECT {column} AS n FROM {table} WHERE id = {id}"
    ))
}

/// `n` interviews by `author`, created a second apart, straight in SQL.
fn seed_interviews(app: &TestApp, author: i64, n: usize) {
    let sql = match app.backend {
        Backend::Postgres => format!(
            "INSERT INTO interviews (author_id, title, created_at, updated_at) \
             SELECT {author}, 'seeded ' || g, \
                    localtimestamp - g * interval '1 second', localtimestamp \
             FROM generate_series(1, {n}) g"
        ),
        Backend::Sqlite => format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n}) \
             INSERT INTO interviews (author_id, title, created_at, updated_at) \
             SELECT {author}, 'seeded ' || n, \
                    strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || n || ' seconds'), \
                    strftime('%Y-%m-%d %H:%M:%f', 'now') \
             FROM g"
        ),
    };
    app.execute(&sql);
}

/// `fan` favorites every interview by `author`, straight in SQL, with the
/// counters set to match.
fn seed_favorites(app: &TestApp, fan: i64, author: i64) {
    app.execute(&format!(
        "INSERT INTO favorite_interviews (user_id, interview_id, created_at) \
         SELECT {fan}, id, created_at FROM interviews WHERE author_id = {author}"
    ));
    app.execute(
        "UPDATE interviews SET favorites_count = \
         (SELECT count(*) FROM favorite_interviews f WHERE f.interview_id = interviews.id)",
    );
}

async fn deletion_moves_every_counter_and_leaves_nothing_behind(app: TestApp) {
    let (ada, bob, cy) = (app.token("ada"), app.token("bob"), app.token("cy"));
    let (ada_id, bob_id, cy_id) = (
        app.user_id(&ada).await,
        app.user_id(&bob).await,
        app.user_id(&cy).await,
    );
    let x = app.interview(&bob, "X").await;
    let y = app.interview(&bob, "Y").await;
    let z = app.interview(&ada, "Z").await;
    for interview in [x, y, z] {
        favorite(&app, &ada, interview).await;
    }
    favorite(&app, &bob, x).await;
    favorite(&app, &bob, z).await;
    favorite(&app, &cy, z).await;
    // Bob's team: Ada added by Bob, Cy added by Ada.
    let bobs = team(&app, &bob, "Bob's").await;
    add(&app, &bob, bobs, ada_id, 201).await;
    add(&app, &ada, bobs, cy_id, 201).await;
    // Ada's team: Bob added by Ada.
    let adas = team(&app, &ada, "Ada's").await;
    add(&app, &ada, adas, bob_id, 201).await;
    app.send(
        app.request(Method::POST, "/api/v1/interviews", Some(&ada))
            .header("Idempotency-Key", "k1")
            .json(&json!({"title": "keyed"})),
    )
    .await
    .assert_status(201);

    delete_me(&app, &ada).await.assert_status(204);

    assert_eq!(rows_referring_to(&app, ada_id), 0);
    counters_are_exact(&app);
    assert_eq!(count_of(&app, "interviews", "favorites_count", x), 1);
    assert_eq!(count_of(&app, "interviews", "favorites_count", y), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM interviews"), 2);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM favorite_interviews WHERE interview_id = {z}"
        )),
        0,
        "the favorites others made of Ada's interview went with it"
    );
    assert_eq!(count_of(&app, "teams", "members_count", bobs), 2);
    assert_eq!(count_of(&app, "teams", "members_count", adas), 1);
    app.get(&format!("/api/v1/users/{ada_id}"), None)
        .await
        .assert_status(404);

    // Through the API: Cy's membership keeps Cy with no inviter; Ada's team
    // stays, without a creator.
    let cys = app
        .get(&format!("/api/v1/users/{cy_id}/teams"), None)
        .await
        .assert_status(200);
    assert_eq!(cys.body["items"][0]["inviter"], Value::Null);
    assert_eq!(cys.body["items"][0]["team"]["id"], bobs);
    let adas_team = app
        .get(&format!("/api/v1/teams/{adas}"), None)
        .await
        .assert_status(200);
    assert_eq!(adas_team.body["created_by"], Value::Null);
    assert_eq!(adas_team.body["members_count"], 1);
    let members = app
        .get(&format!("/api/v1/teams/{adas}/members"), None)
        .await
        .assert_status(200);
    assert_eq!(members.body["items"][0]["team"]["created_by"], Value::Null);
    assert_eq!(members.body["items"][0]["inviter"], Value::Null);
}

async fn a_team_without_its_creator_belongs_to_its_members(app: TestApp) {
    let (ada, bob, dee, eve) = (
        app.token("ada"),
        app.token("bob"),
        app.token("dee"),
        app.token("eve"),
    );
    let bob_id = app.user_id(&bob).await;
    let dee_id = app.user_id(&dee).await;
    let eve_id = app.user_id(&eve).await;
    let team_id = team(&app, &ada, "orphaned").await;
    add(&app, &ada, team_id, bob_id, 201).await;
    delete_me(&app, &ada).await.assert_status(204);

    // A member may still add; someone outside may not.
    add(&app, &bob, team_id, dee_id, 201).await;
    add(&app, &eve, team_id, eve_id, 403).await;
    // Removal is the member themself only: nobody holds the creator's right.
    let remove = async |token: &str, user: i64| {
        app.call(
            Method::DELETE,
            &format!("/api/v1/teams/{team_id}/members/{user}"),
            Some(token),
            None,
        )
        .await
    };
    remove(&bob, dee_id).await.assert_problem(403, "forbidden");
    remove(&dee, dee_id).await.assert_status(204);
    assert_eq!(count_of(&app, "teams", "members_count", team_id), 1);
    counters_are_exact(&app);
}

async fn the_next_request_starts_a_new_empty_account(app: TestApp) {
    let ada = app.token("ada");
    let bob = app.token("bob");
    let interview = app.interview(&bob, "X").await;
    let old = app
        .get("/api/v1/me", Some(&ada))
        .await
        .assert_status(200)
        .body;
    favorite(&app, &ada, interview).await;
    delete_me(&app, &ada).await.assert_status(204);

    let new = app
        .get("/api/v1/me", Some(&ada))
        .await
        .assert_status(200)
        .body;
    assert_ne!(new["id"], old["id"]);
    assert_eq!(new["name"], old["name"]);
    let favorites = app
        .get("/api/v1/favorites", Some(&ada))
        .await
        .assert_status(200);
    assert_eq!(favorites.body["items"], json!([]));
    let state = app
        .get(&format!("/api/v1/favorites/{interview}"), Some(&ada))
        .await
        .assert_status(200);
    assert_eq!(state.body["favorited"], false);
    assert_eq!(state.body["favorites_count"], 0);

    // Deleting an account that does not exist is 204 and creates none.
    let cy = app.token("cy");
    delete_me(&app, &cy).await.assert_status(204);
    delete_me(&app, &cy).await.assert_status(204);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE subject = 'cy'"),
        0
    );
}

/// Ada deletes her account through `app` while `other`, another instance on
/// the same database, has her cached; her next write through `other` must
/// land under a new user, never fail nor reach the deleted id.
async fn write_through_the_other_instance(app: &TestApp, other: &str, ada: &str) -> (i64, i64) {
    let bob = app.token("bob");
    let first = app.interview(&bob, "first").await;
    let second = app.interview(&bob, "second").await;
    let client = reqwest::Client::new();
    let put = async |interview: i64| {
        client
            .put(format!("{other}/api/v1/favorites/{interview}"))
            .bearer_auth(ada)
            .send()
            .await
            .expect("the other instance answers")
    };
    assert_eq!(put(first).await.status(), StatusCode::CREATED);
    let old_id = app.count("SELECT id AS n FROM users WHERE subject = 'ada'");

    delete_me(app, ada).await.assert_status(204);
    let reply = put(second).await;
    assert_eq!(
        reply.status(),
        StatusCode::CREATED,
        "{:?}",
        reply.text().await
    );
    let new_id = app.count("SELECT id AS n FROM users WHERE subject = 'ada'");
    assert_ne!(new_id, old_id);
    assert_eq!(rows_referring_to(app, old_id), 0);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM favorite_interviews WHERE user_id = {new_id} AND interview_id = {second}"
        )),
        1
    );
    counters_are_exact(app);
    (first, new_id)
}

#[actix_web::test]
async fn sqlite_a_second_instance_with_a_stale_cache_writes_under_a_new_user() {
    // SQLite has no notifications: the other instance still has Ada cached
    // when she writes through it, so this is the write that meets the
    // deleted id (a foreign-key failure) and resolves her again.
    let app = TestApp::spawn(Backend::Sqlite).await;
    let other = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            database_url: Some(app.database.url.clone()),
            ..Options::default()
        },
    )
    .await;
    let ada = app.token("ada");
    write_through_the_other_instance(&app, &other.base, &ada).await;
}

#[actix_web::test]
async fn postgres_two_processes_forget_a_deleted_user() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let other = Server::start(&app.database.url);
    other.wait_for_log("listening for notifications");
    let ada = app.token("ada");
    let (first, _) = write_through_the_other_instance(&app, &other.base, &ada).await;

    // Reads too. The other process has Ada's second account cached (its
    // write resolved her again); she deletes that one here, and her third
    // favorites `first` here. Only by hearing of the deletion (NOTIFY) can
    // the other process show the third account's state rather than read
    // on under the second's id.
    delete_me(&app, &ada).await.assert_status(204);
    favorite(&app, &ada, first).await;
    let new_id = app.count("SELECT id AS n FROM users WHERE subject = 'ada'");
    let client = reqwest::Client::new();
    wait_until("the other process shows Ada's new account", async || {
        let state: Value = client
            .get(format!("{}/api/v1/favorites/{first}", other.base))
            .bearer_auth(&ada)
            .send()
            .await
            .expect("the other process answers")
            .json()
            .await
            .expect("json");
        state["favorited"] == true
    })
    .await;
    let me: Value = client
        .get(format!("{}/api/v1/me", other.base))
        .bearer_auth(&ada)
        .send()
        .await
        .expect("the other process answers")
        .json()
        .await
        .expect("json");
    assert_eq!(me["id"], new_id);
}

async fn deletion_races_with_every_writer(app: TestApp) {
    // Ada favorites 250 interviews (three batches) and is in three teams;
    // while her account is deleted, she goes on writing from another device,
    // eight other users toggle the same interviews and team members add
    // people to her teams: 32 writers at once.
    let ada = app.token("ada");
    let bob = app.token("bob");
    let ada_id = app.user_id(&ada).await;
    let bob_id = app.user_id(&bob).await;
    seed_interviews(&app, bob_id, 250);
    seed_favorites(&app, ada_id, bob_id);
    let interviews: Vec<i64> = (0..250)
        .map(|i| {
            app.count(&format!(
                "SELECT id AS n FROM interviews ORDER BY id LIMIT 1 OFFSET {i}"
            ))
        })
        .collect();
    let mut teams = Vec::new();
    for name in ["t1", "t2", "t3"] {
        let team_id = team(&app, &bob, name).await;
        add(&app, &bob, team_id, ada_id, 201).await;
        teams.push(team_id);
    }
    let fans: Vec<String> = (0..8).map(|i| app.token(&format!("fan{i}"))).collect();
    let mut newcomers = Vec::new();
    for i in 0..8 {
        newcomers.push(app.user_id(&app.token(&format!("new{i}"))).await);
    }
    for fan in &fans {
        app.user_id(fan).await;
    }

    let mut requests = vec![
        app.request(Method::DELETE, "/api/v1/me", Some(&ada)),
        app.request(Method::DELETE, "/api/v1/me", Some(&ada)),
    ];
    for i in 0..10 {
        let interview = interviews[i * 25];
        requests.push(app.request(
            Method::POST,
            &format!("/api/v1/favorites/{interview}/toggle"),
            Some(&ada),
        ));
    }
    for (i, fan) in fans.iter().enumerate() {
        let interview = interviews[i * 30 + 7];
        requests.push(app.request(
            Method::POST,
            &format!("/api/v1/favorites/{interview}/toggle"),
            Some(fan),
        ));
        requests.push(app.request(
            Method::PUT,
            &format!("/api/v1/favorites/{}", interviews[249 - i]),
            Some(fan),
        ));
    }
    for (i, newcomer) in newcomers.iter().take(4).enumerate() {
        requests.push(app.request(
            Method::PUT,
            &format!("/api/v1/teams/{}/members/{newcomer}", teams[i % 3]),
            Some(&bob),
        ));
    }
    assert_eq!(requests.len(), 32);
    let replies = app.send_all(requests).await;
    for reply in &replies {
        assert!(
            reply.status.is_success(),
            "every racing write succeeds: {} {}",
            reply.status,
            reply.body
        );
    }
    delete_me(&app, &ada).await.assert_status(204);
    assert_eq!(rows_referring_to(&app, ada_id), 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE subject = 'ada'"),
        0
    );
    counters_are_exact(&app);
}

async fn export_holds_everything_about_the_caller(app: TestApp) {
    let (ada, bob, cy) = (app.token("ada"), app.token("bob"), app.token("cy"));
    let (ada_id, bob_id, cy_id) = (
        app.user_id(&ada).await,
        app.user_id(&bob).await,
        app.user_id(&cy).await,
    );
    // More favorites than two of the export's internal pages.
    seed_interviews(&app, bob_id, 1_200);
    seed_favorites(&app, ada_id, bob_id);
    let own = app.interview(&ada, "Ada's own").await;
    let bobs = team(&app, &bob, "Bob's").await;
    add(&app, &bob, bobs, ada_id, 201).await;
    add(&app, &ada, bobs, cy_id, 201).await;

    let response = app
        .request(Method::GET, "/api/v1/me/export", Some(&ada))
        .send()
        .await
        .expect("the export");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.get("etag").is_none(), "a stream is not tagged");
    assert!(
        headers.get("content-length").is_none(),
        "streamed, not built in memory first"
    );
    let export: Value = response
        .json()
        .await
        .expect("the export is one JSON document");

    assert_eq!(export["user"]["id"], ada_id);
    assert_eq!(export["user"]["name"], "ada");
    assert!(export["exported_at"].is_string());
    let interviews = export["interviews"].as_array().expect("interviews");
    assert_eq!(interviews.len(), 1);
    assert_eq!(interviews[0]["id"], own);
    let favorites = export["favorites"].as_array().expect("favorites");
    assert_eq!(favorites.len(), 1_200);
    assert!(
        favorites
            .windows(2)
            .all(|pair| pair[0]["favorited_at"].as_str() >= pair[1]["favorited_at"].as_str()),
        "newest favorite first"
    );
    let distinct: std::collections::HashSet<_> = favorites
        .iter()
        .map(|favorite| favorite["interview"]["id"].as_i64())
        .collect();
    assert_eq!(distinct.len(), 1_200, "no row twice across pages");
    let memberships = export["memberships"].as_array().expect("memberships");
    assert_eq!(memberships.len(), 1);
    assert_eq!(memberships[0]["team"]["id"], bobs);
    assert_eq!(memberships[0]["inviter"]["id"], bob_id);
    assert_eq!(memberships[0]["reason"], "test");
    assert!(memberships[0]["joined_date"].is_string());
    let invitations = export["invitations"].as_array().expect("invitations");
    assert_eq!(invitations.len(), 1);
    assert_eq!(invitations[0]["user"]["id"], cy_id);

    // Nothing about anyone else's account.
    let bobs_export = app
        .get("/api/v1/me/export", Some(&bob))
        .await
        .assert_status(200);
    assert_eq!(bobs_export.body["favorites"], json!([]));
    assert_eq!(
        bobs_export.body["interviews"].as_array().map(Vec::len),
        Some(1_200)
    );
    app.get("/api/v1/me/export", None)
        .await
        .assert_problem(401, "unauthorized");
}

both_backends!(
    deletion_moves_every_counter_and_leaves_nothing_behind,
    a_team_without_its_creator_belongs_to_its_members,
    the_next_request_starts_a_new_empty_account,
    deletion_races_with_every_writer,
    export_holds_everything_about_the_caller,
);

#[actix_web::test]
async fn postgres_an_interrupted_deletion_is_finished_by_the_next() {
    // Ada favorites 250 interviews. The test holds the row lock of one in
    // her second batch, so the deletion stops there; her client goes away.
    // The first batch stays done, every counter is exact, and the next
    // DELETE /me finishes the job.
    let app = TestApp::spawn(Backend::Postgres).await;
    let ada = app.token("ada");
    let ada_id = app.user_id(&ada).await;
    let bob_id = app.user_id(&app.token("bob")).await;
    seed_interviews(&app, bob_id, 250);
    seed_favorites(&app, ada_id, bob_id);
    let in_second_batch =
        app.count("SELECT id AS n FROM interviews ORDER BY id LIMIT 1 OFFSET 150");
    let lock = HeldLock::take(
        &app,
        &format!("SELECT id FROM interviews WHERE id = {in_second_batch} FOR UPDATE"),
    );

    let address = app.base.trim_start_matches("http://").to_owned();
    let mut client = TcpStream::connect(&address).expect("connect to the server");
    write!(
        client,
        "DELETE /api/v1/me HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ada}\r\n\r\n"
    )
    .expect("send the DELETE");
    wait_until("the deletion waits for the held row", async || {
        app.lock_waiters("%interviews%") == 1
    })
    .await;
    drop(client);
    // The server drops the request and closes its connection; PostgreSQL
    // rolls the open batch back when that session ends (once the lock it
    // waits for is free: a waiting backend does not watch its socket).
    wait_until("the request has given its connection back", async || {
        pool_connections(&app, "in_use").await == 0
    })
    .await;
    lock.release();

    let left = app.count(&format!(
        "SELECT count(*) AS n FROM favorite_interviews WHERE user_id = {ada_id}"
    ));
    assert_eq!(
        left, 150,
        "the first batch of 100 stays done, the second undone"
    );
    counters_are_exact(&app);

    delete_me(&app, &ada).await.assert_status(204);
    assert_eq!(rows_referring_to(&app, ada_id), 0);
    counters_are_exact(&app);
}

#[actix_web::test]
async fn postgres_a_favorite_that_commits_during_the_last_step_is_erased_too() {
    // Another session favorites for Ada (the favorites protocol: lock the
    // interview, insert, count) and holds its transaction open. Her
    // deletion's batches cannot see the row; its last step waits for that
    // session on her user row. When the favorite commits, the last step
    // must notice it and start over, or the cascade would remove the row
    // and leave the interview's count one too high.
    let app = TestApp::spawn(Backend::Postgres).await;
    let ada = app.token("ada");
    let ada_id = app.user_id(&ada).await;
    let bob = app.token("bob");
    let interview = app.interview(&bob, "X").await;
    let writer = HeldLock::take(
        &app,
        &format!(
            "SELECT id FROM interviews WHERE id = {interview} FOR NO KEY UPDATE; \
             INSERT INTO favorite_interviews (user_id, interview_id, created_at) \
             VALUES ({ada_id}, {interview}, localtimestamp)"
        ),
    );
    let deletion = delete_me(&app, &ada);
    let commit_when_waited_for = async {
        wait_until(
            "the deletion waits for the writer on Ada's row",
            async || app.lock_waiters("%users%") == 1,
        )
        .await;
        writer.commit(&format!(
            "UPDATE interviews SET favorites_count = favorites_count + 1 WHERE id = {interview}"
        ));
    };
    let (reply, ()) = futures::join!(deletion, commit_when_waited_for);
    reply.assert_status(204);
    assert_eq!(rows_referring_to(&app, ada_id), 0);
    assert_eq!(
        count_of(&app, "interviews", "favorites_count", interview),
        0
    );
    counters_are_exact(&app);
}
