//! The `RateLimit-Policy` and `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers-09) on the responses a limit
//! applied to.
//!
//! The limits here are 4 and 6 requests a minute: one request's worth comes
//! back every 15 or 10 seconds, longer than a test takes, so `r` and `t` are
//! exact. After `n` quick requests `r = q - n` and `t = (q - r) · 60/q`, the
//! seconds until the whole quota is back.

use reqwest::Method;
use serde_json::Value;

use crate::both_backends;
use crate::harness::{Options, Reply, TestApp};

const POLICY: &str = "ratelimit-policy";
const LIMIT: &str = "ratelimit";

async fn spawn(app: TestApp, per_ip: Option<u32>, per_user: Option<u32>) -> TestApp {
    TestApp::spawn_with(
        app.backend,
        Options {
            rate_limit_per_ip: per_ip,
            rate_limit_per_user: per_user,
            ..Options::default()
        },
    )
    .await
}

#[track_caller]
fn assert_no_fields(reply: &Reply) {
    for name in [POLICY, LIMIT] {
        assert!(
            reply.headers.get(name).is_none(),
            "no {name} field; status {}, headers {:?}",
            reply.status,
            reply.headers
        );
    }
}

/// `Retry-After` of a 429, in seconds.
#[track_caller]
fn retry_after(reply: &Reply) -> u64 {
    reply.header("retry-after").parse().expect("whole seconds")
}

