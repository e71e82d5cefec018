//! Key material: the HS256 shared secret (configured, or generated once and
//! kept beside the SQLite data, or in the PostgreSQL database) and signing
//! for the `token` subcommand.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{EncodingKey, Header, encode};
use rand::RngCore;
use serde::Serialize;

/// Bytes of randomness in a generated secret.
const GENERATED_SECRET_BYTES: usize = 48;

/// Reads the secret stored at `path`, creating it (mode 0600) with fresh
/// randomness when it does not exist. Safe against two processes starting at
/// once: the file is created exclusively and the loser reads the winner's.
pub fn load_or_create_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let secret = generate_secret();
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
            Ok(secret.into_bytes())
        }
        Err(error) if error.kind() == ErrorKind::AlreadyExists => {
            let stored = fs::read_to_string(path)?;
            let stored = stored.trim();
            if stored.is_empty() {
                return Err(std::io::Error::new(
                    ErrorKind::InvalidData,
                    "the secret file is empty",
                ));
            }
            Ok(stored.as_bytes().to_vec())
        }
        Err(error) => Err(error),
    }
}

/// A new secret: fresh randomness, URL-safe base64 (64 characters).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The secret stored at `path`, if there is a non-empty one.
pub fn read_secret(path: &Path) -> Option<String> {
    let stored = fs::read_to_string(path).ok()?;
    let stored = stored.trim();
    (!stored.is_empty()).then(|| stored.to_owned())
}

#[derive(Serialize)]
struct MintedClaims<'a> {
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    iat: i64,
    exp: i64,
}

/// Mints HS256 tokens the server accepts (the `token` subcommand).
pub struct Signer {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

impl Signer {
    pub fn hs256(secret: &[u8], issuer: Option<String>, audience: Option<String>) -> Signer {
        Signer {
            key: EncodingKey::from_secret(secret),
            issuer,
            audience,
        }
    }

    pub fn mint(
        &self,
        subject: &str,
        name: Option<&str>,
        ttl_seconds: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let claims = MintedClaims {
            sub: subject,
            name,
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
            iat: now,
            exp: now.saturating_add(ttl_seconds),
        };
        encode(&Header::default(), &claims, &self.key)
    }
}
