//! The service as it is deployed beyond one process: a PostgreSQL primary
//! and a streaming replica, a Redis, three `favorites serve` processes and
//! HAProxy (Debian's package) in front of them, health-checking `/readyz`,
//! all made by this test on free ports of 127.0.0.1 and removed when it
//! ends (also when it fails: every part is dropped).
//!
//! Under a steady load of reads and writes through HAProxy, one phase after
//! another: a rolling restart of all three instances (0 failed requests),
//! `kill -9` of one (only requests in flight on it may fail), a fast
//! restart of the primary (quick 503s, then service without restarting any
//! instance), replica routing (paused replay, stopped replica), the per-IP
//! limit across the instances, and Redis stopped. Finally every
//! acknowledged write is in the database and every counter is exact.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use favorites::db::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Server, TestRedis, count_at, free_port, mint, wait_until};
use crate::pgcluster::PgCluster;

const INSTANCES: usize = 3;
const LOADERS: u8 = 12;
const PER_IP: u32 = 600;

/// HAProxy in the foreground, killed when dropped. Two front doors to the
/// same three instances: `api` retries a request whose connection failed
/// (it never reached an instance, so this is safe for any method) on another
/// instance; `strict` never retries, like a balancer that cannot, so only
/// the drain on SIGTERM keeps its requests off a stopping instance.
struct HaProxy {
    child: Child,
    port: u16,
    strict: u16,
    stats: u16,
    _dir: tempfile::TempDir,
}

