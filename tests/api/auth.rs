//! Bearer authentication: missing and invalid tokens, and users created from
//! a token's claims on first sight.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Reply, SECRET, TestApp, now, sign};

const INVALID_TOKEN_CHALLENGE: &str = r#"Bearer error="invalid_token""#;

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// `Authorization` header values that must all be rejected with 401 `invalid_token`.
fn bad_authorizations(app: &TestApp) -> Vec<(&'static str, String)> {
    let exp = now() + 3600;
    let valid = app.token("alice");
    let segments: Vec<&str> = valid.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        segments[0],
        b64(&json!({"sub": "mallory", "exp": exp})),
        segments[2]
    );
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&json!({"sub": "mallory", "exp": exp}))
    );
    let wrong_secret = encode(
        &Header::default(),
        &json!({"sub": "mallory", "exp": exp}),
        &EncodingKey::from_secret(b"another-secret-that-is-also-32-bytes-long"),
    )
    .unwrap();
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &json!({"sub": "mallory", "exp": exp}),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let bearer = |token: String| format!("Bearer {token}");
    vec![
        (
            "expired beyond the leeway",
            bearer(sign(&json!({"sub": "mallory", "exp": now() - 120}))),
        ),
        ("alg none", bearer(alg_none)),
        ("signed with another secret", bearer(wrong_secret)),
        ("tampered payload", bearer(tampered)),
        ("missing sub", bearer(sign(&json!({"exp": exp})))),
        ("missing exp", bearer(sign(&json!({"sub": "mallory"})))),
        ("empty sub", bearer(sign(&json!({"sub": "", "exp": exp})))),
        (
            "sub of 256 characters",
            bearer(sign(&json!({"sub": "s".repeat(256), "exp": exp}))),
        ),
        ("HS512 with the right secret", bearer(hs512)),
        (
            "nbf 300 s ahead",
            bearer(sign(
                &json!({"sub": "mallory", "exp": exp, "nbf": now() + 300}),
            )),
        ),
        ("Basic scheme", "Basic abc".to_owned()),
        ("Bearer without a token", "Bearer".to_owned()),
        ("garbage token", "Bearer not.a.jwt".to_owned()),
        ("one-segment garbage", "Bearer garbage".to_owned()),
        (
            "sub with a NUL character",
            bearer(sign(&json!({"sub": "mal\u{0}lory", "exp": exp}))),
        ),
    ]
}

async fn send_with_authorization(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: &str,
    body: Option<Value>,
) -> Reply {
    let mut builder = app
        .client
        .request(method, app.url(path))
        .header("authorization", authorization);
    if let Some(body) = body {
        builder = builder.json(&body);
    }
    app.send(builder).await
}

#[track_caller]
fn assert_invalid_token(reply: &Reply, case: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {}",
        reply.body
    );
    reply.assert_problem(401, "invalid_token");
    assert_eq!(
        reply.header("www-authenticate"),
        INVALID_TOKEN_CHALLENGE,
        "{case}"
    );
}

async fn me_without_a_token_is_401_unauthorized(app: TestApp) {
    let before = app.snapshot();
    let reply = app.get("/api/v1/me", None).await;
    reply.assert_problem(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), "Bearer");
    assert_eq!(app.snapshot(), before);
}

async fn bad_tokens_are_401_invalid_token(app: TestApp) {
    let before = app.snapshot();
    for (case, authorization) in bad_authorizations(&app) {
        let reply =
            send_with_authorization(&app, Method::GET, "/api/v1/me", &authorization, None).await;
        assert_invalid_token(&reply, case);
    }
    assert_eq!(app.snapshot(), before, "no user was created");
    assert_eq!(app.count("SELECT count(*) AS n FROM users"), 0);
}

async fn bad_tokens_never_fall_back_to_anonymous(app: TestApp) {
    let author = app.token("author");
    let id = app.interview(&author, "Public").await;
    let author_id = app.user_id(&author).await;
    let before = app.snapshot();
    let public_reads = [
        "/api/v1/interviews".to_owned(),
        format!("/api/v1/interviews/{id}"),
        format!("/api/v1/users/{author_id}"),
        format!("/api/v1/users/{author_id}/favorites"),
        format!("/api/v1/interviews/{id}/favorited-by"),
    ];
    for (case, authorization) in bad_authorizations(&app) {
        for path in &public_reads {
            let reply =
                send_with_authorization(&app, Method::GET, path, &authorization, None).await;
            assert_invalid_token(&reply, &format!("{case} on GET {path}"));
        }
        let reply = send_with_authorization(
            &app,
            Method::POST,
            "/api/v1/interviews",
            &authorization,
            Some(json!({"title": "Sneaky"})),
        )
        .await;
        assert_invalid_token(&reply, &format!("{case} on POST /api/v1/interviews"));
    }
    assert_eq!(app.snapshot(), before);
}

async fn small_clock_skew_is_tolerated(app: TestApp) {
    let recently_expired = sign(&json!({"sub": "skewed-exp", "exp": now() - 10}));
    let reply = app.get("/api/v1/me", Some(&recently_expired)).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "exp 10 s ago is within the leeway: {}",
        reply.body
    );
    let almost_valid = sign(&json!({"sub": "skewed-nbf", "exp": now() + 3600, "nbf": now() + 10}));
    let reply = app.get("/api/v1/me", Some(&almost_valid)).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "nbf 10 s ahead is within the leeway: {}",
        reply.body
    );
}

