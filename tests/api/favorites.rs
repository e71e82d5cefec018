//! The favorites relation over HTTP: put, delete, state, toggle, and both lists.

use reqwest::Method;
use serde_json::Value;

use crate::both_backends;
use crate::harness::TestApp;

async fn put_is_idempotent_201_then_200(app: TestApp) {
    let author = app.token("author");
    let fan = app.token("fan");
    let id = app.interview(&author, "Onsite").await;
    let path = format!("/api/v1/favorites/{id}");

    let reply = app
        .call(Method::PUT, &path, Some(&fan), None)
        .await
        .assert_status(201);
    assert_eq!(reply.header("location"), path.as_str());
    let first = reply.body;
    assert_eq!(first["interview_id"], id);
    assert_eq!(first["favorited"], true);
    assert_eq!(first["favorites_count"], 1);
    assert!(
        first["favorited_at"].as_str().unwrap().ends_with('Z'),
        "{first}"
    );

    let second = app
        .call(Method::PUT, &path, Some(&fan), None)
        .await
        .assert_status(200)
        .body;
    assert_eq!(
        second, first,
        "a repeated PUT changes nothing, not even favorited_at"
    );
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

async fn delete_is_idempotent(app: TestApp) {
    let author = app.token("author");
    let fan = app.token("fan");
    let id = app.interview(&author, "Onsite").await;
    let path = format!("/api/v1/favorites/{id}");
    app.call(Method::PUT, &path, Some(&fan), None).await;
    app.call(Method::PUT, &path, Some(&author), None).await;

    for _ in 0..2 {
        let body = app
            .call(Method::DELETE, &path, Some(&fan), None)
            .await
            .assert_status(200)
            .body;
        assert_eq!(body["favorited"], false);
        assert_eq!(body["favorited_at"], Value::Null);
        assert_eq!(
            body["favorites_count"], 1,
            "only the author's favorite is left"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM favorite_interviews"),
        1
    );
}

async fn state_reads_the_callers_relation(app: TestApp) {
    let author = app.token("author");
    let fan = app.token("fan");
    let id = app.interview(&author, "Onsite").await;
    let path = format!("/api/v1/favorites/{id}");

    let before = app.get(&path, Some(&fan)).await.assert_status(200).body;
    assert_eq!(before["favorited"], false);
    assert_eq!(before["favorited_at"], Value::Null);
    assert_eq!(before["favorites_count"], 0);

    let put = app.call(Method::PUT, &path, Some(&fan), None).await.body;
    let after = app.get(&path, Some(&fan)).await.body;
    assert_eq!(after, put);
    let authors_view = app.get(&path, Some(&author)).await.body;
    assert_eq!(authors_view["favorited"], false);
    assert_eq!(authors_view["favorites_count"], 1);
}

async fn toggle_flips_and_counts(app: TestApp) {
    let author = app.token("author");
    let fan = app.token("fan");
    let id = app.interview(&author, "Onsite").await;
    let path = format!("/api/v1/favorites/{id}/toggle");

    let on = app
        .call(Method::POST, &path, Some(&fan), None)
        .await
        .assert_status(200)
        .body;
    assert_eq!(
        (on["favorited"].clone(), on["favorites_count"].clone()),
        (Value::Bool(true), 1.into())
    );
    let off = app.call(Method::POST, &path, Some(&fan), None).await.body;
    assert_eq!(
        (off["favorited"].clone(), off["favorites_count"].clone()),
        (Value::Bool(false), 0.into())
    );
    assert_eq!(off["favorited_at"], Value::Null);
    let on_again = app.call(Method::POST, &path, Some(&fan), None).await.body;
    assert_eq!(on_again["favorited"], true);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM favorite_interviews"),
        1
    );
}

async fn writes_on_a_missing_interview_are_404(app: TestApp) {
    let fan = app.token("fan");
    let before = app.snapshot();
    for (method, path) in [
        (Method::PUT, "/api/v1/favorites/999"),
        (Method::DELETE, "/api/v1/favorites/999"),
        (Method::GET, "/api/v1/favorites/999"),
        (Method::POST, "/api/v1/favorites/999/toggle"),
        (Method::GET, "/api/v1/interviews/999/favorited-by"),
        (Method::GET, "/api/v1/users/999/favorites"),
    ] {
        let reply = app.call(method.clone(), path, Some(&fan), None).await;
        reply.assert_problem(404, "not_found");
        let body = &reply.body;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("999 does not exist"),
            "{method} {path}: {body}"
        );
    }
    // The only change is the caller's own user row, created by the first valid request.
    let after = app.snapshot();
    assert_eq!(after, [before[0] + 1, before[1], before[2]]);
}

