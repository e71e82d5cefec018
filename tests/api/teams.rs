//! Teams and memberships: a through table with its own data and two
//! references to users (member and inviter).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Reply, TestApp, assert_one_created};

/// Creates a team by `token`'s user; returns its id.
async fn team(app: &TestApp, token: &str, name: &str) -> i64 {
    let body = app
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(token),
            Some(json!({"name": name})),
        )
        .await
        .assert_status(201)
        .body;
    body["id"].as_i64().unwrap()
}

async fn put_member(
    app: &TestApp,
    token: &str,
    team_id: i64,
    user_id: i64,
    body: Option<Value>,
) -> Reply {
    app.call(
        Method::PUT,
        &format!("/api/v1/teams/{team_id}/members/{user_id}"),
        Some(token),
        body,
    )
    .await
}

fn today() -> String {
    chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

fn members_count(app: &TestApp, team_id: i64) -> i64 {
    app.count(&format!(
        "SELECT members_count AS n FROM teams WHERE id = {team_id}"
    ))
}

fn rows_equal_counts(app: &TestApp) {
    app.assert_counter_matches_rows("teams", "members_count", "team_memberships", "team_id");
}

async fn create_makes_the_creator_the_first_member(app: TestApp) {
    let p1 = app.token("p1");
    let p1_id = app.user_id(&p1).await;
    let reply = app
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(&p1),
            Some(json!({"name": "Platform"})),
        )
        .await
        .assert_status(201);
    let location = reply.header("location").to_owned();
    let created = reply.body;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/teams/{id}"));
    assert_eq!(created["name"], "Platform");
    assert_eq!(created["created_by"]["id"], p1_id);
    assert_eq!(created["members_count"], 1);

    let fetched = app.get(&location, None).await.assert_status(200).body;
    assert_eq!(fetched, created);

    let members = app
        .get(&format!("/api/v1/teams/{id}/members"), None)
        .await
        .body;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    let first = &members["items"][0];
    assert_eq!(first["user"]["id"], p1_id);
    assert_eq!(first["inviter"], Value::Null);
    assert_eq!(first["reason"], "");
    assert_eq!(first["joined_date"], today());
    assert_eq!(first["team"], created);
}

async fn create_validates_and_needs_a_token(app: TestApp) {
    let p1 = app.token("p1");
    app.user_id(&p1).await;
    let before = app.snapshot_teams();
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "  "}), "name"),
    ] {
        let reply = app
            .call(Method::POST, "/api/v1/teams", Some(&p1), Some(body))
            .await;
        reply.assert_problem(400, "validation_failed");
        assert!(reply.body["errors"][field].is_array(), "{}", reply.body);
    }
    app.call(
        Method::POST,
        "/api/v1/teams",
        Some(&p1),
        Some(json!({"name": "A", "extra": 1})),
    )
    .await
    .assert_problem(400, "invalid_body");
    app.call(
        Method::POST,
        "/api/v1/teams",
        None,
        Some(json!({"name": "A"})),
    )
    .await
    .assert_problem(401, "unauthorized");
    assert_eq!(app.snapshot_teams(), before);
    team(&app, &p1, &"x".repeat(100)).await;
}

async fn teams_are_listed_newest_first_and_404_when_missing(app: TestApp) {
    let p1 = app.token("p1");
    let first = team(&app, &p1, "First").await;
    let second = team(&app, &p1, "Second").await;
    let list = app.get("/api/v1/teams", None).await.assert_status(200).body;
    let ids: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [second, first]);
    let reply = app.get("/api/v1/teams/999", None).await;
    reply.assert_problem(404, "not_found");
    assert_eq!(reply.body["detail"], "team 999 does not exist");
    app.get("/api/v1/teams/999/members", None)
        .await
        .assert_problem(404, "not_found");
}

