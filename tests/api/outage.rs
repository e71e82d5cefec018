//! A database outage, for real: the server reaches PostgreSQL through a TCP
//! proxy owned by the test, which cuts every connection and refuses new ones,
//! then lets them through again. The machine's PostgreSQL is never stopped.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use favorites::db::Backend;
use reqwest::{Method, StatusCode};

use crate::harness::{Options, TestApp, TestDatabase};

/// A TCP proxy to one upstream address that can be cut and restored.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (cut_flag, open_list, stop_flag) = (cut.clone(), open.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if cut_flag.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let mut open = open_list.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy {
            port,
            cut,
            open,
            stop,
        }
    }

    /// Drops every open connection and refuses new ones.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(read) = from.read(&mut buffer) {
            if read == 0 || to.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// `url` with its host and port replaced by the proxy's.
fn through(url: &str, port: u16) -> (String, String) {
    let scheme_end = url.find("://").unwrap() + 3;
    let authority_end = scheme_end + url[scheme_end..].find('/').unwrap();
    let authority = &url[scheme_end..authority_end];
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (format!("{userinfo}@"), host_port),
        None => (String::new(), authority),
    };
    let upstream = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    (
        format!(
            "{}{userinfo}127.0.0.1:{port}{}",
            &url[..scheme_end],
            &url[authority_end..]
        ),
        upstream,
    )
}

#[actix_web::test]
async fn postgres_outage_answers_503_quickly_and_recovers_without_restart() {
    let database = TestDatabase::create(Backend::Postgres);
    let (_, upstream) = through(&database.url, 0);
    let proxy = Proxy::start(upstream);
    let (proxied, _) = through(&database.url, proxy.port);
    let pool_timeout = Duration::from_millis(1000);
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            database_url: Some(proxied),
            pool_timeout,
            ..Options::default()
        },
    )
    .await;

    let token = app.token("survivor");
    let id = app.interview(&token, "Before the outage").await;
    app.call(
        Method::PUT,
        &format!("/api/v1/favorites/{id}"),
        Some(&token),
        None,
    )
    .await
    .assert_status(201);
    // A read too, so that a shared read connection is open when the cut comes.
    app.get(&format!("/api/v1/interviews/{id}"), None)
        .await
        .assert_status(200);

    proxy.cut();
    for (method, path) in [
        (Method::GET, "/api/v1/interviews".to_owned()),
        (Method::GET, format!("/api/v1/interviews/{id}")),
        (Method::DELETE, format!("/api/v1/favorites/{id}")),
        (Method::GET, "/readyz".to_owned()),
    ] {
        let started = Instant::now();
        let reply = app.call(method.clone(), &path, Some(&token), None).await;
        let elapsed = started.elapsed();
        assert_eq!(reply.header("retry-after"), "1", "{method} {path}");
        reply.assert_problem(503, "unavailable");
        assert!(
            elapsed < pool_timeout * 3,
            "{method} {path} took {elapsed:?}: bounded by the pool timeout, not a hang"
        );
    }
    assert_eq!(
        app.get("/healthz", None).await.status,
        StatusCode::OK,
        "liveness does not depend on the database"
    );

    proxy.restore();
    // Each dead pooled connection is discarded by the request that finds it,
    // so within pool-size attempts (no waiting in between) service is back.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let reply = app.get("/readyz", None).await;
        if reply.status == StatusCode::OK {
            break;
        }
        reply.assert_problem(503, "unavailable");
        assert!(
            attempts <= 9,
            "service did not resume after {attempts} attempts"
        );
    }
    let body = app
        .call(
            Method::DELETE,
            &format!("/api/v1/favorites/{id}"),
            Some(&token),
            None,
        )
        .await
        .assert_status(200)
        .body;
    assert_eq!(
        body["favorites_count"], 0,
        "the write during the outage changed nothing, this one did"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM favorite_interviews WHERE interview_id = {id}"
        )),
        0
    );
    drop(app);
    drop(database);
}
