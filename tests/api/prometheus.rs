//! `/metrics` read by a real Prometheus (Debian's `prometheus` package),
//! which asks for gzip like every production scraper: the target must be up
//! and the counters the test caused must arrive with their values.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::both_backends;
use crate::harness::{TestApp, free_port};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const JOB: &str = "favorites";

/// A Prometheus server scraping one target every second, with its config,
/// storage and log in a temporary directory; killed and removed on drop,
/// also when the test panics.
struct Prometheus {
    child: Child,
    base: String,
    client: reqwest::Client,
    // Dropped after `drop` has killed the process that writes into it.
    dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str, client: reqwest::Client) -> Prometheus {
        assert!(
            Path::new(PROMETHEUS).exists(),
            "the Prometheus test needs {PROMETHEUS}: install the `prometheus` package \
             (`apt-get install -y prometheus`)"
        );
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write the Prometheus config");
        let port = free_port();
        let log = File::create(dir.path().join("stderr.log")).expect("create the Prometheus log");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("start {PROMETHEUS}: {error}"));
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client,
            dir,
        }
    }

    /// A response of Prometheus's HTTP API (`/api/v1/...`); `None` while
    /// it is not listening yet or answers with an error.
    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .ok()?;
        let body: Value = response.json().await.ok()?;
        (body["status"] == "success").then_some(body)
    }

    /// Our target as `/api/v1/targets` reports it, once it is listed.
    async fn target(&self) -> Option<Value> {
        let targets = self.api("/api/v1/targets", &[]).await?;
        targets["data"]["activeTargets"]
            .as_array()?
            .iter()
            .find(|target| target["labels"]["job"] == JOB)
            .cloned()
    }

    /// The value of the one series `query` selects, once it has one.
    async fn value(&self, query: &str) -> Option<String> {
        let body = self.api("/api/v1/query", &[("query", query)]).await?;
        let result = body["data"]["result"].as_array()?;
        match result.as_slice() {
            [series] => series["value"][1].as_str().map(str::to_owned),
            [] => None,
            _ => panic!("`{query}` selects more than one series: {body}"),
        }
    }

    /// Polls `probe` until it yields, failing after 30 s with what
    /// Prometheus last said about the target and its log.
    async fn wait_for<T>(&self, what: &str, probe: impl AsyncFn(&Prometheus) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = probe(self).await {
                return found;
            }
            if Instant::now() >= deadline {
                panic!("timed out waiting for {what}\n{}", self.diagnostics().await);
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The target's health and last scrape error, and Prometheus's stderr.
    async fn diagnostics(&self) -> String {
        let target = match self.target().await {
            Some(target) => format!(
                "health {}, lastError {}",
                target["health"], target["lastError"]
            ),
            None => "the target is not listed (is Prometheus running?)".to_owned(),
        };
        let log = std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        format!("Prometheus target: {target}\nPrometheus stderr:\n{log}")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn prometheus_scrapes_the_counters_the_requests_caused(app: TestApp) {
    let token = app.token("scraped");
    let id = app.interview(&token, "Scraped").await;
    let path = format!("/api/v1/favorites/{id}");
    app.call(Method::PUT, &path, Some(&token), None)
        .await
        .assert_status(201);
    for _ in 0..3 {
        app.call(Method::POST, &format!("{path}/toggle"), Some(&token), None)
            .await
            .assert_status(200);
    }

    let target = app.base.trim_start_matches("http://");
    let prometheus = Prometheus::start(target, app.client.clone());
    let scraped = prometheus
        .wait_for(
            "Prometheus's first scrape of the server",
            async |prometheus| {
                let target = prometheus.target().await?;
                (target["health"] != "unknown").then_some(target)
            },
        )
        .await;
    assert_eq!(
        scraped["health"],
        "up",
        "Prometheus could not scrape the server\n{}",
        prometheus.diagnostics().await
    );

    let expected = [
        (format!("up{{job=\"{JOB}\"}}"), "1"),
        (
            r#"favorites_favorite_operations_total{operation="favorite"}"#.to_owned(),
            "1",
        ),
        (
            r#"favorites_favorite_operations_total{operation="toggle"}"#.to_owned(),
            "3",
        ),
        (
            r#"favorites_http_requests_total{endpoint="/api/v1/favorites/{interview_id}/toggle",method="POST",status="200"}"#
                .to_owned(),
            "3",
        ),
    ];
    for (query, value) in expected {
        let found = prometheus
            .wait_for(&format!("`{query}` in Prometheus"), async |prometheus| {
                prometheus.value(&query).await
            })
            .await;
        assert_eq!(found, value, "`{query}` in Prometheus");
    }
}

both_backends!(prometheus_scrapes_the_counters_the_requests_caused);
