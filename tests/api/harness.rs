//! The one test harness: every test gets its own fresh database (a temporary
//! SQLite file, or a PostgreSQL database cloned from a migrated template) and
//! its own real server on a real port, and talks to it over HTTP with real
//! signed JWTs, reading every response as a `Reply`. What only `main` does
//! (signals, the log) is tested on the real binary, started as a `Server`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sql_types::BigInt;
use diesel::{PgConnection, RunQueryDsl, SqliteConnection, sql_query};
use favorites::auth::KeyConfig;
use favorites::config::{RawSettings, Settings};
use favorites::db::{self, Backend};
use favorites::startup::Application;
use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The HS256 secret every test server (and every spawned binary) verifies with.
pub const SECRET_TEXT: &str = "test-secret-that-is-at-least-32-bytes-long";
pub const SECRET: &[u8] = SECRET_TEXT.as_bytes();
const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Declares each listed `async fn name(app: TestApp)` as two tests,
/// `sqlite::name` and `postgres::name`, each on a fresh database.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::harness::TestApp::spawn(favorites::db::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::harness::TestApp::spawn(favorites::db::Backend::Postgres).await).await
                }
            )*
        }
    };
}

/// A fresh database of one backend, removed when dropped.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// `admin_url` with its database name replaced.
fn url_for(admin_url: &str, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

fn connect_admin(admin_url: &str) -> PgConnection {
    PgConnection::establish(admin_url).unwrap_or_else(|error| {
        panic!(
            "the PostgreSQL tests need a server: set TEST_DATABASE_URL (default {DEFAULT_TEST_DATABASE_URL}) \
             to a URL of a role that may CREATE DATABASE, or start the local one with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`. Connecting to {admin_url} failed: {error}"
        )
    })
}

/// Name of the migrated template: changes whenever a migration does, so a
/// stale template from an older run is never used.
fn template_name() -> String {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<PathBuf> = Vec::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    for entry in std::fs::read_dir(&root)
        .expect("migrations/postgres is readable")
        .flatten()
    {
        for file in std::fs::read_dir(entry.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            files.push(file.path());
        }
    }
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in files {
        file.file_name().hash(&mut hasher);
        std::fs::read(&file)
            .expect("migration is readable")
            .hash(&mut hasher);
    }
    format!("favorites_template_{:016x}", hasher.finish())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Creates the template once per machine and migration set; an advisory lock
/// keeps concurrent test processes from building it twice.
fn ensure_template(admin: &mut PgConnection, admin_url: &str) -> String {
    let template = template_name();
    sql_query("SELECT pg_advisory_lock(74201)")
        .execute(admin)
        .expect("advisory lock");
    let exists = sql_query(format!(
        "SELECT count(*) AS n FROM pg_database WHERE datname = '{template}'"
    ))
    .get_result::<Count>(admin)
    .expect("query pg_database")
    .n > 0;
    if !exists {
        let building = format!("{template}_building");
        sql_query(format!(
            "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
        ))
        .execute(admin)
        .expect("drop old template");
        sql_query(format!("CREATE DATABASE \"{building}\""))
            .execute(admin)
            .expect("create template");
        db::run_migrations(&url_for(admin_url, &building)).expect("migrate template");
        sql_query(format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{template}\""
        ))
        .execute(admin)
        .expect("publish template");
    }
    sql_query("SELECT pg_advisory_unlock(74201)")
        .execute(admin)
        .expect("advisory unlock");
    template
}

static TEMPLATE: OnceLock<String> = OnceLock::new();
static CREATE_LOCK: Mutex<()> = Mutex::new(());
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl TestDatabase {
    pub fn create(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = dir
                    .path()
                    .join("favorites.db")
                    .to_string_lossy()
                    .into_owned();
                TestDatabase {
                    url,
                    cleanup: Cleanup::Sqlite(dir),
                }
            }
            Backend::Postgres => {
                let admin_url = admin_url();
                let mut admin = connect_admin(&admin_url);
                let template = TEMPLATE
                    .get_or_init(|| ensure_template(&mut admin, &admin_url))
                    .clone();
                let name = format!(
                    "favorites_test_{}_{}",
                    std::process::id(),
                    SEQUENCE.fetch_add(1, Ordering::Relaxed)
                );
                {
                    // Copies of one template are serialised: PostgreSQL refuses
                    // a copy while another session touches the template.
                    let _guard = CREATE_LOCK
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    sql_query(format!(
                        "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                    ))
                    .execute(&mut admin)
                    .expect("create the test database from the template");
                }
                TestDatabase {
                    url: url_for(&admin_url, &name),
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
        }
    }
}

/// Synchronous connections straight to the test's database, for the
/// assertions and setup that bypass the API.
pub enum SqlPool {
    Pg(Pool<ConnectionManager<PgConnection>>),
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
}

impl SqlPool {
    fn new(url: &str, timeout: Duration) -> SqlPool {
        match Backend::of_url(url) {
            Backend::Postgres => SqlPool::Pg(
                Pool::builder()
                    .max_size(8)
                    .connection_timeout(timeout)
                    .build_unchecked(ConnectionManager::new(url)),
            ),
            Backend::Sqlite => SqlPool::Sqlite(
                Pool::builder()
                    .max_size(8)
                    .connection_timeout(timeout)
                    .build_unchecked(ConnectionManager::new(
                        url.strip_prefix("sqlite://").unwrap_or(url),
                    )),
            ),
        }
    }
}

/// A running server on a fresh database.
pub struct TestApp {
    pub base: String,
    pub backend: Backend,
    pub client: reqwest::Client,
    pub pool: SqlPool,
    server: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    // Dropped last: the server must be gone before its database.
    pub database: TestDatabase,
}

/// What a test can change about the server it spawns.
pub struct Options {
    pub database_url: Option<String>,
    /// `DATABASE_POOL_SIZE` and `DATABASE_WRITE_POOL_SIZE`.
    pub pool_size: u32,
    pub pool_timeout: Duration,
    pub cors_allowed_origins: Vec<String>,
    pub rate_limit_per_ip: Option<u32>,
    pub rate_limit_per_user: Option<u32>,
    /// `RATE_LIMIT_REDIS_URL`.
    pub rate_limit_redis_url: Option<String>,
    /// `DATABASE_REPLICA_URLS` and `DATABASE_REPLICA_MAX_LAG`.
    pub replica_urls: Vec<String>,
    pub replica_max_lag: Option<u64>,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: Option<String>,
    /// Verifying keys; the test secret (HS256) when `None`.
    pub keys: Option<KeyConfig>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            database_url: None,
            pool_size: 8,
            pool_timeout: Duration::from_secs(10),
            cors_allowed_origins: Vec::new(),
            rate_limit_per_ip: None,
            rate_limit_per_user: None,
            rate_limit_redis_url: None,
            replica_urls: Vec::new(),
            replica_max_lag: None,
            trusted_proxies: None,
            keys: None,
            issuer: None,
            audience: None,
        }
    }
}

/// The settings `favorites serve` would read from the environment for this
/// test: a free port, the test's database (migrated at start unless the
/// test brings its own URL), the test secret or the test's keys.
fn settings(database_url: &str, options: &Options) -> Settings {
    let keys = options.keys.clone().unwrap_or_else(|| KeyConfig {
        secret: Some(SECRET.to_vec()),
        ..KeyConfig::default()
    });
    let path = |path: &Option<PathBuf>| path.as_ref().map(|path| path.display().to_string());
    let raw = RawSettings {
        database_url: Some(database_url.to_owned()),
        bind: Some("127.0.0.1:0".to_owned()),
        database_pool_size: Some(options.pool_size.to_string()),
        database_write_pool_size: Some(options.pool_size.to_string()),
        jwt_secret: keys
            .secret
            .map(|secret| String::from_utf8(secret).expect("a text secret")),
        jwt_public_key_file: path(&keys.public_key_file),
        jwt_jwks_file: path(&keys.jwks_file),
        jwt_issuer: options.issuer.clone(),
        jwt_audience: options.audience.clone(),
        cors_allowed_origins: Some(options.cors_allowed_origins.join(",")),
        rate_limit_per_ip: options.rate_limit_per_ip.map(|limit| limit.to_string()),
        rate_limit_per_user: options.rate_limit_per_user.map(|limit| limit.to_string()),
        rate_limit_redis_url: options.rate_limit_redis_url.clone(),
        database_replica_urls: Some(options.replica_urls.join(",")),
        database_replica_max_lag: options.replica_max_lag.map(|lag| lag.to_string()),
        trusted_proxies: options.trusted_proxies.clone(),
        migrate_on_start: Some(options.database_url.is_none().to_string()),
        ..RawSettings::default()
    };
    let mut settings = raw
        .validate()
        .unwrap_or_else(|error| panic!("test settings: {error}"));
    settings.pool_timeout = options.pool_timeout;
    settings
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, Options::default()).await
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> TestApp {
        // Server-side errors (500s and their causes) show in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .try_init();
        let database = TestDatabase::create(backend);
        let url = options
            .database_url
            .clone()
            .unwrap_or_else(|| database.url.clone());
        let application = Application::build(&settings(&url, &options))
            .unwrap_or_else(|error| panic!("the server did not start: {error}"));
        let port = application.port();
        let pool = SqlPool::new(&url, options.pool_timeout);
        let (handle_tx, handle_rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = application.run().expect("run the server");
                handle_tx
                    .send(server.handle())
                    .expect("hand over the server handle");
                let _ = server.await;
            })
        });
        let server = handle_rx.recv().expect("the server started");
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            backend,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("http client"),
            pool,
            server,
            thread: Some(thread),
            database,
        }
    }

    /// A valid HS256 token for `subject`, an hour long.
    pub fn token(&self, subject: &str) -> String {
        token(subject)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends a request, optionally with a JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = self.request(method, path, token);
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        self.send(builder).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    /// Sends a prepared request (custom headers, a raw body, a query).
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Reply {
        Reply::read(builder.send().await.expect("the server answers")).await
    }

    /// Sends every request at once; the replies come in the same order.
    pub async fn send_all(
        &self,
        requests: impl IntoIterator<Item = reqwest::RequestBuilder>,
    ) -> Vec<Reply> {
        futures::future::join_all(requests.into_iter().map(|request| self.send(request))).await
    }

    /// The value of one series in `/metrics` (`name` with its labels, as
    /// the exposition writes them); panics when it is missing.
    pub async fn metric(&self, series: &str) -> i64 {
        series_value(&scrape(&self.client, &self.base).await, series)
            .unwrap_or_else(|| panic!("no {series} in /metrics"))
    }

    /// Creates an interview by `token`'s user; returns its id.
    pub async fn interview(&self, token: &str, title: &str) -> i64 {
        let body = self
            .call(
                Method::POST,
                "/api/v1/interviews",
                Some(token),
                Some(json!({"title": title})),
            )
            .await
            .assert_status(201)
            .body;
        body["id"].as_i64().expect("interview id")
    }

    /// The id of `token`'s user (creating it).
    pub async fn user_id(&self, token: &str) -> i64 {
        let body = self
            .get("/api/v1/me", Some(token))
            .await
            .assert_status(200)
            .body;
        body["id"].as_i64().expect("user id")
    }

    /// Runs a `SELECT count(*) AS n …`-style query straight on the database.
    pub fn count(&self, sql: &str) -> i64 {
        let query = sql_query(sql);
        let row: Count = match &self.pool {
            SqlPool::Pg(pool) => query.get_result(&mut pool.get().expect("a connection")),
            SqlPool::Sqlite(pool) => query.get_result(&mut pool.get().expect("a connection")),
        }
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
        row.n
    }

    /// Asserts that every row of `table` has `counter` equal to the number
    /// of rows of `through` whose `key` points at it (SQL, not the API).
    #[track_caller]
    pub fn assert_counter_matches_rows(
        &self,
        table: &str,
        counter: &str,
        through: &str,
        key: &str,
    ) {
        let drift = self.count(&format!(
            "SELECT count(*) AS n FROM {table} t WHERE t.{counter} <> (SELECT count(*) FROM {through} r WHERE r.{key} = t.id)"
        ));
        assert_eq!(
            drift, 0,
            "{table}.{counter} equals the rows of {through} for every row"
        );
    }

    /// Runs a statement straight on the database (test setup only).
    pub fn execute(&self, sql: &str) {
        let query = sql_query(sql);
        match &self.pool {
            SqlPool::Pg(pool) => query.execute(&mut pool.get().expect("a connection")),
            SqlPool::Sqlite(pool) => query.execute(&mut pool.get().expect("a connection")),
        }
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    /// Row counts of every table, to assert that a failed request changed nothing.
    pub fn snapshot(&self) -> [i64; 3] {
        [
            self.count("SELECT count(*) AS n FROM users"),
            self.count("SELECT count(*) AS n FROM interviews"),
            self.count("SELECT count(*) AS n FROM favorite_interviews"),
        ]
    }
}

/// Runs a `SELECT count(*) AS n …`-style query on the database at `url`, on
/// a connection of its own (for a database no `TestApp` serves).
pub fn count_at(backend: Backend, url: &str, sql: &str) -> i64 {
    let query = sql_query(sql);
    let row: QueryResult<Count> = match backend {
        Backend::Postgres => query.get_result(&mut PgConnection::establish(url).expect("connect")),
        Backend::Sqlite => query.get_result(&mut SqliteConnection::establish(url).expect("open")),
    };
    row.unwrap_or_else(|error| panic!("{sql}: {error}")).n
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends the command at once; its future only reports completion.
        drop(self.server.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A valid HS256 token for `subject`, an hour long.
pub fn token(subject: &str) -> String {
    sign(&json!({"sub": subject, "exp": now() + 3600}))
}

/// Signs `claims` with the test secret (HS256).
pub fn sign(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("sign a token")
}

// Helpers for tests of migrations.

impl TestDatabase {
    /// A fresh database with no tables at all (not migrated), for testing
    /// migrations themselves. SQLite: a path in a new temporary directory.
    pub fn empty(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => TestDatabase::create(Backend::Sqlite),
            Backend::Postgres => {
                let admin_url = admin_url();
                let mut admin = connect_admin(&admin_url);
                let name = format!(
                    "favorites_empty_{}_{}",
                    std::process::id(),
                    SEQUENCE.fetch_add(1, Ordering::Relaxed)
                );
                sql_query(format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .expect("create an empty database");
                TestDatabase {
                    url: url_for(&admin_url, &name),
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
        }
    }
}

/// A whole response: status, headers and body (JSON; a JSON string when the
/// body is not JSON; `null` when it is empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Reads a whole response, for tests that send with a client of their own.
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A header's value as text; panics when it is missing.
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| {
                panic!(
                    "no {name} header; status {}, body {}",
                    self.status, self.body
                )
            })
            .to_str()
            .expect("a text header")
    }

    /// Asserts the status and hands the reply back, so that it chains:
    /// `let body = app.get(path, token).await.assert_status(200).body;`
    #[track_caller]
    pub fn assert_status(self, expected: u16) -> Reply {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts a problem+json error with this status and code, served as
    /// `application/problem+json`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        let body = &self.body;
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {body}"
        );
        assert_eq!(body["code"], code, "unexpected code; body: {body}");
        assert_eq!(body["status"], status, "{body}");
        assert_eq!(body["type"], "about:blank", "{body}");
        assert!(
            body["title"].is_string() && body["detail"].is_string(),
            "{body}"
        );
        assert_eq!(
            self.header("content-type"),
            "application/problem+json",
            "{body}"
        );
    }
}

/// Asserts the replies to one idempotent create sent many times at once:
/// exactly one `201 Created`, every other `200 OK`.
#[track_caller]
pub fn assert_one_created(replies: &[Reply]) {
    let statuses: Vec<u16> = replies.iter().map(|reply| reply.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|status| **status == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        statuses.len() - 1,
        "{statuses:?}"
    );
}

// The real binary, for what lives only in `main`: signals and their handlers.

/// The real `favorites serve` binary on a free port, with its log lines.
pub struct Server {
    child: Child,
    pub base: String,
    log: mpsc::Receiver<String>,
}

impl Server {
    pub fn start(database_url: &str) -> Server {
        Server::start_with(database_url, &[])
    }

    /// Starts the server with extra environment variables; returns once it
    /// logs that it is listening.
    pub fn start_with(database_url: &str, env: &[(&str, &str)]) -> Server {
        Server::start_in(Path::new("."), database_url, env)
    }

    /// As [`start_with`](Self::start_with), in working directory `cwd` (its
    /// `./data`, as on a machine of its own).
    pub fn start_in(cwd: &Path, database_url: &str, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        Server::start_at(cwd, port, database_url, env)
    }

    /// As [`start_in`](Self::start_in), on `port` (to restart one in place).
    pub fn start_at(cwd: &Path, port: u16, database_url: &str, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_favorites"))
            .arg("serve")
            .current_dir(cwd)
            .env("DATABASE_URL", database_url)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("JWT_SECRET", SECRET_TEXT)
            .env("DATABASE_POOL_SIZE", "16")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the favorites binary");
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_for_log("listening");
        server
    }

    /// Blocks until the server logs a line containing `needle`.
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => {}
                Err(_) => panic!("the server never logged `{needle}`"),
            }
        }
    }

    /// Sends `signal` (as `kill` takes it: `-TERM`, `-HUP`) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the server to exit.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `condition` to hold, polling what the test can observe, and
