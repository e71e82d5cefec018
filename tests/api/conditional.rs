//! Conditional requests (RFC 9110 §13): `ETag` on every 200 `GET`,
//! `If-None-Match` → 304, `Vary` and `Cache-Control`, and `If-Match` on
//! `PATCH` / `DELETE /interviews/{id}` → 412 when stale.

use favorites::db::Backend;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::harness::{HeldLock, Reply, TestApp, wait_until};

const INTERVIEWS: &str = "/api/v1/interviews";

async fn get_with(app: &TestApp, path: &str, token: Option<&str>, tag: &str) -> Reply {
    app.send(
        app.request(Method::GET, path, token)
            .header("if-none-match", tag),
    )
    .await
}

fn etag(reply: &Reply) -> String {
    let tag = reply.header("etag").to_owned();
    assert!(
        tag.len() > 2 && tag.starts_with('"') && tag.ends_with('"'),
        "a strong entity tag, got `{tag}`"
    );
    tag
}

async fn every_get_is_tagged_and_revalidates_to_304(app: TestApp) {
    let ada = app.token("ada");
    let id = app.interview(&ada, "tagged").await;
    let ada_id = app.user_id(&ada).await;
    app.call(
        Method::PUT,
        &format!("/api/v1/favorites/{id}"),
        Some(&ada),
        None,
    )
    .await
    .assert_status(201);
    let paths = [
        format!("{INTERVIEWS}/{id}"),
        INTERVIEWS.to_owned(),
        format!("/api/v1/favorites/{id}"),
        "/api/v1/favorites".to_owned(),
        format!("/api/v1/users/{ada_id}/favorites"),
        format!("{INTERVIEWS}/{id}/favorited-by"),
        "/api/v1/me".to_owned(),
    ];
    for path in &paths {
        let full = app.get(path, Some(&ada)).await.assert_status(200);
        let tag = etag(&full);
        assert_eq!(full.header("cache-control"), "private, no-cache", "{path}");
        assert!(
            full.headers
                .get_all("vary")
                .iter()
                .any(|value| value.to_str().unwrap().contains("Authorization")),
            "{path}: Vary names Authorization"
        );
        for matching in [
            tag.clone(),
            "*".to_owned(),
            format!("W/{tag}"),
            format!("\"x\", {tag}"),
        ] {
            let reply = get_with(&app, path, Some(&ada), &matching).await;
            assert_eq!(reply.status, 304, "{path} If-None-Match: {matching}");
            assert_eq!(etag(&reply), tag, "{path}: a 304 carries the same tag");
            assert!(reply.body.is_null(), "{path}: a 304 has no body");
        }
        let other = get_with(&app, path, Some(&ada), "\"not-it\"").await;
        assert_eq!(other.status, 200, "{path}");
        assert_eq!(other.body, full.body);
        // A malformed If-None-Match is ignored: the full representation.
        let malformed = get_with(&app, path, Some(&ada), "no-quotes").await;
        assert_eq!(malformed.status, 200, "{path}");
    }
    let anonymous = app
        .get(&format!("{INTERVIEWS}/{id}"), None)
        .await
        .assert_status(200);
    assert_eq!(anonymous.header("cache-control"), "public, max-age=5");
    assert_ne!(
        etag(&anonymous),
        etag(&app.get(&format!("{INTERVIEWS}/{id}"), Some(&ada)).await),
        "the caller's `favorited` is part of the representation"
    );
}

async fn tags_change_with_favorites_by_others_and_by_the_caller(app: TestApp) {
    let ada = app.token("ada");
    let bob = app.token("bob");
    let id = app.interview(&ada, "watched").await;
    let paths = [
        format!("{INTERVIEWS}/{id}"),
        INTERVIEWS.to_owned(),
        format!("/api/v1/favorites/{id}"),
        format!("{INTERVIEWS}/{id}/favorited-by"),
    ];
    let mut tags = Vec::new();
    for path in &paths {
        tags.push(etag(&app.get(path, Some(&ada)).await.assert_status(200)));
    }
    // Someone else's favorite moves favorites_count (and favorited-by).
    app.call(
        Method::PUT,
        &format!("/api/v1/favorites/{id}"),
        Some(&bob),
        None,
    )
    .await
    .assert_status(201);
    for (path, tag) in paths.iter().zip(tags.iter_mut()) {
        let reply = get_with(&app, path, Some(&ada), tag).await;
        assert_eq!(reply.status, 200, "{path} after bob's favorite");
        let new = etag(&reply);
        assert_ne!(&new, tag, "{path}");
        *tag = new;
    }
    // The caller's own favorite flips `favorited` too.
    app.call(
        Method::PUT,
        &format!("/api/v1/favorites/{id}"),
        Some(&ada),
        None,
    )
    .await
    .assert_status(201);
    for (path, tag) in paths.iter().zip(tags.iter()) {
        let reply = get_with(&app, path, Some(&ada), tag).await;
        assert_eq!(reply.status, 200, "{path} after ada's own favorite");
        assert_ne!(&etag(&reply), tag, "{path}");
    }
}

