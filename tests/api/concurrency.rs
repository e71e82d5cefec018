//! The SPEC's invariants under concurrent requests, through real HTTP on a
//! real port, checked with SQL.

use reqwest::{Method, StatusCode};

use crate::both_backends;
use crate::harness::{TestApp, assert_one_created};

fn rows_equal_counts(app: &TestApp) {
    app.assert_counter_matches_rows(
        "interviews",
        "favorites_count",
        "favorite_interviews",
        "interview_id",
    );
}

async fn concurrent_puts_make_one_row(app: TestApp) {
    let author = app.token("author");
    let fan = app.token("fan");
    let id = app.interview(&author, "Hot").await;
    app.user_id(&fan).await;
    let path = format!("/api/v1/favorites/{id}");
    let replies = app
        .send_all((0..32).map(|_| app.request(Method::PUT, &path, Some(&fan))))
        .await;
    assert_one_created(&replies);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM favorite_interviews"),
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT favorites_count AS n FROM interviews WHERE id = {id}"
        )),
        1
    );
}

async fn toggle_parity(app: &TestApp, toggles: usize) {
    let author = app.token("author");
    let fan = app.token("fan");
    let id = app.interview(&author, "Toggled").await;
    app.user_id(&fan).await;
    let path = format!("/api/v1/favorites/{id}/toggle");
    let replies = app
        .send_all((0..toggles).map(|_| app.request(Method::POST, &path, Some(&fan))))
        .await;
    assert!(replies.iter().all(|reply| reply.status == StatusCode::OK));
    let rows = app.count(&format!(
        "SELECT count(*) AS n FROM favorite_interviews WHERE interview_id = {id}"
    ));
    assert_eq!(rows, (toggles % 2) as i64, "{toggles} toggles");
    rows_equal_counts(app);
}

async fn concurrent_toggles_odd_leave_it_favorited(app: TestApp) {
    toggle_parity(&app, 31).await;
}

async fn concurrent_toggles_even_leave_it_unfavorited(app: TestApp) {
    toggle_parity(&app, 32).await;
}

async fn fifty_users_favorite_one_interview(app: TestApp) {
    let author = app.token("author");
    let id = app.interview(&author, "Popular").await;
    let tokens: Vec<String> = (0..50).map(|i| app.token(&format!("user-{i}"))).collect();
    let path = format!("/api/v1/favorites/{id}");
    let replies = app
        .send_all(
            tokens
                .iter()
                .map(|token| app.request(Method::PUT, &path, Some(token))),
        )
        .await;
    assert!(
        replies
            .iter()
            .all(|reply| reply.status == StatusCode::CREATED)
    );
    assert_eq!(
        app.count(&format!(
            "SELECT favorites_count AS n FROM interviews WHERE id = {id}"
        )),
        50
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM favorite_interviews"),
        50
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users"),
        51,
        "each new subject created exactly once"
    );

    let mut seen = Vec::new();
    let mut next = Some(format!("/api/v1/interviews/{id}/favorited-by?limit=100"));
    while let Some(page) = next.take() {
        let body = app.get(&page, None).await.assert_status(200).body;
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["user"]["id"].as_i64().unwrap()),
        );
        next = body["next_cursor"]
            .as_str()
            .map(|cursor| format!("/api/v1/interviews/{id}/favorited-by?cursor={cursor}"));
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 50, "each user listed once");
}

async fn mixed_writes_keep_counts_exact(app: TestApp) {
    let author = app.token("author");
    let interviews = [
        app.interview(&author, "A").await,
        app.interview(&author, "B").await,
    ];
    let tokens: Vec<String> = (0..8).map(|i| app.token(&format!("user-{i}"))).collect();
    for token in &tokens {
        app.user_id(token).await;
    }
    let mut requests = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        for (k, id) in interviews.iter().enumerate() {
            for round in 0..3 {
                let (method, path) = match (n + k + round) % 3 {
                    0 => (Method::PUT, format!("/api/v1/favorites/{id}")),
                    1 => (Method::DELETE, format!("/api/v1/favorites/{id}")),
                    _ => (Method::POST, format!("/api/v1/favorites/{id}/toggle")),
                };
                requests.push(app.request(method, &path, Some(token)));
            }
        }
    }
    let replies = app.send_all(requests).await;
    assert!(replies.iter().all(|reply| reply.status.is_success()));
    rows_equal_counts(&app);
}

both_backends!(
    concurrent_puts_make_one_row,
    concurrent_toggles_odd_leave_it_favorited,
    concurrent_toggles_even_leave_it_unfavorited,
    fifty_users_favorite_one_interview,
    mixed_writes_keep_counts_exact,
);
