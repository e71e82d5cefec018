//! Tokens verified recently, so a client's next request with the same token
//! skips decoding and the signature check (5 % of the server's CPU on a
//! favorited-by page). Only tokens whose keys cannot change while the
//! process runs are kept: the shared secret and the public key file (a JWK
//! Set can drop a key at any reload, so its tokens are verified every time).
//! `iss` and `aud` are fixed too; what time changes — `exp`, `nbf` — is
//! checked again on every use, by the rules and leeway jsonwebtoken applies.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;

use super::authenticator::{Identity, LEEWAY_SECONDS};

/// Enough for every client of a busy instance; each entry is the token's
/// text and the identity, a few hundred bytes.
const CAPACITY: u64 = 10_000;
/// A token unused this long is forgotten (it is verified again if it comes
/// back): bounds what idle entries hold.
const IDLE: Duration = Duration::from_secs(600);

/// What a verified token said, and the times that bound its validity.
#[derive(Clone)]
pub(super) struct Verified {
    pub identity: Identity,
    pub exp: u64,
    pub nbf: Option<u64>,
}

pub(super) struct RecentTokens(moka::sync::Cache<String, Verified>);

impl RecentTokens {
    pub(super) fn new() -> RecentTokens {
        RecentTokens(
            moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(IDLE)
                .build(),
        )
    }

    /// The token's identity if it was verified before: `Some(Ok)` while it
    /// is valid at `now` (seconds since the epoch), `Some(Err)` with
    /// jsonwebtoken's reason once it is not, `None` when it is not known.
    pub(super) fn get(&self, token: &str, now: u64) -> Option<Result<Identity, ErrorKind>> {
        let verified = self.0.get(token)?;
        if verified.exp < now.saturating_sub(LEEWAY_SECONDS) {
            self.0.invalidate(token);
            return Some(Err(ErrorKind::ExpiredSignature));
        }
        if verified.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECONDS) {
            return Some(Err(ErrorKind::ImmatureSignature));
        }
        Some(Ok(verified.identity))
    }

    pub(super) fn insert(&self, token: &str, verified: Verified) {
        self.0.insert(token.to_owned(), verified);
    }
}

/// A JWT numeric date as jsonwebtoken reads one: an unsigned integer, or a
/// finite non-negative number rounded; `None` for anything else.
pub(super) fn numeric_date(value: &serde_json::Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0 && *seconds < u64::MAX as f64)
            .map(|seconds| seconds.round() as u64)
    })
}
