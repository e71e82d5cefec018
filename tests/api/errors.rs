//! Errors every route shares: malformed ids, the order of checks, unknown
//! routes and methods, problem+json, request ids, health and outages.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Options, Reply, TestApp, now, sign};
use favorites::db::Backend;

/// Every route with an id in its path: method, path with `{}` for the id,
/// and whether it needs a token.
const ID_ROUTES: [(Method, &str, bool); 10] = [
    (Method::GET, "/api/v1/users/{}", false),
    (Method::GET, "/api/v1/users/{}/favorites", false),
    (Method::GET, "/api/v1/interviews/{}", false),
    (Method::PATCH, "/api/v1/interviews/{}", true),
    (Method::DELETE, "/api/v1/interviews/{}", true),
    (Method::GET, "/api/v1/interviews/{}/favorited-by", false),
    (Method::PUT, "/api/v1/favorites/{}", true),
    (Method::GET, "/api/v1/favorites/{}", true),
    (Method::DELETE, "/api/v1/favorites/{}", true),
    (Method::POST, "/api/v1/favorites/{}/toggle", true),
];

/// Path segments that are not ids (` 1` is sent percent-encoded).
const MALFORMED_IDS: [&str; 8] = [
    "0",
    "-1",
    "9223372036854775808",
    "abc",
    "1.5",
    "+1",
    "%201",
    "1e3",
];

const CLIENT_REQUEST_ID: &str = "abc-123:x.y_z";

async fn send(app: &TestApp, method: Method, path: &str, token: Option<&str>) -> Reply {
    let mut builder = app.request(method.clone(), path, token);
    if method == Method::PATCH {
        builder = builder.json(&json!({"title": "x"}));
    }
    app.send(builder).await
}

async fn malformed_ids_are_400_invalid_path(app: TestApp) {
    let token = app.token("caller");
    app.user_id(&token).await;
    let counts = app.snapshot();
    for (method, template, _) in ID_ROUTES {
        for id in MALFORMED_IDS {
            let path = template.replace("{}", id);
            let reply = send(&app, method.clone(), &path, Some(&token)).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{method} {path}: {}",
                reply.body
            );
            reply.assert_problem(400, "invalid_path");
        }
    }
    assert_eq!(app.snapshot(), counts);
}

async fn the_largest_id_is_well_formed(app: TestApp) {
    let token = app.token("caller");
    app.user_id(&token).await;
    let counts = app.snapshot();
    for (method, template, _) in ID_ROUTES {
        let path = template.replace("{}", "9223372036854775807");
        let reply = send(&app, method.clone(), &path, Some(&token)).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.body
        );
        reply.assert_problem(404, "not_found");
    }
    assert_eq!(app.snapshot(), counts);
}

async fn authentication_is_checked_before_the_path(app: TestApp) {
    let invalid = sign(&json!({"sub": "late", "exp": now() - 3600}));
    for (method, template, needs_token) in ID_ROUTES {
        let path = template.replace("{}", "abc");
        if needs_token {
            let reply = send(&app, method.clone(), &path, None).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {}",
                reply.body
            );
            reply.assert_problem(401, "unauthorized");
            assert_eq!(reply.header("www-authenticate"), "Bearer");
        } else {
            let reply = send(&app, method.clone(), &path, None).await;
            reply.assert_problem(400, "invalid_path");
        }
        let reply = send(&app, method.clone(), &path, Some(&invalid)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with an expired token: {}",
            reply.body
        );
        reply.assert_problem(401, "invalid_token");
    }
    assert_eq!(app.snapshot(), [0, 0, 0]);
}

async fn the_path_is_checked_before_the_body(app: TestApp) {
    let token = app.token("caller");
    app.user_id(&token).await;
    let counts = app.snapshot();
    let reply = app
        .send(
            app.request(Method::PATCH, "/api/v1/interviews/abc", Some(&token))
                .header("content-type", "text/plain")
                .body("{oops"),
        )
        .await;
    reply.assert_problem(400, "invalid_path");
    assert_eq!(app.snapshot(), counts);
}

async fn unknown_routes_are_404(app: TestApp) {
    let token = app.token("caller");
    for path in [
        "/api/v1/nope",
        "/nope",
        "/api/v2/interviews",
        "/api/v1/interviews/1/nope",
        "/api/v1/",
        "/",
    ] {
        for token in [None, Some(token.as_str())] {
            let reply = app.get(path, token).await;
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "{path}: {}",
                reply.body
            );
            reply.assert_problem(404, "not_found");
        }
    }
}

async fn wrong_methods_are_405_with_allow(app: TestApp) {
    let token = app.token("caller");
    let cases: [(Method, &str, &[&str]); 5] = [
        (
            Method::PATCH,
            "/api/v1/favorites/1",
            &["DELETE", "GET", "PUT"],
        ),
        (
            Method::POST,
            "/api/v1/favorites/1",
            &["DELETE", "GET", "PUT"],
        ),
        (Method::DELETE, "/api/v1/users/1", &["GET"]),
        (Method::POST, "/api/v1/me", &["GET", "DELETE"]),
        (Method::PUT, "/api/v1/interviews", &["GET", "POST"]),
    ];
    for (method, path, allowed) in cases {
        for token in [None, Some(token.as_str())] {
            let reply = app.call(method.clone(), path, token, None).await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {}",
                reply.body
            );
            reply.assert_problem(405, "method_not_allowed");
            let allow: BTreeSet<&str> = reply.header("allow").split(',').map(str::trim).collect();
            assert_eq!(allow, allowed.iter().copied().collect(), "{method} {path}");
        }
    }
    assert_eq!(app.snapshot(), [0, 0, 0]);
}

