//! `/interviews`: create (with its validation), read, edit, delete and list.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Reply, TestApp};

const INTERVIEWS: &str = "/api/v1/interviews";

/// Sends `body` as-is with this `Content-Type` (none when `None`).
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut builder = app.request(method, path, Some(token)).body(body);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    app.send(builder).await
}

/// The `errors` member of a `validation_failed` problem: its field names,
/// each checked to carry at least one message.
#[track_caller]
fn error_fields(reply: &Reply) -> Vec<String> {
    reply.assert_problem(400, "validation_failed");
    let errors = reply.body["errors"]
        .as_object()
        .unwrap_or_else(|| panic!("an errors object: {}", reply.body));
    for (field, messages) in errors {
        let messages = messages
            .as_array()
            .unwrap_or_else(|| panic!("{field}: a list of messages: {}", reply.body));
        assert!(
            !messages.is_empty() && messages.iter().all(Value::is_string),
            "{field}: {}",
            reply.body
        );
    }
    errors.keys().cloned().collect()
}

fn timestamp(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("a timestamp, got {value}"));
    assert!(text.ends_with('Z'), "UTC with Z: {text}");
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("RFC 3339 `{text}`: {error}"))
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

async fn create_answers_201_with_location_and_defaults(app: TestApp) {
    let token = app.token("author");
    let reply = app
        .call(
            Method::POST,
            INTERVIEWS,
            Some(&token),
            Some(json!({"title": "Backend onsite"})),
        )
        .await
        .assert_status(201);
    let created = &reply.body;
    let id = created["id"].as_i64().unwrap();
    assert!(id > 0);
    assert_eq!(reply.header("location"), format!("/api/v1/interviews/{id}"));
    assert!(reply.header("content-type").starts_with("application/json"));

    let me = app.get("/api/v1/me", Some(&token)).await.body;
    let mut keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "author",
            "body",
            "company",
            "created_at",
            "favorited",
            "favorites_count",
            "id",
            "position",
            "title",
            "updated_at"
        ]
    );
    assert_eq!(created["title"], "Backend onsite");
    assert_eq!(
        (&created["company"], &created["position"], &created["body"]),
        (&json!(""), &json!(""), &json!(""))
    );
    assert_eq!(created["author"], me);
    assert_eq!(created["favorites_count"], 0);
    assert_eq!(created["favorited"], false);
    assert_eq!(
        timestamp(&created["created_at"]),
        timestamp(&created["updated_at"])
    );

    let fetched = app
        .get(reply.header("location"), Some(&token))
        .await
        .assert_status(200)
        .body;
    assert_eq!(&fetched, created, "the Location is the interview");
    assert_eq!(app.count("SELECT count(*) AS n FROM interviews"), 1);
}

async fn create_stores_every_field(app: TestApp) {
    let token = app.token("author");
    let input = json!({"title": "Onsite", "company": "Acme", "position": "SRE", "body": "Four rounds.\nThen lunch."});
    let created = app
        .call(Method::POST, INTERVIEWS, Some(&token), Some(input.clone()))
        .await
        .assert_status(201)
        .body;
    for field in ["title", "company", "position", "body"] {
        assert_eq!(created[field], input[field], "{field}");
    }
}

async fn create_accepts_values_at_the_limits(app: TestApp) {
    let token = app.token("author");
    // Limits count characters, not bytes: `é` is two bytes in UTF-8.
    let input = json!({
        "title": "é".repeat(200),
        "company": "c".repeat(100),
        "position": "p".repeat(100),
        "body": "b".repeat(20_000),
    });
    let created = app
        .call(Method::POST, INTERVIEWS, Some(&token), Some(input.clone()))
        .await
        .assert_status(201)
        .body;
    for field in ["title", "company", "position", "body"] {
        assert_eq!(created[field], input[field], "{field}");
    }
}