async fn if_match_guards_patch_and_delete(app: TestApp) {
    let ada = app.token("ada");
    let bob = app.token("bob");
    let id = app.interview(&ada, "first").await;
    let path = format!("{INTERVIEWS}/{id}");
    let first = etag(&app.get(&path, Some(&ada)).await.assert_status(200));

    let patch = |tag: &str, title: &str| {
        app.request(Method::PATCH, &path, Some(&ada))
            .header("if-match", tag)
            .json(&json!({"title": title}))
    };
    let edited = app.send(patch(&first, "second")).await.assert_status(200);
    let second = etag(&edited);
    assert_eq!(
        second,
        etag(&app.get(&path, Some(&ada)).await),
        "PATCH answers the tag GET gives"
    );

    // Based on the first version: refused, nothing changes.
    let counts = app.snapshot();
    app.send(patch(&first, "lost update"))
        .await
        .assert_problem(412, "precondition_failed");
    let weak = format!("W/{second}");
    app.send(patch(&weak, "weak"))
        .await
        .assert_problem(412, "precondition_failed");
    assert_eq!(app.get(&path, Some(&ada)).await.body["title"], "second");
    app.send(
        app.request(Method::DELETE, &path, Some(&ada))
            .header("if-match", &first),
    )
    .await
    .assert_problem(412, "precondition_failed");
    assert_eq!(app.snapshot(), counts);

    // Someone else's favorite changes the representation: the tag is stale.
    app.call(
        Method::PUT,
        &format!("/api/v1/favorites/{id}"),
        Some(&bob),
        None,
    )
    .await
    .assert_status(201);
    app.send(patch(&second, "stale"))
        .await
        .assert_problem(412, "precondition_failed");

    // 404 and 403 come first; malformed names nothing (412); without
    // If-Match, as before.
    app.send(
        app.request(Method::PATCH, &format!("{INTERVIEWS}/999999"), Some(&ada))
            .header("if-match", "\"x\"")
            .json(&json!({"title": "x"})),
    )
    .await
    .assert_problem(404, "not_found");
    app.send(
        app.request(Method::PATCH, &path, Some(&bob))
            .header("if-match", "\"x\"")
            .json(&json!({"title": "x"})),
    )
    .await
    .assert_problem(403, "forbidden");
    for malformed in ["not-a-tag", "", "null"] {
        app.send(patch(malformed, "x"))
            .await
            .assert_problem(412, "precondition_failed");
    }
    app.call(
        Method::PATCH,
        &path,
        Some(&ada),
        Some(json!({"title": "no precondition"})),
    )
    .await
    .assert_status(200);

    let current = etag(&app.get(&path, Some(&ada)).await);
    app.send(
        app.request(Method::DELETE, &path, Some(&ada))
            .header("if-match", format!("\"other\", {current}")),
    )
    .await
    .assert_status(204);
    app.get(&path, Some(&ada))
        .await
        .assert_problem(404, "not_found");
}

both_backends!(
    every_get_is_tagged_and_revalidates_to_304,
    tags_change_with_favorites_by_others_and_by_the_caller,
    if_match_guards_patch_and_delete,
);

/// Two PATCHes based on the same version, both waiting for the row: only the
/// first may apply, the second must then see the changed interview (412).
/// The test holds the row lock until both wait on it, so they really overlap.
#[actix_web::test]
async fn postgres_concurrent_if_match_lets_one_write_through() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let ada = app.token("ada");
    let id = app.interview(&ada, "contended").await;
    let path = format!("{INTERVIEWS}/{id}");
    let tag = etag(&app.get(&path, Some(&ada)).await);

    let lock = HeldLock::take(
        &app,
        &format!("SELECT id FROM interviews WHERE id = {id} FOR UPDATE"),
    );
    let requests = ["one", "two"].map(|title| {
        app.send(
            app.request(Method::PATCH, &path, Some(&ada))
                .header("if-match", &tag)
                .json(&json!({"title": title})),
        )
    });
    let (replies, ()) = futures::join!(futures::future::join_all(requests), async {
        wait_until("both PATCHes wait for the row", async || {
            app.lock_waiters("%interviews%") == 2
        })
        .await;
        lock.release();
    });
    let mut statuses: Vec<u16> = replies.iter().map(|reply| reply.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412], "{replies:?}");
}
