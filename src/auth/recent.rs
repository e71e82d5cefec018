//! Tokens verified recently, so a client's next request with the same token
//! skips decoding and the signature check (5 % of the server's CPU on a
//! favorited-by page). Only tokens whose keys cannot change while the
//! process runs are kept: the shared secret and the public key file (a JWK
//! Set can drop a key at any reload, so its tokens are verified every time).
//! `iss` and `aud` are fixed too; what time changes — `exp`, `nbf` — is
//! checked again on every use, by the rules and leeway jsonwebtoken applies.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;

/// Enough for every client of a busy instance; each entry is the token's
/// text and the identity, a few hundred bytes.
const CAPACITY: u64 = 10_000;
/// A token unused this long is forgotten (it is verified again if it comes
/// back): bounds what idle entries hold.
const IDLE: Duration = Duration::from_secs(600);

/// What a verified token said (`T`), and the times that bound its validity.
#[derive(Clone)]
pub(super) struct Verified<T> {
    pub said: T,
    pub exp: u64,
    pub nbf: Option<u64>,
}

pub(super) struct RecentTokens<T> {
    tokens: moka::sync::Cache<String, Verified<T>>,
    /// Clock skew tolerated for `exp` and `nbf`, in seconds.
    leeway: u64,
}

impl<T: Clone + Send + Sync + 'static> RecentTokens<T> {
    pub(super) fn new(leeway: u64) -> RecentTokens<T> {
        RecentTokens {
            tokens: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(IDLE)
                .build(),
            leeway,
        }
    }

    /// What the token said if it was verified before: `Some(Ok)` while it
    /// is valid at `now` (seconds since the epoch), `Some(Err)` with
    /// jsonwebtoken's reason once it is not, `None` when it is not known.
    pub(super) fn get(&self, token: &str, now: u64) -> Option<Result<T, ErrorKind>> {
        let verified = self.tokens.get(token)?;
        if verified.exp < now.saturating_sub(self.leeway) {
            self.tokens.invalidate(token);
            return Some(Err(ErrorKind::ExpiredSignature));
        }
        if verified.nbf.is_some_and(|nbf| nbf > now + self.leeway) {
            return Some(Err(ErrorKind::ImmatureSignature));
        }
        Some(Ok(verified.said))
    }

    pub(super) fn insert(&self, token: &str, verified: Verified<T>) {
        self.tokens.insert(token.to_owned(), verified);
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