impl HaProxy {
    fn start(backends: &[u16]) -> HaProxy {
        let dir = tempfile::tempdir().unwrap();
        let (port, strict, stats) = (free_port(), free_port(), free_port());
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, backend)| format!("  server s{i} 127.0.0.1:{backend} check\n"))
            .collect();
        let checks = "  balance roundrobin\n  option httpchk GET /readyz\n  \
             http-check expect status 200\n  default-server inter 100ms fall 2 rise 2\n";
        let config = format!(
            "global\n  maxconn 1024\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  timeout check 1s\n\
             frontend api\n  bind 127.0.0.1:{port}\n  option forwardfor\n  default_backend favorites\n\
             frontend strict\n  bind 127.0.0.1:{strict}\n  option forwardfor\n  \
             default_backend favorites_strict\n\
             backend favorites\n{checks}  retries 3\n  option redispatch\n  retry-on conn-failure\n{servers}\
             backend favorites_strict\n{checks}  retries 0\n{servers}\
             listen stats\n  bind 127.0.0.1:{stats}\n  stats enable\n  stats uri /stats\n"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy (Debian package haproxy)");
        HaProxy {
            child,
            port,
            strict,
            stats,
            _dir: dir,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn strict_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.strict)
    }

    /// Each server's status (UP, DOWN, …) on HAProxy's stats page.
    async fn statuses(&self) -> Vec<String> {
        let Ok(response) = reqwest::get(format!("http://127.0.0.1:{}/stats;csv", self.stats)).await
        else {
            return Vec::new();
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|line| {
                line.starts_with("favorites,s") || line.starts_with("favorites_strict,s")
            })
            .filter_map(|line| line.split(',').nth(17).map(str::to_owned))
            .collect()
    }

    /// Waits until both backends count instance `i` as down, as a deploy
    /// tool would before starting its replacement.
    async fn wait_down(&self, i: usize) {
        wait_until("HAProxy sees the instance down", async || {
            let statuses = self.statuses().await;
            statuses.len() == 2 * INSTANCES
                && statuses[i].starts_with("DOWN")
                && statuses[INSTANCES + i].starts_with("DOWN")
        })
        .await;
    }

    async fn wait_all_up(&self) {
        wait_until("HAProxy sees every instance up", async || {
            let statuses = self.statuses().await;
            statuses.len() == 2 * INSTANCES && statuses.iter().all(|status| status == "UP")
        })
        .await;
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the load saw, by phase.
#[derive(Default)]
struct Tally {
    phase: &'static str,
    sent: BTreeMap<&'static str, u64>,
    /// By phase and front door: status (0: no answer) and time taken.
    failed: BTreeMap<(&'static str, &'static str), Vec<(u16, Duration)>>,
    /// (user subject, interview id) of every acknowledged favorite.
    acknowledged: Vec<(String, i64)>,
}

type Shared = Arc<Mutex<Tally>>;

fn record(tally: &Shared, door: &'static str, status: Option<StatusCode>, took: Duration) {
    let mut tally = tally.lock().unwrap();
    let phase = tally.phase;
    *tally.sent.entry(phase).or_default() += 1;
    match status {
        Some(status) if status.is_success() => {}
        other => tally
            .failed
            .entry((phase, door))
            .or_default()
            .push((other.map_or(0, |status| status.as_u16()), took)),
    }
}

/// One loader: its own client address (so its own per-IP quota, named to
/// the instances by HAProxy's X-Forwarded-For) and user, five requests a
/// second: a favorite (remembered when acknowledged), and two anonymous reads.
async fn load(
    doors: [(&'static str, String); 2],
    loader: u8,
    token: String,
    interviews: Vec<i64>,
    tally: Shared,
    stop: Arc<AtomicBool>,
) {
    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, loader)))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let interview = interviews[(i * 7 + usize::from(loader)) % interviews.len()];
        let (method, path, auth) = match i % 3 {
            0 => (Method::PUT, format!("/api/v1/favorites/{interview}"), true),
            1 => (
                Method::GET,
                format!("/api/v1/interviews/{interview}"),
                false,
            ),
            _ => (
                Method::GET,
                format!("/api/v1/interviews/{interview}/favorited-by"),
                false,
            ),
        };
        // The doors take turns, so that every kind of request uses both.
        let (door, base) = &doors[(i / 3) % 2];
        let mut request = client.request(method.clone(), format!("{base}{path}"));
        if auth {
            request = request.bearer_auth(&token);
        }
        let started = Instant::now();
        let status = request.send().await.ok().map(|response| response.status());
        record(&tally, door, status, started.elapsed());
        if method == Method::PUT && status.is_some_and(|status| status.is_success()) {
            let subject = format!("loader-{loader}");
            tally
                .lock()
                .unwrap()
                .acknowledged
                .push((subject, interview));
        }
        i += 1;
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn cluster_rolling_restart_kill_primary_restart_replicas_and_shared_limits() {
    let cluster = PgCluster::start();
    let primary = cluster.primary.url();
    favorites::db::run_migrations(&primary).expect("migrate the primary");
    let redis = TestRedis::start();
    let machine = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..INSTANCES).map(|_| free_port()).collect();
    let env: Vec<(String, String)> = vec![
        ("JWT_SECRET".into(), String::new()),
        ("DATABASE_REPLICA_URLS".into(), cluster.replica.url()),
        ("DATABASE_REPLICA_MAX_LAG".into(), "3600".into()),
        ("RATE_LIMIT_REDIS_URL".into(), redis.url()),
        ("RATE_LIMIT_PER_IP".into(), PER_IP.to_string()),
        ("TRUSTED_PROXIES".into(), "127.0.0.1".into()),
        ("SHUTDOWN_DRAIN_SECONDS".into(), "2".into()),
        ("DATABASE_POOL_SIZE".into(), "4".into()),
        ("DATABASE_WRITE_POOL_SIZE".into(), "4".into()),
    ];
    let start = |i: usize| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Server::start_at(machine.path(), ports[i], &primary, &env)
    };
    let mut servers: Vec<Option<Server>> = (0..INSTANCES).map(|i| Some(start(i))).collect();
    let haproxy = HaProxy::start(&ports);
    haproxy.wait_all_up().await;
    let base = haproxy.base();
    let client = reqwest::Client::new();

    // Interviews to work on, and a token per loader (the secret every
    // instance generated together, in the database).
    let author = mint(machine.path(), &primary, "author");
    let mut interviews = Vec::new();
    // The last one is only for the replica phase: the load leaves it alone.
    for i in 0..21 {
        let created: Value = client
            .post(format!("{base}/api/v1/interviews"))
            .bearer_auth(&author)
            .json(&json!({"title": format!("cluster {i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        interviews.push(created["id"].as_i64().expect("an interview"));
    }
    let tally: Shared = Arc::new(Mutex::new(Tally {
        phase: "steady",
        ..Tally::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (1..=LOADERS)
        .map(|loader| {
            let token = mint(machine.path(), &primary, &format!("loader-{loader}"));
            actix_web::rt::spawn(load(
                [("api", base.clone()), ("strict", haproxy.strict_base())],
                loader,
                token,
                interviews[..20].to_vec(),
                tally.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let sent = |tally: &Shared| tally.lock().unwrap().sent.values().sum::<u64>();
    let settle = async |what: &str| {
        let before = sent(&tally);
        wait_until(what, async || sent(&tally) >= before + 60).await;
    };
    settle("the load runs").await;
    let phase = |name: &'static str| tally.lock().unwrap().phase = name;

    // 1. Rolling restart: SIGTERM (readiness fails, the drain lets HAProxy
    // take it out), wait for the exit, start it again, wait until it is up.
    phase("rolling restart");
    for (i, slot) in servers.iter_mut().enumerate() {
        let mut server = slot.take().unwrap();
        server.signal("-TERM");
        assert!(server.wait().success());
        haproxy.wait_down(i).await;
        *slot = Some(start(i));
        haproxy.wait_all_up().await;
        settle("the load runs on").await;
    }

    // 2. kill -9 of one instance: only what was in flight on it may fail.
    phase("kill -9");
    let mut killed = servers[1].take().unwrap();
    killed.signal("-KILL");
    killed.wait();
    settle("the load runs on the other two").await;
    servers[1] = Some(start(1));
    haproxy.wait_all_up().await;

    // 3. A fast restart of the primary: 503s, quickly; then service again,
    // with no instance restarted.
    phase("primary restart");
    cluster.primary.stop_fast();
    let asked = Instant::now();
    let down = client
        .put(format!("{base}/api/v1/favorites/{}", interviews[1]))
        .bearer_auth(&author)
        .send()
        .await
        .unwrap();
    let answered_in = asked.elapsed();
    assert_eq!(
        down.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a write while the primary is down"
    );
    assert!(
        answered_in < Duration::from_secs(6),
        "answered quickly: {answered_in:?}"
    );
    let restarted = Instant::now();
    cluster.primary.start();
    wait_until("a write succeeds after the primary restart", async || {
        client
            .put(format!("{base}/api/v1/favorites/{}", interviews[0]))
            .bearer_auth(&author)
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
    })
    .await;
    let recovered = restarted.elapsed();
    haproxy.wait_all_up().await;
    settle("the load runs after the primary restart").await;

    // 4. Replicas: with replay paused, anonymous readers see the replica's
    // state and the writer their own write; with the replica stopped, no
    // read fails.
    phase("replica");
    let watched = interviews[20];
    let anonymous_count = async || -> i64 {
        let body: Value = client
            .get(format!("{base}/api/v1/interviews/{watched}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["favorites_count"].as_i64().unwrap()
    };
    let before = count_at(
        Backend::Postgres,
        &primary,
        &format!("SELECT favorites_count AS n FROM interviews WHERE id = {watched}"),
    );
    wait_until("the replica has caught up", async || {
        anonymous_count().await == before
    })
    .await;
    cluster.replica.execute("SELECT pg_wal_replay_pause()");
    let watcher = mint(machine.path(), &primary, "watcher");
    let put = client
        .put(format!("{base}/api/v1/favorites/{watched}"))
        .bearer_auth(&watcher)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let own: Value = client
        .get(format!("{base}/api/v1/interviews/{watched}"))
        .bearer_auth(&watcher)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        own["favorites_count"].as_i64(),
        Some(before + 1),
        "the writer reads the primary"
    );
    for _ in 0..INSTANCES {
        assert_eq!(
            anonymous_count().await,
            before,
            "anonymous reads come from the paused replica"
        );
    }
    cluster.replica.execute("SELECT pg_wal_replay_resume()");
    phase("replica stopped");
    cluster.replica.stop_immediately();
    settle("the load reads on without the replica").await;

    // 5. The per-IP limit across the three instances, for one client
    // address (through HAProxy, which names it in X-Forwarded-For).
    phase("limit");
    let limited = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1)))
        .build()
        .unwrap();
    let burst = Instant::now();
    let mut accepted = 0u32;
    for _ in 0..(PER_IP + 50) {
        let response = limited
            .get(format!("{base}/api/v1/interviews"))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        accepted += 1;
    }
    let refill = (burst.elapsed().as_secs_f64() * f64::from(PER_IP) / 60.0).ceil() as u32;
    assert!(
        accepted >= PER_IP && accepted <= PER_IP + refill + 2,
        "{accepted} accepted of a quota of {PER_IP} (+{refill} refilled during the burst)"
    );

    // 6. Redis stopped: served anyway.
    phase("redis stopped");
    redis.stop();
    for _ in 0..50 {
        let response = limited
            .get(format!("{base}/api/v1/interviews"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "fail open without Redis");
    }
    settle("the load runs without Redis").await;

    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        loader.await.unwrap();
    }

    // Every acknowledged write is there, every counter exact.
    let tally = tally.lock().unwrap();
    let mut conn = PgConnection::establish(&primary).unwrap();
    let present: HashSet<(String, i64)> = {
        #[derive(QueryableByName)]
        struct Pair {
            #[diesel(sql_type = diesel::sql_types::Text)]
            subject: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            interview_id: i64,
        }
        diesel::sql_query(
            "SELECT u.subject, f.interview_id FROM favorite_interviews f JOIN users u ON u.id = f.user_id",
        )
        .load::<Pair>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|pair| (pair.subject, pair.interview_id))
        .collect()
    };
    let missing: Vec<_> = tally
        .acknowledged
        .iter()
        .filter(|pair| !present.contains(pair))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged favorites missing: {missing:?}"
    );
    let drift = count_at(
        Backend::Postgres,
        &primary,
        "SELECT count(*) AS n FROM interviews i WHERE i.favorites_count <> \
         (SELECT count(*) FROM favorite_interviews f WHERE f.interview_id = i.id)",
    );
    assert_eq!(drift, 0, "every favorites_count equals its rows");

    let failed = |phase: &'static str, door: &'static str| {
        tally
            .failed
            .get(&(phase, door))
            .map_or(&[][..], Vec::as_slice)
    };
    println!(
        "cluster: sent {:?}; failed {:?}; {} acknowledged favorites checked; {accepted} of a per-IP quota of {PER_IP} accepted across {INSTANCES} instances; primary down: a write answered 503 in {answered_in:?}; after the restart, writes succeeded again after {recovered:?}",
        tally.sent,
        tally
            .failed
            .iter()
            .map(|(phase, failures)| (*phase, failures.len()))
            .collect::<BTreeMap<_, _>>(),
        tally.acknowledged.len(),
    );
    for phase in [
        "steady",
        "rolling restart",
        "replica",
        "replica stopped",
        "limit",
        "redis stopped",
    ] {
        for door in ["api", "strict"] {
            assert!(
                failed(phase, door).is_empty(),
                "{phase} through {door}: failed requests {:?}",
                failed(phase, door)
            );
        }
    }
    // Each loader has at most one request in flight: through the retrying
    // door only those may fail (the strict door also loses what it sends
    // before HAProxy sees the instance gone).
    assert!(
        failed("kill -9", "api").len() <= usize::from(LOADERS),
        "kill -9: at most the requests in flight fail: {:?}",
        failed("kill -9", "api")
    );
    for door in ["api", "strict"] {
        for (status, took) in failed("primary restart", door) {
            assert_eq!(*status, 503, "a primary restart answers 503");
            assert!(*took < Duration::from_secs(6), "quickly: {took:?}");
        }
    }
    drop(servers);
}
