//! CORS proved in a real browser: headless Chromium loads a page from one
//! origin that favorites and unfavorites an interview on the API at another
//! origin with a bearer token; the same page from a disallowed origin is
//! blocked before its request is ever sent.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use favorites::db::Backend;

use crate::harness::{Options, TestApp};

fn page_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind a page server")
}

/// Serves `page` to every request on `listener`, until the test ends;
/// returns the port (the page's origin).
fn serve_page(listener: TcpListener, page: String) -> u16 {
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

fn page(api: &str, token: &str, interview_id: i64) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="result">pending</pre><script>
(async () => {{
  const url = "{api}/api/v1/favorites/{interview_id}";
  const headers = {{"Authorization": "Bearer {token}", "Content-Type": "application/json"}};
  const out = [];
  try {{
    let response = await fetch(url, {{method: "PUT", headers}});
    let body = await response.json();
    out.push("PUT " + response.status + " " + body.favorited + " " + (response.headers.get("X-Request-Id") ? "request-id" : "no-request-id"));
    response = await fetch(url, {{method: "DELETE", headers}});
    body = await response.json();
    out.push("DELETE " + response.status + " " + body.favorited);
  }} catch (error) {{
    out.push("blocked " + error.name);
  }}
  document.getElementById("result").textContent = out.join("; ");
}})();
</script></body></html>"#
    )
}

/// Loads `url` in headless Chromium and returns the text of `#result`.
fn run_in_chromium(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap_or_else(|error| {
            panic!("the browser tests need Chromium: `apt-get install -y chromium` ({error})")
        });
    let dom = String::from_utf8_lossy(&output.stdout);
    let start = dom.find(r#"<pre id="result">"#).unwrap_or_else(|| {
        panic!(
            "no #result in the page: {dom}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let rest = &dom[start + r#"<pre id="result">"#.len()..];
    rest[..rest.find("</pre>").unwrap()].to_owned()
}

async fn browser_cors(backend: Backend) {
    // The allowed page origin must be known before the API starts.
    let allowed_listener = page_listener();
    let allowed_port = allowed_listener.local_addr().unwrap().port();
    let allowed_origin = format!("http://127.0.0.1:{allowed_port}");
    let app = TestApp::spawn_with(
        backend,
        Options {
            cors_allowed_origins: vec![allowed_origin.clone()],
            ..Options::default()
        },
    )
    .await;
    let author = app.token("author");
    let interview_id = app.interview(&author, "Favorited from a browser").await;

    let browser_user = app.token("browser-user");
    let allowed = serve_page(
        allowed_listener,
        page(&app.base, &browser_user, interview_id),
    );
    let result = run_in_chromium(&format!("http://127.0.0.1:{allowed}/"));
    assert_eq!(
        result, "PUT 201 true request-id; DELETE 200 false",
        "from the allowed origin"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE subject = 'browser-user'"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM favorite_interviews"),
        0
    );

    let intruder = app.token("intruder");
    let foreign = serve_page(page_listener(), page(&app.base, &intruder, interview_id));
    let result = run_in_chromium(&format!("http://127.0.0.1:{foreign}/"));
    assert_eq!(result, "blocked TypeError", "from a disallowed origin");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE subject = 'intruder'"),
        0,
        "the PUT was never sent"
    );
}

#[actix_web::test]
async fn sqlite_browser_cors() {
    browser_cors(Backend::Sqlite).await;
}

#[actix_web::test]
async fn postgres_browser_cors() {
    browser_cors(Backend::Postgres).await;
}
