//! The `favorites` command line: `serve` (the default), `migrate`, `token`, `openapi`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpServer, web};
use clap::{Parser, Subcommand};

use crate::app::{AppState, build_app};
use crate::auth::{Authenticator, KeyConfig, Signer};
use crate::config::{LogFormat, RawSettings, Settings};
use crate::db::{self, Backend, PoolOptions};

/// Exit code for unusable configuration.
const EXIT_CONFIG: u8 = 2;
/// Without RUST_LOG: info, but not actix-web-prom's warning for every
/// Swagger UI asset (its path pattern is a regex it cannot label).
const DEFAULT_LOG_FILTER: &str = "info,actix_web_prom=error";
/// How long in-flight requests may take to finish after SIGTERM/SIGINT.
const SHUTDOWN_TIMEOUT_SECONDS: u64 = 30;
/// How long a request waits for a database connection before 503.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(
    name = "favorites",
    version,
    about = "Favorites and team memberships over a JSON REST API"
)]
struct Cli {
    #[command(flatten)]
    settings: RawSettings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default); applies pending migrations first.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a signed JWT the server accepts, for development and scripts.
    Token {
        /// The subject (`sub`): the user's stable identifier.
        #[arg(long)]
        sub: String,
        /// Display name used when the user is created.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Exit 0 when the server at BIND answers `/healthz` (for container health checks).
    Healthcheck,
}

/// Parses the command line and runs it; the process's exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        return print_openapi();
    }
    let settings = match cli.settings.validate() {
        Ok(settings) => settings,
        Err(error) => return fail(EXIT_CONFIG, &error),
    };
    init_tracing(settings.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::Token { sub, name, ttl } => token(&settings, &sub, name.as_deref(), ttl),
        Command::Openapi => print_openapi(),
        Command::Healthcheck => healthcheck(&settings),
    }
}

/// `GET /healthz` on the configured address, with nothing but std: slim
/// container images have no curl.
fn healthcheck(settings: &Settings) -> ExitCode {
    use std::io::{Read, Write};
    let mut address = settings.bind;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let answer = (|| -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    })();
    match answer {
        Ok(response)
            if response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200") =>
        {
            ExitCode::SUCCESS
        }
        Ok(response) => fail(
            1,
            &format!("unhealthy: {}", response.lines().next().unwrap_or("")),
        ),
        Err(error) => fail(1, &format!("unhealthy: {address}: {error}")),
    }
}

fn fail(code: u8, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("favorites: {error}");
    ExitCode::from(code)
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

fn print_openapi() -> ExitCode {
    match serde_json::to_string_pretty(&crate::openapi::document()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(1, &error),
    }
}

/// Creates the SQLite file's directory, connects, and migrates.
fn open_database(settings: &Settings) -> Result<db::Pool, String> {
    if settings.backend == Backend::Sqlite {
        std::fs::create_dir_all(&settings.data_dir).map_err(|error| {
            format!(
                "invalid DATABASE_URL: cannot create {}: {error}",
                settings.data_dir.display()
            )
        })?;
    }
    let pool = db::build_pool(
        &settings.database_url,
        &PoolOptions {
            max_size: settings.pool_size,
            connection_timeout: POOL_TIMEOUT,
        },
    );
    let mut conn = pool
        .get_timeout(POOL_TIMEOUT)
        .map_err(|error| format!("cannot connect to the database (DATABASE_URL): {error}"))?;
    let applied =
        db::run_migrations(&mut conn).map_err(|error| format!("migrations failed: {error}"))?;
    tracing::info!(applied, backend = ?settings.backend, "database migrated");
    Ok(pool)
}

fn migrate(settings: &Settings) -> ExitCode {
    match open_database(settings) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => fail(1, &error),
    }
}

fn token(settings: &Settings, sub: &str, name: Option<&str>, ttl: i64) -> ExitCode {
    if sub.is_empty() || sub.chars().count() > crate::auth::MAX_SUBJECT_CHARS {
        return fail(EXIT_CONFIG, &"--sub must be 1 to 255 characters");
    }
    if ttl <= 0 {
        return fail(EXIT_CONFIG, &"--ttl must be a positive number of seconds");
    }
    let secret = match settings.key_config() {
        Ok(KeyConfig {
            secret: Some(secret),
            ..
        }) => secret,
        Ok(_) => {
            return fail(
                EXIT_CONFIG,
                &"invalid JWT_SECRET: `token` signs HS256 tokens, and with external identity provider keys configured it needs JWT_SECRET",
            );
        }
        Err(error) => return fail(EXIT_CONFIG, &error),
    };
    let signer = Signer::hs256(
        &secret,
        settings.jwt_issuer.clone(),
        settings.jwt_audience.clone(),
    );
    match signer.mint(sub, name, ttl) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(1, &error),
    }
}

fn serve(settings: Settings) -> ExitCode {
    let keys = match settings.key_config() {
        Ok(keys) => keys,
        Err(error) => return fail(EXIT_CONFIG, &error),
    };
    let auth = match Authenticator::new(
        &keys,
        settings.jwt_issuer.as_deref(),
        settings.jwt_audience.as_deref(),
    ) {
        Ok(auth) => Arc::new(auth),
        Err((setting, error)) => return fail(EXIT_CONFIG, &format!("invalid {setting}: {error}")),
    };
    let pool = match open_database(&settings) {
        Ok(pool) => pool,
        Err(error) => return fail(1, &error),
    };
    let state = match AppState::new(pool, settings.backend, auth.clone()) {
        Ok(state) => state
            .with_cors(settings.cors_allowed_origins.clone())
            .with_rate_limits(settings.rate_limit_per_ip, settings.rate_limit_per_user),
        Err(error) => return fail(1, &format!("metrics could not be set up: {error}")),
    };
    let state = web::Data::new(state);
    let reload_auth = auth.clone();
    let result = actix_web::rt::System::new().block_on(async move {
        // SIGTERM/SIGINT: stop accepting, let in-flight requests finish
        // (bounded by the timeout), then the pool closes as the state drops.
        let server = HttpServer::new(move || build_app(state.clone()))
            .shutdown_timeout(SHUTDOWN_TIMEOUT_SECONDS)
            .bind(settings.bind)
            .map_err(|error| {
                (
                    EXIT_CONFIG,
                    format!("invalid BIND: cannot listen on {}: {error}", settings.bind),
                )
            })?;
        tracing::info!(bind = %settings.bind, "listening");
        actix_web::rt::spawn(reload_keys_on_sighup(reload_auth));
        server
            .run()
            .await
            .map_err(|error| (1, format!("server failed: {error}")))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, error)) => fail(code, &error),
    }
}

/// SIGHUP re-reads the JWK Set file, so an identity provider's keys rotate
/// without a restart (changes to the file are also noticed on their own).
async fn reload_keys_on_sighup(auth: Arc<Authenticator>) {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("SIGHUP cannot be handled; keys reload only when the JWK Set file changes");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the JWK Set");
        auth.reload_keys();
    }
}