async fn put_member_creates_then_updates_and_keeps_the_inviter(app: TestApp) {
    let (p1, p2, p3) = (app.token("p1"), app.token("p2"), app.token("p3"));
    let (p1_id, p2_id, p3_id) = (
        app.user_id(&p1).await,
        app.user_id(&p2).await,
        app.user_id(&p3).await,
    );
    let team_id = team(&app, &p1, "Platform").await;

    let added = put_member(&app, &p1, team_id, p2_id, None)
        .await
        .assert_status(201)
        .body;
    assert_eq!(added["user"]["id"], p2_id);
    assert_eq!(added["inviter"]["id"], p1_id);
    assert_eq!(added["reason"], "");
    assert_eq!(
        added["joined_date"],
        today(),
        "joined_date defaults to today in UTC"
    );
    assert_eq!(added["team"]["members_count"], 2);

    // p2 is now a member and may add p3; then p2 re-adds p3 with a reason.
    let p3_added = put_member(
        &app,
        &p2,
        team_id,
        p3_id,
        Some(json!({"reason": "rotation", "joined_date": "2026-01-15"})),
    )
    .await
    .assert_status(201)
    .body;
    assert_eq!(p3_added["inviter"]["id"], p2_id);
    assert_eq!(p3_added["joined_date"], "2026-01-15");

    let again = put_member(&app, &p1, team_id, p3_id, Some(json!({"reason": "lead"})))
        .await
        .assert_status(200)
        .body;
    assert_eq!(
        again["inviter"]["id"], p2_id,
        "a repeat PUT keeps the original inviter"
    );
    assert_eq!(again["reason"], "lead", "given fields are updated");
    assert_eq!(
        again["joined_date"], "2026-01-15",
        "fields not given are kept"
    );
    assert_eq!(again["team"]["members_count"], 3);

    let same = put_member(&app, &p1, team_id, p3_id, None)
        .await
        .assert_status(200)
        .body;
    assert_eq!(same, again, "a PUT without a body changes nothing");
    assert_eq!(members_count(&app, team_id), 3);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM team_memberships WHERE team_id = {team_id}"
        )),
        3
    );
}

async fn put_member_refusals_in_the_specs_order(app: TestApp) {
    let (p1, p2, outsider) = (app.token("p1"), app.token("p2"), app.token("outsider"));
    let p2_id = app.user_id(&p2).await;
    app.user_id(&outsider).await;
    let team_id = team(&app, &p1, "Platform").await;
    let before = app.snapshot_teams();
    let bad_body = Some(json!({"reason": "x".repeat(65)}));

    put_member(&app, &outsider, team_id, p2_id, None)
        .await
        .assert_problem(403, "forbidden");
    let reply = put_member(&app, &p1, 999, p2_id, bad_body.clone()).await;
    reply.assert_problem(404, "not_found");
    assert_eq!(reply.body["detail"], "team 999 does not exist");
    let reply = put_member(&app, &p1, team_id, 999, bad_body.clone()).await;
    reply.assert_problem(404, "not_found");
    assert_eq!(reply.body["detail"], "user 999 does not exist");
    put_member(&app, &outsider, team_id, p2_id, bad_body.clone())
        .await
        .assert_problem(403, "forbidden");
    let reply = put_member(&app, &p1, team_id, p2_id, bad_body).await;
    reply.assert_problem(400, "validation_failed");
    assert!(reply.body["errors"]["reason"].is_array(), "{}", reply.body);
    let reply = put_member(
        &app,
        &p1,
        team_id,
        p2_id,
        Some(json!({"joined_date": "2026-02-30"})),
    )
    .await;
    reply.assert_problem(400, "validation_failed");
    assert!(
        reply.body["errors"]["joined_date"].is_array(),
        "{}",
        reply.body
    );
    put_member(
        &app,
        &p1,
        team_id,
        p2_id,
        Some(json!({"joined_date": 20260101})),
    )
    .await
    .assert_problem(400, "invalid_body");
    put_member(&app, &p1, team_id, p2_id, Some(json!({"role": "admin"})))
        .await
        .assert_problem(400, "invalid_body");
    app.call(
        Method::PUT,
        &format!("/api/v1/teams/{team_id}/members/{p2_id}"),
        None,
        None,
    )
    .await
    .assert_problem(401, "unauthorized");
    assert_eq!(
        app.snapshot_teams(),
        before,
        "refused requests store nothing"
    );

    let exact = put_member(
        &app,
        &p1,
        team_id,
        p2_id,
        Some(json!({"reason": "y".repeat(64)})),
    )
    .await;
    assert_eq!(
        exact.status,
        StatusCode::CREATED,
        "64 characters are allowed: {}",
        exact.body
    );
}