async fn per_ip_fields_count_down_to_a_429(app: TestApp) {
    let app = spawn(app, Some(4), None).await;
    for (remaining, reset) in [(3, 15), (2, 30), (1, 45), (0, 60)] {
        let reply = app.get("/api/v1/interviews", None).await.assert_status(200);
        assert_eq!(reply.header(POLICY), r#""per-ip";q=4;w=60"#);
        assert_eq!(
            reply.header(LIMIT),
            format!(r#""per-ip";r={remaining};t={reset}"#)
        );
    }

    let refused = app.get("/api/v1/interviews", None).await;
    refused.assert_problem(429, "rate_limited");
    let wait = retry_after(&refused);
    assert!((1..=15).contains(&wait), "Retry-After {wait}");
    assert_eq!(refused.header(POLICY), r#""per-ip";q=4;w=60"#);
    // The next request's worth is back after `Retry-After`, the other
    // three 15 seconds apart after it.
    assert_eq!(
        refused.header(LIMIT),
        format!(r#""per-ip";r=0;t={}"#, wait + 45)
    );
}

async fn per_user_fields_need_a_valid_token(app: TestApp) {
    let app = spawn(app, None, Some(4)).await;
    let token = app.token("counted");
    for path in ["/api/v1/interviews", "/api/v1/me", "/api/v1/nowhere"] {
        assert_no_fields(&app.get(path, None).await);
    }
    let invalid = app.get("/api/v1/interviews", Some("not-a-token")).await;
    invalid.assert_problem(401, "invalid_token");
    assert_no_fields(&invalid);

    for (remaining, reset) in [(3, 15), (2, 30), (1, 45), (0, 60)] {
        let reply = app.get("/api/v1/me", Some(&token)).await.assert_status(200);
        assert_eq!(reply.header(POLICY), r#""per-user";q=4;w=60"#);
        assert_eq!(
            reply.header(LIMIT),
            format!(r#""per-user";r={remaining};t={reset}"#)
        );
    }
    let refused = app.get("/api/v1/me", Some(&token)).await;
    refused.assert_problem(429, "rate_limited");
    assert_eq!(
        refused.header(LIMIT),
        format!(r#""per-user";r=0;t={}"#, retry_after(&refused) + 45)
    );

    let other = app.get("/api/v1/me", Some(&app.token("other"))).await;
    assert_eq!(
        other.assert_status(200).header(LIMIT),
        r#""per-user";r=3;t=15"#,
        "each user has a quota of their own"
    );
}

async fn both_limits_give_one_item_each(app: TestApp) {
    let app = spawn(app, Some(6), Some(4)).await;
    let token = app.token("both");
    let both = r#""per-ip";q=6;w=60, "per-user";q=4;w=60"#;
    let path = "/api/v1/me";
    for (ip, user) in [(5, 3), (4, 2), (3, 1), (2, 0)] {
        let reply = app.get(path, Some(&token)).await.assert_status(200);
        assert_eq!(reply.header(POLICY), both);
        assert_eq!(
            reply.header(LIMIT),
            format!(
                r#""per-ip";r={ip};t={}, "per-user";r={user};t={}"#,
                10 * (6 - ip),
                15 * (4 - user)
            )
        );
    }

    // The per-user limit refuses; the per-IP one, outside it, has counted.
    let refused = app.get(path, Some(&token)).await;
    refused.assert_problem(429, "rate_limited");
    assert_eq!(refused.header(POLICY), both);
    assert_eq!(
        refused.header(LIMIT),
        format!(
            r#""per-ip";r=1;t=50, "per-user";r=0;t={}"#,
            retry_after(&refused) + 45
        )
    );

    let anonymous = app.get("/api/v1/interviews", None).await.assert_status(200);
    assert_eq!(anonymous.header(POLICY), r#""per-ip";q=6;w=60"#);
    assert_eq!(anonymous.header(LIMIT), r#""per-ip";r=0;t=60"#);

    // The per-IP limit refuses before the token is even read: the per-user
    // limit did not apply, so it has no item.
    let refused = app.get(path, Some(&token)).await;
    refused.assert_problem(429, "rate_limited");
    assert_eq!(refused.header(POLICY), r#""per-ip";q=6;w=60"#);
    assert_eq!(
        refused.header(LIMIT),
        format!(r#""per-ip";r=0;t={}"#, retry_after(&refused) + 50)
    );
}

async fn limits_off_add_no_fields(app: TestApp) {
    let token = app.token("unlimited");
    let id = app.interview(&token, "Unlimited").await;
    let replies = [
        app.get("/api/v1/interviews", None).await,
        app.get("/api/v1/me", Some(&token)).await,
        app.call(
            Method::PUT,
            &format!("/api/v1/favorites/{id}"),
            Some(&token),
            None,
        )
        .await,
        app.get("/api/v1/me", None).await,
        app.get("/healthz", None).await,
    ];
    for reply in &replies {
        assert_no_fields(reply);
    }
}

/// Generated clients learn both fields from the document, as optional:
/// the fuzzing runs without limits, where they are absent.
#[test]
fn document_describes_the_fields_on_every_response_as_optional() {
    let document = serde_json::to_value(favorites::router::document()).unwrap();
    for name in ["RateLimit-Policy", "RateLimit"] {
        let header = &document["components"]["headers"][name];
        assert_eq!(header["required"], false, "{name}: {header}");
        assert_eq!(header["schema"]["type"], "string", "{name}: {header}");
        assert!(header["description"].is_string(), "{name}: {header}");
    }
    let mut responses = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                for name in ["RateLimit-Policy", "RateLimit"] {
                    assert_eq!(
                        response["headers"][name]["$ref"],
                        Value::from(format!("#/components/headers/{name}")),
                        "{method} {path} {status}"
                    );
                }
                responses += 1;
            }
        }
    }
    assert!(responses > 100, "{responses} responses");
}

both_backends!(
    per_ip_fields_count_down_to_a_429,
    per_user_fields_need_a_valid_token,
    both_limits_give_one_item_each,
    limits_off_add_no_fields,
);

async fn forwarded(app: &TestApp, chain: &str) -> u16 {
    app.send(
        app.request(reqwest::Method::GET, "/api/v1/interviews", None)
            .header("X-Forwarded-For", chain),
    )
    .await
    .status
    .as_u16()
}

#[actix_web::test]
async fn behind_a_trusted_proxy_the_per_ip_limit_counts_the_forwarded_client() {
    let app = TestApp::spawn_with(
        favorites::db::Backend::Sqlite,
        Options {
            rate_limit_per_ip: Some(2),
            trusted_proxies: Some("127.0.0.1, 10.0.0.0/8".to_owned()),
            ..Options::default()
        },
    )
    .await;
    // What the proxy appended counts; a client's own entries to the left
    // of it do not, nor do other trusted proxies' (10.x) on the way.
    assert_eq!(forwarded(&app, "198.51.100.7").await, 200);
    assert_eq!(
        forwarded(&app, "203.0.113.9, 198.51.100.7, 10.1.2.3").await,
        200
    );
    assert_eq!(forwarded(&app, "192.0.2.1, 198.51.100.7").await, 429);
    assert_eq!(forwarded(&app, "198.51.100.8").await, 200, "another client");
}

#[actix_web::test]
async fn from_an_untrusted_peer_x_forwarded_for_is_ignored() {
    let app = TestApp::spawn_with(
        favorites::db::Backend::Sqlite,
        Options {
            rate_limit_per_ip: Some(2),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(forwarded(&app, "198.51.100.1").await, 200);
    assert_eq!(forwarded(&app, "198.51.100.2").await, 200);
    assert_eq!(
        forwarded(&app, "198.51.100.3").await,
        429,
        "one peer, one quota"
    );
}

#[actix_web::test]
async fn health_and_metrics_are_never_limited() {
    // A load balancer's checks and Prometheus's scrapes come from one
    // address, often: limiting them would take healthy instances out.
    let app = TestApp::spawn_with(
        favorites::db::Backend::Sqlite,
        Options {
            rate_limit_per_ip: Some(1),
            ..Options::default()
        },
    )
    .await;
    for _ in 0..5 {
        for path in ["/healthz", "/readyz", "/metrics"] {
            let reply = app.get(path, None).await.assert_status(200);
            assert!(reply.headers.get("ratelimit").is_none(), "{path}");
        }
    }
    app.get("/api/v1/interviews", None).await.assert_status(200);
    app.get("/api/v1/interviews", None)
        .await
        .assert_problem(429, "rate_limited");
}