/// fails with `what` after 30 s.
pub async fn wait_until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A lock a test holds on the app's PostgreSQL database, in a transaction of
/// its own (`BEGIN; <statement>`), until [`release`](Self::release) (or drop).
pub struct HeldLock(PgConnection);

impl HeldLock {
    pub fn take(app: &TestApp, statement: &str) -> HeldLock {
        let mut conn = PgConnection::establish(&app.database.url).expect("connect");
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            &format!("BEGIN; {statement}"),
        )
        .unwrap_or_else(|error| panic!("{statement}: {error}"));
        HeldLock(conn)
    }

    pub fn release(mut self) {
        diesel::connection::SimpleConnection::batch_execute(&mut self.0, "ROLLBACK")
            .expect("release the lock");
    }

    /// Runs `statements` in the held transaction and commits it.
    pub fn commit(mut self, statements: &str) {
        diesel::connection::SimpleConnection::batch_execute(
            &mut self.0,
            &format!("{statements}; COMMIT"),
        )
        .unwrap_or_else(|error| panic!("{statements}: {error}"));
    }
}

impl TestApp {
    /// How many of the server's sessions wait for a lock in a statement
    /// `LIKE pattern` (PostgreSQL).
    pub fn lock_waiters(&self, pattern: &str) -> i64 {
        self.count(&format!(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
             AND query LIKE '{pattern}'"
        ))
    }
}