async fn remove_member_rules(app: TestApp) {
    let (p1, p2, p3, p4) = (
        app.token("p1"),
        app.token("p2"),
        app.token("p3"),
        app.token("p4"),
    );
    let p2_id = app.user_id(&p2).await;
    let p3_id = app.user_id(&p3).await;
    let p4_id = app.user_id(&p4).await;
    let team_id = team(&app, &p1, "Platform").await;
    put_member(&app, &p1, team_id, p2_id, None).await;
    put_member(&app, &p1, team_id, p3_id, None).await;
    let path = |user_id: i64| format!("/api/v1/teams/{team_id}/members/{user_id}");

    // A third party (even a member) may not remove someone else.
    app.call(Method::DELETE, &path(p3_id), Some(&p2), None)
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(members_count(&app, team_id), 3);
    // The member themself may.
    app.call(Method::DELETE, &path(p2_id), Some(&p2), None)
        .await
        .assert_status(204);
    assert_eq!(members_count(&app, team_id), 2);
    // The creator may.
    app.call(Method::DELETE, &path(p3_id), Some(&p1), None)
        .await
        .assert_status(204);
    // A non-member: 204, nothing changes.
    app.call(Method::DELETE, &path(p4_id), Some(&p1), None)
        .await
        .assert_status(204);
    assert_eq!(members_count(&app, team_id), 1);
    rows_equal_counts(&app);

    app.call(Method::DELETE, &path(999), Some(&p1), None)
        .await
        .assert_problem(404, "not_found");
    app.call(
        Method::DELETE,
        &format!("/api/v1/teams/999/members/{p2_id}"),
        Some(&p1),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    app.call(Method::DELETE, &path(p2_id), None, None)
        .await
        .assert_problem(401, "unauthorized");
}

/// The seed's `p1.personteamrelation_set.values_list('team', 'joined_date')`
/// and `p1.invited_teams.values_list('person', 'team')`.
async fn seed_examples_memberships_and_invitations(app: TestApp) {
    let (p1, p2, p3) = (app.token("p1"), app.token("p2"), app.token("p3"));
    let p1_id = app.user_id(&p1).await;
    let p2_id = app.user_id(&p2).await;
    let p3_id = app.user_id(&p3).await;
    let t1 = team(&app, &p1, "t1").await;
    let t2 = team(&app, &p2, "t2").await;
    put_member(
        &app,
        &p2,
        t2,
        p1_id,
        Some(json!({"joined_date": "2019-07-15", "reason": "invited by p2"})),
    )
    .await;
    put_member(&app, &p1, t1, p2_id, None).await;
    put_member(&app, &p1, t2, p3_id, None).await;
    put_member(&app, &p1, t1, p3_id, None).await;

    let teams = app
        .get(&format!("/api/v1/users/{p1_id}/teams"), None)
        .await
        .assert_status(200)
        .body;
    let team_and_date: Vec<(i64, String)> = teams["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["team"]["id"].as_i64().unwrap(),
                m["joined_date"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        team_and_date,
        [(t1, today()), (t2, "2019-07-15".to_owned())]
    );

    let invitations = app
        .get(&format!("/api/v1/users/{p1_id}/invitations"), None)
        .await
        .assert_status(200)
        .body;
    let person_and_team: Vec<(i64, i64)> = invitations["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["id"].as_i64().unwrap(),
                m["team"]["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(person_and_team, [(p2_id, t1), (p3_id, t2), (p3_id, t1)]);
    assert!(
        invitations["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["inviter"]["id"] == p1_id)
    );

    for path in ["/api/v1/users/999/teams", "/api/v1/users/999/invitations"] {
        app.get(path, None).await.assert_problem(404, "not_found");
    }
}

async fn members_paginate_in_creation_order(app: TestApp) {
    let p1 = app.token("p1");
    let team_id = team(&app, &p1, "Big").await;
    let mut expected = vec![app.user_id(&p1).await];
    for i in 0..44 {
        let id = app.user_id(&app.token(&format!("member-{i}"))).await;
        put_member(&app, &p1, team_id, id, None)
            .await
            .assert_status(201);
        expected.push(id);
    }
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut next = Some(format!("/api/v1/teams/{team_id}/members?limit=20"));
    while let Some(path) = next.take() {
        let page = app.get(&path, None).await.assert_status(200).body;
        let items = page["items"].as_array().unwrap();
        sizes.push(items.len());
        seen.extend(items.iter().map(|m| m["user"]["id"].as_i64().unwrap()));
        next = page["next_cursor"]
            .as_str()
            .map(|cursor| format!("/api/v1/teams/{team_id}/members?limit=20&cursor={cursor}"));
    }
    assert_eq!(sizes, [20, 20, 5]);
    assert_eq!(
        seen, expected,
        "oldest membership first, no gaps or repeats"
    );
}

async fn concurrent_adds_of_one_user_make_one_row(app: TestApp) {
    let p1 = app.token("p1");
    let p2_id = app.user_id(&app.token("p2")).await;
    let team_id = team(&app, &p1, "Platform").await;
    let path = format!("/api/v1/teams/{team_id}/members/{p2_id}");
    let replies = app
        .send_all((0..32).map(|_| app.request(Method::PUT, &path, Some(&p1))))
        .await;
    assert_one_created(&replies);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM team_memberships WHERE user_id = {p2_id}"
        )),
        1
    );
    assert_eq!(members_count(&app, team_id), 2);
}

async fn concurrent_adds_and_removals_keep_counts_exact(app: TestApp) {
    let p1 = app.token("p1");
    let team_id = team(&app, &p1, "Churn").await;
    let tokens: Vec<String> = (0..16).map(|i| app.token(&format!("user-{i}"))).collect();
    let mut ids = Vec::new();
    for token in &tokens {
        ids.push(app.user_id(token).await);
    }
    // Half are members already; then everyone is added and the first half
    // remove themselves, all at once.
    for id in &ids[..8] {
        put_member(&app, &p1, team_id, *id, None).await;
    }
    let mut requests = Vec::new();
    for (token, id) in tokens.iter().zip(&ids) {
        let path = format!("/api/v1/teams/{team_id}/members/{id}");
        requests.push(app.request(Method::PUT, &path, Some(&p1)));
        requests.push(app.request(Method::DELETE, &path, Some(token)));
    }
    let failures: Vec<Reply> = app
        .send_all(requests)
        .await
        .into_iter()
        .filter(|reply| !reply.status.is_success())
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    rows_equal_counts(&app);
}

impl TestApp {
    /// Row counts of the team tables and users.
    fn snapshot_teams(&self) -> [i64; 3] {
        [
            self.count("SELECT count(*) AS n FROM users"),
            self.count("SELECT count(*) AS n FROM teams"),
            self.count("SELECT count(*) AS n FROM team_memberships"),
        ]
    }
}

both_backends!(
    create_makes_the_creator_the_first_member,
    create_validates_and_needs_a_token,
    teams_are_listed_newest_first_and_404_when_missing,
    put_member_creates_then_updates_and_keeps_the_inviter,
    put_member_refusals_in_the_specs_order,
    remove_member_rules,
    seed_examples_memberships_and_invitations,
    members_paginate_in_creation_order,
    concurrent_adds_of_one_user_make_one_row,
    concurrent_adds_and_removals_keep_counts_exact,
);