async fn writes_need_a_token(app: TestApp) {
    let author = app.token("author");
    let id = app.interview(&author, "Onsite").await;
    let before = app.snapshot();
    for (method, path) in [
        (Method::PUT, format!("/api/v1/favorites/{id}")),
        (Method::DELETE, format!("/api/v1/favorites/{id}")),
        (Method::GET, format!("/api/v1/favorites/{id}")),
        (Method::POST, format!("/api/v1/favorites/{id}/toggle")),
        (Method::GET, "/api/v1/favorites".to_owned()),
    ] {
        let reply = app.call(method.clone(), &path, None, None).await;
        assert_eq!(
            reply.header("www-authenticate"),
            "Bearer",
            "{method} {path}"
        );
        reply.assert_problem(401, "unauthorized");
    }
    assert_eq!(app.snapshot(), before);
}

async fn lists_show_both_sides_newest_first(app: TestApp) {
    let author = app.token("author");
    let (ada, bob) = (app.token("ada"), app.token("bob"));
    let first = app.interview(&author, "First").await;
    let second = app.interview(&author, "Second").await;
    let ada_id = app.user_id(&ada).await;
    let bob_id = app.user_id(&bob).await;
    app.call(
        Method::PUT,
        &format!("/api/v1/favorites/{first}"),
        Some(&ada),
        None,
    )
    .await;
    app.call(
        Method::PUT,
        &format!("/api/v1/favorites/{second}"),
        Some(&ada),
        None,
    )
    .await;
    app.call(
        Method::PUT,
        &format!("/api/v1/favorites/{first}"),
        Some(&bob),
        None,
    )
    .await;

    let mine = app
        .get("/api/v1/favorites", Some(&ada))
        .await
        .assert_status(200)
        .body;
    let titles: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["interview"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Second", "First"]);
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["interview"]["favorited"] == true)
    );
    assert_eq!(mine["items"][1]["interview"]["favorites_count"], 2);
    assert_eq!(mine["next_cursor"], Value::Null);

    // Ada's list as others see it: `favorited` is the viewer's own state.
    let anonymous = app
        .get(&format!("/api/v1/users/{ada_id}/favorites"), None)
        .await
        .body;
    assert_eq!(anonymous["items"][0]["interview"]["favorited"], Value::Null);
    let as_bob = app
        .get(&format!("/api/v1/users/{ada_id}/favorites"), Some(&bob))
        .await
        .body;
    let bob_flags: Vec<&Value> = as_bob["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item["interview"]["favorited"])
        .collect();
    assert_eq!(bob_flags, [&Value::Bool(false), &Value::Bool(true)]);

    let fans = app
        .get(&format!("/api/v1/interviews/{first}/favorited-by"), None)
        .await
        .assert_status(200)
        .body;
    let fan_ids: Vec<i64> = fans["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["user"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(fan_ids, [bob_id, ada_id], "newest favorite first");
    assert!(fans["items"][0]["favorited_at"].is_string());

    let nobody = app
        .get(
            &format!("/api/v1/users/{}/favorites", app.user_id(&author).await),
            None,
        )
        .await
        .body;
    assert_eq!(nobody["items"], serde_json::json!([]));
}

async fn deleting_an_interview_takes_its_favorites(app: TestApp) {
    let author = app.token("author");
    let fan = app.token("fan");
    let doomed = app.interview(&author, "Doomed").await;
    let kept = app.interview(&author, "Kept").await;
    for id in [doomed, kept] {
        app.call(
            Method::PUT,
            &format!("/api/v1/favorites/{id}"),
            Some(&fan),
            None,
        )
        .await;
    }
    app.call(
        Method::DELETE,
        &format!("/api/v1/interviews/{doomed}"),
        Some(&author),
        None,
    )
    .await
    .assert_status(204);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM favorite_interviews WHERE interview_id = {doomed}"
        )),
        0
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM favorite_interviews"),
        1
    );
    let mine = app.get("/api/v1/favorites", Some(&fan)).await.body;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["interview"]["id"], kept);
    app.get(&format!("/api/v1/favorites/{doomed}"), Some(&fan))
        .await
        .assert_problem(404, "not_found");
    // Who favorites it: 404 once it is gone, an empty page while it exists
    // with nobody (the server checks existence only for an empty page).
    app.get(&format!("/api/v1/interviews/{doomed}/favorited-by"), None)
        .await
        .assert_problem(404, "not_found");
    let unloved = app.interview(&author, "Unloved").await;
    let body = app
        .get(&format!("/api/v1/interviews/{unloved}/favorited-by"), None)
        .await
        .assert_status(200)
        .body;
    assert_eq!(body["items"], serde_json::json!([]));
}

both_backends!(
    put_is_idempotent_201_then_200,
    delete_is_idempotent,
    state_reads_the_callers_relation,
    toggle_flips_and_counts,
    writes_on_a_missing_interview_are_404,
    writes_need_a_token,
    lists_show_both_sides_newest_first,
    deleting_an_interview_takes_its_favorites,
);