fn is_valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

async fn with_request_id(
    app: &TestApp,
    method: Method,
    path: &str,
    request_id: Option<&[u8]>,
) -> Reply {
    let mut builder = app.request(method, path, None);
    if let Some(id) = request_id {
        builder = builder.header(
            "x-request-id",
            reqwest::header::HeaderValue::from_bytes(id).unwrap(),
        );
    }
    app.send(builder).await
}

async fn a_valid_client_request_id_is_echoed(app: TestApp) {
    let longest = "r".repeat(128);
    for id in [CLIENT_REQUEST_ID, longest.as_str(), "A", "0.1_2:3-4"] {
        for (method, path, status) in [
            (Method::GET, "/healthz", 200),
            (Method::GET, "/api/v1/interviews", 200),
            (Method::GET, "/api/v1/nope", 404),
            (Method::GET, "/api/v1/me", 401),
            (Method::GET, "/api/v1/interviews/abc", 400),
            (Method::PATCH, "/api/v1/favorites/1", 405),
        ] {
            let reply = with_request_id(&app, method.clone(), path, Some(id.as_bytes())).await;
            assert_eq!(reply.status.as_u16(), status, "{method} {path}");
            assert_eq!(reply.header("x-request-id"), id, "{method} {path}");
        }
    }
}

async fn other_request_ids_are_replaced(app: TestApp) {
    let too_long = "r".repeat(129);
    let rejected: [&[u8]; 6] = [
        too_long.as_bytes(),
        b"a b",
        b"",
        b"abc/def",
        b"quote\"d",
        "caf\u{e9}".as_bytes(),
    ];
    let mut generated = BTreeSet::new();
    for (method, path, status) in [
        (Method::GET, "/healthz", 200),
        (Method::GET, "/api/v1/nope", 404),
        (Method::GET, "/api/v1/me", 401),
    ] {
        for id in rejected.iter().copied().map(Some).chain([None]) {
            let reply = with_request_id(&app, method.clone(), path, id).await;
            assert_eq!(reply.status.as_u16(), status, "{method} {path}");
            let answered = reply.header("x-request-id");
            assert!(
                is_valid_request_id(answered),
                "{method} {path}: generated `{answered}` for {id:?}"
            );
            assert_ne!(
                Some(answered.as_bytes()),
                id,
                "{method} {path}: {id:?} must be replaced"
            );
            generated.insert(answered.to_owned());
        }
    }
    assert_eq!(generated.len(), 3 * 7, "every generated id is new");
}

async fn health_endpoints_answer_200(app: TestApp) {
    app.get("/healthz", None).await.assert_status(200);
    app.get("/readyz", None).await.assert_status(200);
}

/// A database URL of this backend that nothing answers, and what keeps it dead.
fn dead_database(backend: Backend) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = match backend {
        Backend::Postgres => "postgres://postgres@127.0.0.1:1/nope".to_owned(),
        // A directory where the database file should be: SQLite cannot
        // open it, whoever runs the test (root ignores permissions).
        Backend::Sqlite => {
            let path = dir.path().join("favorites.db");
            std::fs::create_dir(&path).expect("a directory in the way");
            path.to_string_lossy().into_owned()
        }
    };
    (url, dir)
}

async fn an_unreachable_database_is_503(app: TestApp) {
    let (url, _dir) = dead_database(app.backend);
    let dead = TestApp::spawn_with(
        app.backend,
        Options {
            database_url: Some(url),
            pool_timeout: Duration::from_millis(500),
            ..Options::default()
        },
    )
    .await;

    let reply = dead.get("/healthz", None).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "liveness does not need the database: {}",
        reply.body
    );
    let token = dead.token("caller");
    for (method, path, token) in [
        (Method::GET, "/readyz", None),
        (Method::GET, "/api/v1/interviews", None),
        (Method::GET, "/api/v1/me", Some(token.as_str())),
        (Method::POST, "/api/v1/interviews", Some(token.as_str())),
    ] {
        let body = (method == Method::POST).then(|| json!({"title": "x"}));
        let reply = dead.call(method.clone(), path, token, body).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {path}: {}",
            reply.body
        );
        reply.assert_problem(503, "unavailable");
        assert!(is_valid_request_id(reply.header("x-request-id")));
    }
}

both_backends!(
    malformed_ids_are_400_invalid_path,
    the_largest_id_is_well_formed,
    authentication_is_checked_before_the_path,
    the_path_is_checked_before_the_body,
    unknown_routes_are_404,
    wrong_methods_are_405_with_allow,
    a_valid_client_request_id_is_echoed,
    other_request_ids_are_replaced,
    health_endpoints_answer_200,
    an_unreachable_database_is_503,
);