/// A `redis-server` of the test's own on a free port of 127.0.0.1, with
/// nothing saved to disk; killed when dropped.
pub struct TestRedis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl TestRedis {
    pub fn start() -> TestRedis {
        let port = free_port();
        TestRedis::start_on(port)
    }

    /// Starts one on `port` (again, after [`stop`](Self::stop)); returns
    /// once it answers `PING`.
    pub fn start_on(port: u16) -> TestRedis {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (Debian package redis-server)");
        let redis = TestRedis {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !redis.answers() {
            assert!(Instant::now() < deadline, "redis-server never answered");
            std::thread::sleep(Duration::from_millis(10));
        }
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// Kills it (as a crash would) and waits until it is gone.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port of 127.0.0.1.
/// The Prometheus text a server at `base` answers on `/metrics`.
pub async fn scrape(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text")
}

/// The value of `series` (a name with its labels, as the exposition writes
/// them) in Prometheus text, if it is there.
pub fn series_value(metrics: &str, series: &str) -> Option<i64> {
    let prefix = format!("{series} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}

/// Requests the server at `base` is handling, not counting the scrape that asks.
pub async fn requests_in_flight(client: &reqwest::Client, base: &str) -> i64 {
    series_value(
        &scrape(client, base).await,
        "favorites_http_requests_in_flight",
    )
    .expect("the in-flight gauge")
        - 1
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `favorites token --sub <subject>` against `database_url` with no
/// `JWT_SECRET`, run in `cwd` (its `./data`): the secret the servers there
/// generated and share.
pub fn mint(cwd: &Path, database_url: &str, subject: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_favorites"))
        .args(["token", "--sub", subject])
        .current_dir(cwd)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .output()
        .expect("run favorites token");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
