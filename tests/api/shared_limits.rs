//! Rate limits counted in Redis (`RATE_LIMIT_REDIS_URL`): one quota for all
//! instances, the same fields and 429 as the in-process limiter, and Redis
//! trouble never failing a request. Each test runs its own redis-server.

use favorites::db::Backend;
use reqwest::{Method, StatusCode};

use crate::harness::{Options, Reply, TestApp, TestRedis, wait_until};

async fn instance(redis: &TestRedis, per_ip: Option<u32>, per_user: Option<u32>) -> TestApp {
    TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            rate_limit_per_ip: per_ip,
            rate_limit_per_user: per_user,
            rate_limit_redis_url: Some(redis.url()),
            ..Options::default()
        },
    )
    .await
}

async fn list(app: &TestApp, token: Option<&str>) -> Reply {
    app.send(app.request(Method::GET, "/api/v1/interviews", token))
        .await
}

/// The `r` of `policy` in a reply's `RateLimit` field.
fn remaining(reply: &Reply, policy: &str) -> Option<u32> {
    let field = reply.headers.get("ratelimit")?.to_str().ok()?;
    field.split(", ").find_map(|item| {
        let rest = item.strip_prefix(&format!("\"{policy}\";r="))?;
        rest.split(';').next()?.parse().ok()
    })
}

#[actix_web::test]
async fn three_instances_spend_one_per_ip_quota() {
    let redis = TestRedis::start();
    let apps = [
        instance(&redis, Some(10), None).await,
        instance(&redis, Some(10), None).await,
        instance(&redis, Some(10), None).await,
    ];
    let mut left = Vec::new();
    for i in 0..10 {
        let reply = list(&apps[i % 3], None).await.assert_status(200);
        assert_eq!(reply.header("ratelimit-policy"), r#""per-ip";q=10;w=60"#);
        left.push(remaining(&reply, "per-ip").expect("a per-ip item"));
    }
    assert_eq!(
        left,
        (0..10).rev().collect::<Vec<_>>(),
        "one countdown across the instances"
    );
    for app in &apps {
        let refused = list(app, None).await;
        refused.assert_problem(429, "rate_limited");
        assert_eq!(remaining(&refused, "per-ip"), Some(0));
        let wait: u64 = refused.header("retry-after").parse().expect("Retry-After");
        assert!(
            (1..=6).contains(&wait),
            "one request's worth comes back in 6 s: {wait}"
        );
    }
}

#[actix_web::test]
async fn the_per_user_quota_follows_the_user_across_instances() {
    let redis = TestRedis::start();
    let first = instance(&redis, None, Some(4)).await;
    let second = instance(&redis, None, Some(4)).await;
    let ada = first.token("ada");
    let bob = first.token("bob");
    for app in [&first, &second, &first, &second] {
        list(app, Some(&ada)).await.assert_status(200);
    }
    list(&first, Some(&ada))
        .await
        .assert_problem(429, "rate_limited");
    list(&second, Some(&ada))
        .await
        .assert_problem(429, "rate_limited");
    let other = list(&second, Some(&bob)).await.assert_status(200);
    assert_eq!(remaining(&other, "per-user"), Some(3));
}

#[actix_web::test]
async fn without_redis_requests_are_served_and_limits_come_back_with_it() {
    let redis = TestRedis::start();
    let port = redis.port;
    let app = instance(&redis, Some(5), None).await;
    for expected in [4, 3] {
        let reply = list(&app, None).await.assert_status(200);
        assert_eq!(remaining(&reply, "per-ip"), Some(expected));
    }

    redis.stop();
    // More requests than the quota: all served, without the fields (no
    // limit was counted), and counted as store failures.
    for _ in 0..8 {
        let reply = list(&app, None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.headers.get("ratelimit").is_none(), "no limit counted");
    }
    let metrics = app.get("/metrics", None).await;
    let text = metrics.body.as_str().expect("the metrics text").to_owned();
    let failures: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("favorites_rate_limit_store_failures_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("the failure counter");
    assert!(failures >= 8, "{failures} failures counted");

    // Redis is back (empty, as after a restart without persistence): the
    // limits come back by themselves.
    let _redis = TestRedis::start_on(port);
    wait_until("the limit counts again", async || {
        remaining(&list(&app, None).await, "per-ip").is_some()
    })
    .await;
    let reply = list(&app, None).await.assert_status(200);
    assert!(remaining(&reply, "per-ip").is_some_and(|r| r < 4));
}
