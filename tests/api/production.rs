//! Day-one production behaviour: metrics, CORS, rate limits.

use reqwest::{Method, StatusCode};

use crate::both_backends;
use crate::harness::{Options, TestApp, series_value};

async fn metrics_count_requests_operations_and_the_pool(app: TestApp) {
    let token = app.token("fan");
    let id = app.interview(&token, "Measured").await;
    let path = format!("/api/v1/favorites/{id}");
    app.call(Method::PUT, &path, Some(&token), None).await;
    app.call(Method::DELETE, &path, Some(&token), None).await;
    app.call(Method::POST, &format!("{path}/toggle"), Some(&token), None)
        .await;
    app.call(Method::POST, &format!("{path}/toggle"), Some(&token), None)
        .await;
    app.get("/api/v1/favorites/abc", Some(&token)).await;

    let reply = app.get("/metrics", None).await.assert_status(200);
    assert!(reply.header("content-type").starts_with("text/plain"));
    let text = reply.body.as_str().expect("the metrics as text");
    for expected in [
        r#"favorites_http_requests_total{endpoint="/api/v1/favorites/{interview_id}",method="PUT",status="201"} 1"#,
        r#"favorites_http_requests_total{endpoint="/api/v1/favorites/{interview_id}",method="DELETE",status="200"} 1"#,
        r#"favorites_http_requests_total{endpoint="/api/v1/favorites/{interview_id}",method="GET",status="400"} 1"#,
        r#"favorites_http_requests_total{endpoint="/api/v1/favorites/{interview_id}/toggle",method="POST",status="200"} 2"#,
        r#"favorites_http_requests_duration_seconds_bucket{endpoint="/api/v1/interviews",method="POST",status="201",le="+Inf"} 1"#,
        r#"favorites_favorite_operations_total{operation="favorite"} 1"#,
        r#"favorites_favorite_operations_total{operation="unfavorite"} 1"#,
        r#"favorites_favorite_operations_total{operation="toggle"} 2"#,
        "favorites_http_requests_in_flight 1",
    ] {
        assert!(
            text.lines().any(|line| line == expected),
            "missing `{expected}` in:\n{text}"
        );
    }
    let gauge = |state: &str| -> i64 {
        let series = format!("favorites_db_pool_connections{{state=\"{state}\"}}");
        series_value(text, &series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert!(
        gauge("idle") >= 1,
        "the pool has idle connections after the requests"
    );
    assert_eq!(
        gauge("in_use"),
        0,
        "nothing holds a connection between requests"
    );
}

const ORIGIN: &str = "http://app.example.test";

async fn cors_preflight_and_responses_carry_the_headers(app: TestApp) {
    let app = TestApp::spawn_with(
        app.backend,
        Options {
            cors_allowed_origins: vec![ORIGIN.to_owned()],
            ..Options::default()
        },
    )
    .await;
    let token = app.token("browser-user");
    let id = app.interview(&token, "Cross-origin").await;
    let path = format!("/api/v1/favorites/{id}");

    for method in ["PUT", "DELETE", "POST"] {
        let preflight = app
            .send(
                app.request(Method::OPTIONS, &path, None)
                    .header("Origin", ORIGIN)
                    .header("Access-Control-Request-Method", method)
                    .header(
                        "Access-Control-Request-Headers",
                        "authorization, content-type",
                    ),
            )
            .await;
        assert!(
            preflight.status.is_success(),
            "{method} preflight: {}",
            preflight.status
        );
        assert_eq!(preflight.header("access-control-allow-origin"), ORIGIN);
        let methods = preflight.header("access-control-allow-methods");
        assert!(methods.contains(method), "{methods}");
        let allowed = preflight
            .header("access-control-allow-headers")
            .to_lowercase();
        assert!(
            allowed.contains("authorization") && allowed.contains("content-type"),
            "{allowed}"
        );
    }

    let reply = app
        .send(
            app.request(Method::PUT, &path, Some(&token))
                .header("Origin", ORIGIN),
        )
        .await
        .assert_status(201);
    assert_eq!(reply.header("access-control-allow-origin"), ORIGIN);
    let exposed = reply.header("access-control-expose-headers").to_lowercase();
    let names: Vec<&str> = exposed.split(',').map(str::trim).collect();
    for header in [
        "link",
        "location",
        "x-request-id",
        "ratelimit-policy",
        "ratelimit",
    ] {
        assert!(names.contains(&header), "{header} is exposed: {exposed}");
    }

    let error = app
        .send(
            app.request(Method::PUT, &path, None)
                .header("Origin", ORIGIN),
        )
        .await
        .assert_status(401);
    assert_eq!(
        error.header("access-control-allow-origin"),
        ORIGIN,
        "errors carry CORS headers too"
    );

    let foreign = app
        .send(
            app.request(Method::OPTIONS, &path, None)
                .header("Origin", "http://evil.example.test")
                .header("Access-Control-Request-Method", "PUT"),
        )
        .await;
    assert!(
        foreign.headers.get("access-control-allow-origin").is_none(),
        "a disallowed origin gets no CORS grant"
    );
}

async fn per_ip_limit_answers_429_with_retry_after(app: TestApp) {
    let app = TestApp::spawn_with(
        app.backend,
        Options {
            rate_limit_per_ip: Some(5),
            ..Options::default()
        },
    )
    .await;
    for _ in 0..5 {
        app.get("/api/v1/interviews", None).await.assert_status(200);
    }
    let reply = app.get("/api/v1/interviews", None).await;
    let retry_after: u64 = reply.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    reply.assert_problem(429, "rate_limited");
}

async fn per_user_limit_is_per_token_subject(app: TestApp) {
    let app = TestApp::spawn_with(
        app.backend,
        Options {
            rate_limit_per_user: Some(3),
            ..Options::default()
        },
    )
    .await;
    let (busy, other) = (app.token("busy"), app.token("other"));
    for _ in 0..3 {
        app.get("/api/v1/me", Some(&busy)).await.assert_status(200);
    }
    app.get("/api/v1/me", Some(&busy))
        .await
        .assert_problem(429, "rate_limited");
    assert_eq!(
        app.get("/api/v1/me", Some(&other)).await.status,
        StatusCode::OK,
        "another user is not limited by the first one's use"
    );
    for _ in 0..5 {
        assert_eq!(
            app.get("/api/v1/interviews", None).await.status,
            StatusCode::OK,
            "anonymous requests are left to the per-IP limit (off here)"
        );
    }
}

both_backends!(
    metrics_count_requests_operations_and_the_pool,
    cors_preflight_and_responses_carry_the_headers,
    per_ip_limit_answers_429_with_retry_after,
    per_user_limit_is_per_token_subject,
);