async fn me_returns_the_callers_user(app: TestApp) {
    let token = app.token("alice");
    let me = app
        .get("/api/v1/me", Some(&token))
        .await
        .assert_status(200)
        .body;
    let keys: Vec<&str> = me.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 3, "{me}");
    assert!(me["id"].as_i64().unwrap() > 0, "{me}");
    assert_eq!(me["name"], "alice");
    let created_at = me["created_at"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(created_at).is_ok(),
        "{me}"
    );

    let again = app.get("/api/v1/me", Some(&token)).await.body;
    assert_eq!(again, me, "the same user on every request");
    assert_eq!(app.count("SELECT count(*) AS n FROM users"), 1);
}

async fn a_sub_of_255_characters_is_accepted(app: TestApp) {
    // Characters, not bytes: `é` is two bytes in UTF-8.
    for sub in ["s".repeat(255), "é".repeat(255)] {
        let token = sign(&json!({"sub": sub, "exp": now() + 3600}));
        let me = app
            .get("/api/v1/me", Some(&token))
            .await
            .assert_status(200)
            .body;
        assert_eq!(me["name"], sub.as_str());
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM users"), 2);
}

async fn the_scheme_is_case_insensitive(app: TestApp) {
    let token = app.token("alice");
    for scheme in ["bearer", "BEARER"] {
        let authorization = format!("{scheme} {token}");
        let reply =
            send_with_authorization(&app, Method::GET, "/api/v1/me", &authorization, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{scheme}: {}", reply.body);
        assert_eq!(reply.body["name"], "alice");
    }
}

async fn display_name_comes_from_the_claims(app: TestApp) {
    let exp = now() + 3600;
    let cases = [
        (
            json!({"sub": "u1", "exp": exp, "name": "Ada Lovelace", "preferred_username": "ada"}),
            "Ada Lovelace",
        ),
        (
            json!({"sub": "u2", "exp": exp, "preferred_username": "grace"}),
            "grace",
        ),
        (json!({"sub": "u3", "exp": exp}), "u3"),
    ];
    for (claims, expected) in cases {
        let reply = app.get("/api/v1/me", Some(&sign(&claims))).await;
        assert_eq!(reply.status, StatusCode::OK, "{claims}: {}", reply.body);
        let me = reply.body;
        assert_eq!(me["name"], expected, "{claims}");
    }
    // A name claim that is not a string is no name; the request still works.
    let odd = sign(&json!({"sub": "u4", "exp": exp, "name": 42, "preferred_username": "linus"}));
    let me = app
        .get("/api/v1/me", Some(&odd))
        .await
        .assert_status(200)
        .body;
    assert_eq!(me["name"], "linus");
    // Names that cannot be stored (over 255 characters, NUL) are no names either.
    for (sub, name) in [("u5", "n".repeat(256)), ("u6", "nul\u{0}name".to_owned())] {
        let token = sign(&json!({"sub": sub, "exp": exp, "name": name}));
        let me = app
            .get("/api/v1/me", Some(&token))
            .await
            .assert_status(200)
            .body;
        assert_eq!(me["name"], sub);
    }
}

async fn display_name_is_set_once(app: TestApp) {
    let exp = now() + 3600;
    let first = sign(&json!({"sub": "ada", "exp": exp, "name": "Ada"}));
    let later = sign(
        &json!({"sub": "ada", "exp": exp, "name": "Someone Else", "preferred_username": "else"}),
    );
    let created = app.get("/api/v1/me", Some(&first)).await.body;
    let me = app
        .get("/api/v1/me", Some(&later))
        .await
        .assert_status(200)
        .body;
    assert_eq!(
        me, created,
        "the name (and everything else) is set at creation only"
    );
    assert_eq!(me["name"], "Ada");
    assert_eq!(app.count("SELECT count(*) AS n FROM users"), 1);
}

async fn any_valid_request_creates_the_user(app: TestApp) {
    let reader = app.token("reader");
    app.get("/api/v1/interviews", Some(&reader))
        .await
        .assert_status(200);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE subject = 'reader'"),
        1,
        "a public read created the user"
    );

    let reader_id = app.user_id(&reader).await;
    let visitor = app.token("visitor");
    app.get(&format!("/api/v1/users/{reader_id}"), Some(&visitor))
        .await
        .assert_status(200);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE subject = 'visitor'"),
        1,
        "GET /users/{{id}} created the user"
    );
}

async fn users_by_id(app: TestApp) {
    let token = app.token("alice");
    let me = app.get("/api/v1/me", Some(&token)).await.body;
    let id = me["id"].as_i64().unwrap();
    let user = app
        .get(&format!("/api/v1/users/{id}"), None)
        .await
        .assert_status(200)
        .body;
    assert_eq!(user, me);

    let before = app.snapshot();
    let missing = id + 1000;
    let reply = app.get(&format!("/api/v1/users/{missing}"), None).await;
    reply.assert_problem(404, "not_found");
    assert_eq!(
        reply.body["detail"],
        format!("user {missing} does not exist")
    );
    assert_eq!(app.snapshot(), before);
}

both_backends!(
    me_without_a_token_is_401_unauthorized,
    bad_tokens_are_401_invalid_token,
    bad_tokens_never_fall_back_to_anonymous,
    small_clock_skew_is_tolerated,
    me_returns_the_callers_user,
    a_sub_of_255_characters_is_accepted,
    the_scheme_is_case_insensitive,
    display_name_comes_from_the_claims,
    display_name_is_set_once,
    any_valid_request_creates_the_user,
    users_by_id,
);