async fn create_rejects_values_outside_the_limits(app: TestApp) {
    let token = app.token("author");
    app.user_id(&token).await;
    let before = app.snapshot();
    let cases = [
        (json!({"title": ""}), vec!["title"]),
        (json!({"title": "   "}), vec!["title"]),
        (json!({"title": "t".repeat(201)}), vec!["title"]),
        (json!({"title": "é".repeat(201)}), vec!["title"]),
        (
            json!({"title": "ok", "company": "c".repeat(101)}),
            vec!["company"],
        ),
        (
            json!({"title": "ok", "position": "p".repeat(101)}),
            vec!["position"],
        ),
        (
            json!({"title": "ok", "body": "b".repeat(20_001)}),
            vec!["body"],
        ),
        (json!({"title": "nul\u{0}inside"}), vec!["title"]),
        (
            json!({"title": "", "company": "c".repeat(101)}),
            vec!["company", "title"],
        ),
    ];
    for (input, fields) in cases {
        let reply = app
            .call(Method::POST, INTERVIEWS, Some(&token), Some(input.clone()))
            .await;
        assert_eq!(error_fields(&reply), fields, "{input}");
    }
    assert_eq!(app.snapshot(), before);
}

async fn create_rejects_bodies_that_do_not_deserialize(app: TestApp) {
    let token = app.token("author");
    app.user_id(&token).await;
    let before = app.snapshot();
    let cases = [
        ("not JSON", "title: x"),
        ("truncated JSON", r#"{"title": "x""#),
        ("an array", r#"[{"title": "x"}]"#),
        ("null", "null"),
        ("missing title", r#"{"company": "Acme"}"#),
        ("unknown field", r#"{"title": "x", "rating": 5}"#),
        ("title as a number", r#"{"title": 5}"#),
        ("empty body", ""),
        ("a lone surrogate", r#"{"title": "\ud800"}"#),
    ];
    for (case, raw) in cases {
        let reply = send_raw(
            &app,
            Method::POST,
            INTERVIEWS,
            &token,
            Some("application/json"),
            raw,
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            reply.body
        );
        reply.assert_problem(400, "invalid_body");
    }
    let invalid_utf8: &[u8] = b"{\"title\": \"caf\xe9\"}";
    let reply = send_raw(
        &app,
        Method::POST,
        INTERVIEWS,
        &token,
        Some("application/json"),
        invalid_utf8,
    )
    .await;
    reply.assert_problem(400, "invalid_body");
    assert_eq!(app.snapshot(), before);
}

async fn create_needs_json_and_at_most_64_kib(app: TestApp) {
    let token = app.token("author");
    app.user_id(&token).await;
    let before = app.snapshot();
    let valid = r#"{"title": "x"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let reply = send_raw(&app, Method::POST, INTERVIEWS, &token, content_type, valid).await;
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {}",
            reply.body
        );
        reply.assert_problem(415, "unsupported_media_type");
    }
    let reply = send_raw(
        &app,
        Method::POST,
        INTERVIEWS,
        &token,
        Some("application/json; charset=utf-8"),
        valid,
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "a charset parameter is fine: {}",
        reply.body
    );
    let after_charset = app.snapshot();
    assert_eq!(after_charset[1], before[1] + 1);

    let huge = json!({"title": "big", "body": "b".repeat(70 * 1024)}).to_string();
    let reply = send_raw(
        &app,
        Method::POST,
        INTERVIEWS,
        &token,
        Some("application/json"),
        huge,
    )
    .await;
    reply.assert_problem(413, "payload_too_large");
    assert_eq!(app.snapshot(), after_charset);
}

async fn writes_need_a_token(app: TestApp) {
    let author = app.token("author");
    let id = app.interview(&author, "Mine").await;
    let before = app.snapshot();
    let path = format!("{INTERVIEWS}/{id}");
    for (method, path, body) in [
        (Method::POST, INTERVIEWS, Some(json!({"title": "x"}))),
        (Method::PATCH, path.as_str(), Some(json!({"title": "x"}))),
        (Method::DELETE, path.as_str(), None),
    ] {
        let reply = app.call(method.clone(), path, None, body).await;
        reply.assert_problem(401, "unauthorized");
        assert_eq!(
            reply.header("www-authenticate"),
            "Bearer",
            "{method} {path}"
        );
    }
    assert_eq!(app.snapshot(), before);
}

async fn get_one_shows_the_callers_favorited_state(app: TestApp) {
    let author = app.token("author");
    let fan = app.token("fan");
    let id = app.interview(&author, "Onsite").await;
    let path = format!("{INTERVIEWS}/{id}");

    let anonymous = app.get(&path, None).await.assert_status(200).body;
    assert_eq!(anonymous["id"], id);
    assert_eq!(anonymous["favorited"], Value::Null);
    let as_fan = app.get(&path, Some(&fan)).await.body;
    assert_eq!(as_fan["favorited"], false);

    app.call(
        Method::PUT,
        &format!("/api/v1/favorites/{id}"),
        Some(&fan),
        None,
    )
    .await
    .assert_status(201);
    let as_fan = app.get(&path, Some(&fan)).await.body;
    assert_eq!(
        (&as_fan["favorited"], &as_fan["favorites_count"]),
        (&json!(true), &json!(1))
    );
    let as_author = app.get(&path, Some(&author)).await.body;
    assert_eq!(
        (&as_author["favorited"], &as_author["favorites_count"]),
        (&json!(false), &json!(1))
    );
    let anonymous = app.get(&path, None).await.body;
    assert_eq!(
        (&anonymous["favorited"], &anonymous["favorites_count"]),
        (&Value::Null, &json!(1))
    );
}

async fn get_a_missing_interview_is_404(app: TestApp) {
    let author = app.token("author");
    let id = app.interview(&author, "Onsite").await;
    let missing = id + 1;
    let reply = app.get(&format!("{INTERVIEWS}/{missing}"), None).await;
    reply.assert_problem(404, "not_found");
    assert_eq!(
        reply.body["detail"],
        format!("interview {missing} does not exist")
    );
}

async fn patch_by_the_author_changes_the_given_fields(app: TestApp) {
    let author = app.token("author");
    let created = app
        .call(
            Method::POST,
            INTERVIEWS,
            Some(&author),
            Some(json!({"title": "Draft", "company": "Acme", "body": "notes"})),
        )
        .await
        .body;
    let path = format!("{INTERVIEWS}/{}", created["id"]);

    let edited = app
        .call(
            Method::PATCH,
            &path,
            Some(&author),
            Some(json!({"title": "Final", "position": "SRE"})),
        )
        .await
        .assert_status(200)
        .body;
    assert_eq!(edited["title"], "Final");
    assert_eq!(edited["position"], "SRE");
    assert_eq!(edited["company"], "Acme", "absent fields are kept");
    assert_eq!(edited["body"], "notes");
    assert_eq!(edited["created_at"], created["created_at"]);
    assert_eq!(edited["author"], created["author"]);
    assert_eq!(edited["favorited"], false);
    assert!(
        timestamp(&edited["updated_at"]) >= timestamp(&created["created_at"]),
        "{edited}"
    );
    let fetched = app.get(&path, Some(&author)).await.body;
    assert_eq!(fetched, edited, "the edit was stored");

    // An empty patch changes nothing, not even updated_at.
    let unchanged = app
        .call(Method::PATCH, &path, Some(&author), Some(json!({})))
        .await
        .assert_status(200)
        .body;
    assert_eq!(unchanged, edited);
    let fetched = app.get(&path, Some(&author)).await.body;
    assert_eq!(fetched, edited);
}

/// JSON Merge Patch (RFC 7396): `null` removes a field, so optional texts
/// go back to `""`; `title` cannot be removed.
async fn patch_null_clears_optional_fields_and_is_400_for_title(app: TestApp) {
    let author = app.token("author");
    let created = app
        .call(
            Method::POST,
            INTERVIEWS,
            Some(&author),
            Some(json!({"title": "Kept", "company": "Acme", "position": "SRE", "body": "notes"})),
        )
        .await
        .assert_status(201)
        .body;
    let path = format!("{INTERVIEWS}/{}", created["id"]);
    let counts = app.snapshot();
    for input in [
        json!({"title": null}),
        json!({"title": null, "company": null}),
    ] {
        let reply = app
            .call(Method::PATCH, &path, Some(&author), Some(input.clone()))
            .await;
        assert_eq!(error_fields(&reply), vec!["title"], "{input}");
    }
    assert_eq!(app.get(&path, Some(&author)).await.body, created);
    assert_eq!(app.snapshot(), counts);

    let cleared = app
        .send(
            app.request(Method::PATCH, &path, Some(&author))
                .header("content-type", "application/merge-patch+json")
                .body(r#"{"company": null, "body": null}"#),
        )
        .await
        .assert_status(200)
        .body;
    assert_eq!(cleared["company"], "");
    assert_eq!(cleared["body"], "");
    assert_eq!(cleared["position"], "SRE", "absent fields are kept");
    assert_eq!(cleared["title"], "Kept");
    assert_eq!(app.get(&path, Some(&author)).await.body, cleared);
}

async fn patch_validates_the_values(app: TestApp) {
    let author = app.token("author");
    let id = app.interview(&author, "Kept").await;
    let path = format!("{INTERVIEWS}/{id}");
    let before = app.get(&path, Some(&author)).await.body;
    let counts = app.snapshot();
    for (input, fields) in [
        (json!({"title": ""}), vec!["title"]),
        (json!({"title": "  "}), vec!["title"]),
        (json!({"title": "t".repeat(201)}), vec!["title"]),
        (
            json!({"company": "c".repeat(101), "body": "b".repeat(20_001)}),
            vec!["body", "company"],
        ),
    ] {
        let reply = app
            .call(Method::PATCH, &path, Some(&author), Some(input.clone()))
            .await;
        assert_eq!(error_fields(&reply), fields, "{input}");
    }
    let reply = send_raw(
        &app,
        Method::PATCH,
        &path,
        &author,
        Some("application/json"),
        r#"{"title": "x", "extra": 1}"#,
    )
    .await;
    reply.assert_problem(400, "invalid_body");
    let after = app.get(&path, Some(&author)).await.body;
    assert_eq!(after, before);
    assert_eq!(app.snapshot(), counts);
}

async fn patch_by_another_user_is_403_and_missing_is_404(app: TestApp) {
    let author = app.token("author");
    let other = app.token("other");
    app.user_id(&other).await;
    let id = app.interview(&author, "Mine").await;
    let path = format!("{INTERVIEWS}/{id}");
    let before = app.get(&path, None).await.body;
    let counts = app.snapshot();

    let reply = app
        .call(
            Method::PATCH,
            &path,
            Some(&other),
            Some(json!({"title": "Hijacked"})),
        )
        .await;
    reply.assert_problem(403, "forbidden");
    let missing = id + 1;
    let reply = app
        .call(
            Method::PATCH,
            &format!("{INTERVIEWS}/{missing}"),
            Some(&author),
            Some(json!({"title": "x"})),
        )
        .await;
    reply.assert_problem(404, "not_found");
    assert_eq!(
        reply.body["detail"],
        format!("interview {missing} does not exist")
    );

    let after = app.get(&path, None).await.body;
    assert_eq!(after, before);
    assert_eq!(app.snapshot(), counts);
}

async fn patch_checks_existence_then_permission_then_body(app: TestApp) {
    let author = app.token("author");
    let other = app.token("other");
    app.user_id(&other).await;
    let id = app.interview(&author, "Mine").await;
    let own = format!("{INTERVIEWS}/{id}");
    let missing = format!("{INTERVIEWS}/{}", id + 1);
    let counts = app.snapshot();

    for (path, token, content_type, status, code) in [
        (
            missing.as_str(),
            &author,
            "application/json",
            404,
            "not_found",
        ),
        (own.as_str(), &other, "application/json", 403, "forbidden"),
        (
            own.as_str(),
            &author,
            "application/json",
            400,
            "invalid_body",
        ),
        (missing.as_str(), &author, "text/plain", 404, "not_found"),
        (own.as_str(), &other, "text/plain", 403, "forbidden"),
        (
            own.as_str(),
            &author,
            "text/plain",
            415,
            "unsupported_media_type",
        ),
    ] {
        let reply = send_raw(
            &app,
            Method::PATCH,
            path,
            token,
            Some(content_type),
            "{not json",
        )
        .await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{path} {content_type}: {}",
            reply.body
        );
        reply.assert_problem(status, code);
    }
    let oversized = json!({"title": "b".repeat(70 * 1024)}).to_string();
    let reply = send_raw(
        &app,
        Method::PATCH,
        &own,
        &other,
        Some("application/json"),
        oversized.clone(),
    )
    .await;
    reply.assert_problem(403, "forbidden");
    let reply = send_raw(
        &app,
        Method::PATCH,
        &own,
        &author,
        Some("application/json"),
        oversized,
    )
    .await;
    reply.assert_problem(413, "payload_too_large");

    let after = app.get(&own, None).await.body;
    assert_eq!(after["title"], "Mine");
    assert_eq!(app.snapshot(), counts);
}

async fn delete_by_the_author_removes_it(app: TestApp) {
    let author = app.token("author");
    let id = app.interview(&author, "Doomed").await;
    let kept = app.interview(&author, "Kept").await;
    let path = format!("{INTERVIEWS}/{id}");
    let reply = app
        .call(Method::DELETE, &path, Some(&author), None)
        .await
        .assert_status(204);
    assert_eq!(reply.body, Value::Null, "no body");

    let reply = app.get(&path, None).await;
    reply.assert_problem(404, "not_found");
    let reply = app.call(Method::DELETE, &path, Some(&author), None).await;
    reply.assert_problem(404, "not_found");
    let reply = app.get(&format!("{INTERVIEWS}/{kept}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "only that interview is gone");
    assert_eq!(app.count("SELECT count(*) AS n FROM interviews"), 1);
}

async fn delete_by_another_user_is_403_and_missing_is_404(app: TestApp) {
    let author = app.token("author");
    let other = app.token("other");
    app.user_id(&other).await;
    let id = app.interview(&author, "Mine").await;
    let counts = app.snapshot();
    let reply = app
        .call(
            Method::DELETE,
            &format!("{INTERVIEWS}/{id}"),
            Some(&other),
            None,
        )
        .await;
    reply.assert_problem(403, "forbidden");
    let reply = app
        .call(
            Method::DELETE,
            &format!("{INTERVIEWS}/{}", id + 1),
            Some(&author),
            None,
        )
        .await;
    reply.assert_problem(404, "not_found");
    assert_eq!(app.snapshot(), counts);
    app.get(&format!("{INTERVIEWS}/{id}"), None)
        .await
        .assert_status(200);
}

async fn list_is_newest_first_and_filters_by_author(app: TestApp) {
    let ada = app.token("ada");
    let bob = app.token("bob");
    let a1 = app.interview(&ada, "a1").await;
    let b1 = app.interview(&bob, "b1").await;
    let a2 = app.interview(&ada, "a2").await;
    let b2 = app.interview(&bob, "b2").await;
    let ada_id = app.user_id(&ada).await;
    let bob_id = app.user_id(&bob).await;

    let all = app.get(INTERVIEWS, None).await.assert_status(200).body;
    assert_eq!(ids(&all), [b2, a2, b1, a1]);
    assert_eq!(all["next_cursor"], Value::Null);
    assert!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["favorited"].is_null()),
        "anonymous: {all}"
    );

    let by_ada = app
        .get(&format!("{INTERVIEWS}?author_id={ada_id}"), None)
        .await
        .body;
    assert_eq!(ids(&by_ada), [a2, a1]);
    assert!(
        by_ada["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["author"]["id"] == ada_id)
    );
    let by_bob = app
        .get(&format!("{INTERVIEWS}?author_id={bob_id}"), Some(&ada))
        .await
        .body;
    assert_eq!(ids(&by_bob), [b2, b1]);
    assert!(
        by_bob["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["favorited"] == false),
        "{by_bob}"
    );

    let nobody = app
        .get(&format!("{INTERVIEWS}?author_id=999999"), None)
        .await
        .assert_status(200)
        .body;
    assert_eq!(nobody, json!({"items": [], "next_cursor": null}));

    let reply = app
        .get(&format!("{INTERVIEWS}?sort=oldest&foo=bar"), None)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "unknown parameters are ignored: {}",
        reply.body
    );
    assert_eq!(reply.body, all);
}

async fn list_rejects_malformed_author_ids(app: TestApp) {
    let author = app.token("author");
    app.interview(&author, "x").await;
    let counts = app.snapshot();
    for bad in ["0", "-1", "abc", "1.5", "9223372036854775808"] {
        let reply = app
            .get(&format!("{INTERVIEWS}?author_id={bad}"), None)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "author_id={bad}: {}",
            reply.body
        );
        reply.assert_problem(400, "invalid_query");
    }
    assert_eq!(app.snapshot(), counts);
}

both_backends!(
    create_answers_201_with_location_and_defaults,
    create_stores_every_field,
    create_accepts_values_at_the_limits,
    create_rejects_values_outside_the_limits,
    create_rejects_bodies_that_do_not_deserialize,
    create_needs_json_and_at_most_64_kib,
    writes_need_a_token,
    get_one_shows_the_callers_favorited_state,
    get_a_missing_interview_is_404,
    patch_by_the_author_changes_the_given_fields,
    patch_validates_the_values,
    patch_null_clears_optional_fields_and_is_400_for_title,
    patch_by_another_user_is_403_and_missing_is_404,
    patch_checks_existence_then_permission_then_body,
    delete_by_the_author_removes_it,
    delete_by_another_user_is_403_and_missing_is_404,
    list_is_newest_first_and_filters_by_author,
    list_rejects_malformed_author_ids,
);
