//! The `favorites` command line: `serve` (the default), `migrate`, `token`, `openapi`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::auth::{KeyConfig, Signer};
use crate::config::{LogFormat, RawSettings, Settings};
use crate::startup::{Application, EXIT_CONFIG, open_database};

/// Without RUST_LOG: info, but not actix-web-prom's warning for every
/// Swagger UI asset (its path pattern is a regex it cannot label).
const DEFAULT_LOG_FILTER: &str = "info,actix_web_prom=error";

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
    match serde_json::to_string_pretty(&crate::router::document()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(1, &error),
    }
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
    let result = Application::build(&settings).and_then(|application| {
        actix_web::rt::System::new().block_on(async move {
            application
                .run()?
                .await
                .map_err(|error| crate::startup::StartupError {
                    exit_code: 1,
                    message: format!("server failed: {error}"),
                })
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(error.exit_code, &error),
    }
}
