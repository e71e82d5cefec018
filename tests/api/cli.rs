//! The `favorites` binary itself: configuration errors, `migrate`, `token`
//! and `openapi`, each run as a real process in an empty directory.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::Value;

use crate::both_backends;
use crate::harness::{self, TestApp, TestDatabase, count_at};
use favorites::db::Backend;

/// Longest a command may take; past it the test fails instead of hanging
/// (a bad configuration that is not caught would start a server).
const DEADLINE: Duration = Duration::from_secs(60);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `cwd` with only `env` set.
fn favorites(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let child = Command::new(env!("CARGO_BIN_EXE_favorites"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the favorites binary");
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    let output = match done_rx.recv_timeout(DEADLINE) {
        Ok(output) => output.expect("wait for the favorites binary"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!(
                "`favorites {}` did not finish within {DEADLINE:?}",
                args.join(" ")
            );
        }
    };
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Verifies an HS256 token with `secret`; returns its claims.
fn verify(token: &str, secret: &[u8]) -> Value {
    decode::<Value>(
        token,
        &DecodingKey::from_secret(secret),
        &Validation::new(Algorithm::HS256),
    )
    .unwrap_or_else(|error| panic!("`{token}` verifies: {error}"))
    .claims
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn bad_configuration_exits_2_with_one_line() {
    // Arguments, environment, and the setting the error must name.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 20] = [
        (&[], &[("BIND", "nonsense")], "BIND"),
        (
            &[],
            &[("CORS_ALLOWED_ORIGINS", "*")],
            "CORS_ALLOWED_ORIGINS",
        ),
        (
            &[],
            &[("CORS_ALLOWED_ORIGINS", "https://app.example.com/path")],
            "CORS_ALLOWED_ORIGINS",
        ),
        (
            &[],
            &[("CORS_ALLOWED_ORIGINS", "app.example.com")],
            "CORS_ALLOWED_ORIGINS",
        ),
        (&[], &[("RATE_LIMIT_PER_IP", "-1")], "RATE_LIMIT_PER_IP"),
        (
            &[],
            &[("RATE_LIMIT_PER_USER", "lots")],
            "RATE_LIMIT_PER_USER",
        ),
        (&["--bind", "nonsense"], &[], "BIND"),
        (&[], &[("DATABASE_POOL_SIZE", "0")], "DATABASE_POOL_SIZE"),
        (&[], &[("DATABASE_POOL_SIZE", "many")], "DATABASE_POOL_SIZE"),
        (
            &[],
            &[("DATABASE_WRITE_POOL_SIZE", "0")],
            "DATABASE_WRITE_POOL_SIZE",
        ),
        (
            &[],
            &[("DATABASE_WRITE_POOL_SIZE", "1001")],
            "DATABASE_WRITE_POOL_SIZE",
        ),
        (&[], &[("JWT_SECRET", "short")], "JWT_SECRET"),
        (&[], &[("LOG_FORMAT", "xml")], "LOG_FORMAT"),
        (&[], &[("MIGRATE_ON_START", "maybe")], "MIGRATE_ON_START"),
        (&[], &[("SQLITE_SYNCHRONOUS", "off")], "SQLITE_SYNCHRONOUS"),
        (
            &[],
            &[("SHUTDOWN_DRAIN_SECONDS", "301")],
            "SHUTDOWN_DRAIN_SECONDS",
        ),
        (
            &[],
            &[("SHUTDOWN_DRAIN_SECONDS", "-1")],
            "SHUTDOWN_DRAIN_SECONDS",
        ),
        (
            &[],
            &[("RATE_LIMIT_REDIS_URL", "http://cache:6379")],
            "RATE_LIMIT_REDIS_URL",
        ),
        (&["serve"], &[("LOG_FORMAT", "xml")], "LOG_FORMAT"),
        (
            &["token", "--sub", "x"],
            &[("JWT_SECRET", "short")],
            "JWT_SECRET",
        ),
    ];
    for (args, env, setting) in cases {
        let cwd = tempfile::tempdir().unwrap();
        let run = favorites(cwd.path(), args, env);
        let case = format!("{args:?} {env:?}");
        assert_eq!(run.code, Some(2), "{case}: stderr {}", run.stderr);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{case}: exactly one line: {}", run.stderr);
        assert!(
            lines[0].contains(setting),
            "{case}: the line names {setting}: {}",
            lines[0]
        );
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
            "{case}: {}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "{case}");
        assert!(
            entries(cwd.path()).is_empty(),
            "{case}: nothing was created: {:?}",
            entries(cwd.path())
        );
    }
}

/// How many of the core tables exist in the database at `url`.
fn core_tables(backend: Backend, url: &str) -> i64 {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name IN ('users', 'interviews', 'favorite_interviews')"
        }
        Backend::Sqlite => {
            "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' \
             AND name IN ('users', 'interviews', 'favorite_interviews')"
        }
    };
    count_at(backend, url, sql)
}

async fn migrate_creates_the_tables(app: TestApp) {
    let database = TestDatabase::empty(app.backend);
    if app.backend == Backend::Postgres {
        assert_eq!(
            core_tables(app.backend, &database.url),
            0,
            "the database starts empty"
        );
    }
    let cwd = tempfile::tempdir().unwrap();
    for attempt in ["first", "second"] {
        let run = favorites(cwd.path(), &["migrate"], &[("DATABASE_URL", &database.url)]);
        assert_eq!(run.code, Some(0), "{attempt} migrate: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    assert_eq!(core_tables(app.backend, &database.url), 3);
    let users = count_at(
        app.backend,
        &database.url,
        "SELECT count(*) AS n FROM users",
    );
    assert_eq!(users, 0);
    let migrations = count_at(
        app.backend,
        &database.url,
        "SELECT count(*) AS n FROM __diesel_schema_migrations",
    );
    assert!(migrations >= 1);

    // On a database already in use, migrate is a no-op that keeps the data.
    let author = app.token("author");
    app.interview(&author, "Kept").await;
    let before = app.snapshot();
    let run = favorites(
        cwd.path(),
        &["migrate"],
        &[("DATABASE_URL", &app.database.url)],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(app.snapshot(), before);
    app.get("/api/v1/interviews", None).await.assert_status(200);
}

#[test]
fn migrate_creates_the_sqlite_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let run = favorites(
        cwd.path(),
        &["migrate"],
        &[("DATABASE_URL", "nested/dir/favorites.db")],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let file = cwd.path().join("nested/dir/favorites.db");
    assert!(file.is_file(), "{} exists", file.display());
    assert_eq!(core_tables(Backend::Sqlite, &file.to_string_lossy()), 3);
}

#[test]
fn token_without_a_secret_generates_and_reuses_one() {
    let cwd = tempfile::tempdir().unwrap();
    let first = favorites(cwd.path(), &["token", "--sub", "x"], &[]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let secret_file = cwd.path().join("data/jwt-secret");
    let metadata = std::fs::metadata(&secret_file).expect("./data/jwt-secret exists");
    assert_eq!(
        metadata.permissions().mode() & 0o777,
        0o600,
        "the secret is private"
    );
    let secret = std::fs::read(&secret_file).unwrap();
    assert!(
        secret.len() >= 32,
        "a strong secret: {} bytes",
        secret.len()
    );

    let second = favorites(cwd.path(), &["token", "--sub", "y", "--name", "Why"], &[]);
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert_eq!(
        std::fs::read(&secret_file).unwrap(),
        secret,
        "the stored secret is reused"
    );

    let (first, second) = (first.stdout.trim(), second.stdout.trim());
    assert_ne!(first, second);
    let claims = verify(first, secret.trim_ascii());
    assert_eq!(claims["sub"], "x");
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp > harness::now() + 3000, "an hour by default: {claims}");
    let claims = verify(second, secret.trim_ascii());
    assert_eq!(
        (&claims["sub"], &claims["name"]),
        (&Value::from("y"), &Value::from("Why"))
    );
    assert!(
        decode::<Value>(
            first,
            &DecodingKey::from_secret(harness::SECRET),
            &Validation::new(Algorithm::HS256)
        )
        .is_err()
    );
}

async fn a_minted_token_is_accepted_by_the_server(app: TestApp) {
    let cwd = tempfile::tempdir().unwrap();
    let run = favorites(
        cwd.path(),
        &["token", "--sub", "cli-user", "--name", "Cli User"],
        &[("JWT_SECRET", harness::SECRET_TEXT)],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        entries(cwd.path()).is_empty(),
        "a configured secret needs no file: {:?}",
        entries(cwd.path())
    );
    let token = run.stdout.trim();
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);

    let me = app
        .get("/api/v1/me", Some(token))
        .await
        .assert_status(200)
        .body;
    assert_eq!(me["name"], "Cli User");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE subject = 'cli-user'"),
        1
    );
}

#[test]
fn openapi_prints_the_document() {
    let cwd = tempfile::tempdir().unwrap();
    let run = favorites(cwd.path(), &["openapi"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let document: Value = serde_json::from_str(&run.stdout).expect("the document is JSON");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3.1")),
        "{}",
        document["openapi"]
    );
    assert!(
        document["paths"]["/api/v1/me"].is_object(),
        "the document lists the routes"
    );
    assert!(
        entries(cwd.path()).is_empty(),
        "printing the document touches nothing"
    );
}

both_backends!(
    migrate_creates_the_tables,
    a_minted_token_is_accepted_by_the_server
);
