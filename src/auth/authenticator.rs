//! Verifying bearer JWTs against the configured keys: which algorithms are
//! accepted follows from the keys alone; the token's header only picks
//! among them.

use jsonwebtoken::{
    Algorithm, DecodingKey, Header, Validation, decode, decode_header, get_current_timestamp,
};
use serde::Deserialize;

use super::recent::{RecentTokens, Verified, numeric_date};
use super::verifier::{JwksFile, KeyConfig, VerifyingKey, read_public_key};
use crate::error::ApiError;

/// Clock skew tolerated for `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;
/// Longest accepted `sub` (and stored display name), in characters.
pub const MAX_SUBJECT_CHARS: usize = 255;

/// Who a valid token says the caller is. The user row is resolved (and
/// created on first sight) by the repository, inside the request's own
/// database work, so authentication costs no extra round trip.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: String,
    /// Display name for a user seen for the first time.
    pub name: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    name: Option<serde_json::Value>,
    #[serde(default)]
    preferred_username: Option<serde_json::Value>,
    #[serde(default)]
    exp: Option<serde_json::Value>,
    #[serde(default)]
    nbf: Option<serde_json::Value>,
}

/// Whether a key can change while the process runs (a JWK Set's can).
enum KeySource {
    Fixed,
    Reloadable,
}

/// Verifies tokens against the configured keys.
pub struct Authenticator {
    secret: Option<DecodingKey>,
    public_key: Option<VerifyingKey>,
    jwks: Option<JwksFile>,
    /// One validation per accepted algorithm (the same claim rules for all).
    validations: Vec<(Algorithm, Validation)>,
    recent: RecentTokens<Identity>,
}

fn validation(algorithm: Algorithm, issuer: Option<&str>, audience: Option<&str>) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    // A configured issuer or audience must also be present: jsonwebtoken
    // checks `iss`/`aud` only when the token carries them, unless required.
    let mut required = vec!["exp", "sub"];
    required.extend(issuer.map(|_| "iss"));
    required.extend(audience.map(|_| "aud"));
    validation.set_required_spec_claims(&required);
    match issuer {
        Some(issuer) => validation.set_issuer(&[issuer]),
        None => validation.iss = None,
    }
    match audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    validation
}

impl Authenticator {
    /// HS256 with a shared secret only; `iss` and `aud` enforced when given.
    pub fn hs256(secret: &[u8], issuer: Option<&str>, audience: Option<&str>) -> Authenticator {
        let keys = KeyConfig {
            secret: Some(secret.to_vec()),
            ..KeyConfig::default()
        };
        Authenticator::new(&keys, issuer, audience)
            .unwrap_or_else(|_| unreachable!("a secret alone always loads"))
    }

    /// Loads every configured key; the error names the setting that failed.
    pub fn new(
        keys: &KeyConfig,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Authenticator, (&'static str, String)> {
        let secret = keys.secret.as_deref().map(DecodingKey::from_secret);
        let public_key = keys
            .public_key_file
            .as_deref()
            .map(read_public_key)
            .transpose()
            .map_err(|e| ("JWT_PUBLIC_KEY_FILE", e))?;
        let jwks = keys
            .jwks_file
            .as_deref()
            .map(JwksFile::open)
            .transpose()
            .map_err(|e| ("JWT_JWKS_FILE", e))?;
        let mut algorithms = Vec::new();
        if secret.is_some() {
            algorithms.push(Algorithm::HS256);
        }
        if let Some(key) = &public_key {
            algorithms.push(key.algorithm);
        }
        if jwks.is_some() {
            algorithms.extend([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]);
        }
        if algorithms.is_empty() {
            return Err((
                "JWT_SECRET",
                "no key is configured to verify tokens with".to_owned(),
            ));
        }
        algorithms.dedup();
        let validations = algorithms
            .into_iter()
            .map(|algorithm| (algorithm, validation(algorithm, issuer, audience)))
            .collect();
        Ok(Authenticator {
            secret,
            public_key,
            jwks,
            validations,
            recent: RecentTokens::new(LEEWAY_SECONDS),
        })
    }

    /// Re-reads the JWK Set file (SIGHUP), so keys rotate without a restart.
    pub fn reload_keys(&self) {
        if let Some(jwks) = &self.jwks {
            jwks.reload(true);
        }
    }

    /// The configured key for the token's `alg` (and `kid`, for a JWK Set).
    fn key_for(&self, header: &Header) -> Result<(DecodingKey, KeySource), ApiError> {
        let refuse =
            |why: String| ApiError::InvalidToken(format!("the bearer token is not valid: {why}"));
        if header.alg == Algorithm::HS256 {
            return self
                .secret
                .clone()
                .map(|key| (key, KeySource::Fixed))
                .ok_or_else(|| refuse("HS256 tokens are not accepted here".to_owned()));
        }
        if let (Some(jwks), Some(kid)) = (&self.jwks, &header.kid) {
            let key = jwks
                .find(kid)
                .ok_or_else(|| refuse(format!("no key has kid `{kid}`")))?;
            if key.algorithm != header.alg {
                return Err(refuse(format!("key `{kid}` is not for {:?}", header.alg)));
            }
            return Ok((key.key, KeySource::Reloadable));
        }
        match &self.public_key {
            Some(key) if key.algorithm == header.alg => Ok((key.key.clone(), KeySource::Fixed)),
            _ => Err(refuse(format!(
                "{:?} tokens are not accepted here",
                header.alg
            ))),
        }
    }

    /// Checks signature, algorithm and claims; returns who the token names.
    pub fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        self.verify_at(token, get_current_timestamp())
    }

    /// [`verify`](Self::verify), with a token seen before (and verified
    /// with a fixed key) checked only for its times, at `now`.
    fn verify_at(&self, token: &str, now: u64) -> Result<Identity, ApiError> {
        let invalid = |error: jsonwebtoken::errors::Error| {
            ApiError::InvalidToken(format!("the bearer token is not valid: {error}"))
        };
        if let Some(known) = self.recent.get(token, now) {
            return known.map_err(|kind| invalid(kind.into()));
        }
        let header = decode_header(token).map_err(invalid)?;
        let (key, source) = self.key_for(&header)?;
        let validation = self
            .validations
            .iter()
            .find(|(algorithm, _)| *algorithm == header.alg)
            .map(|(_, validation)| validation)
            .ok_or_else(|| {
                ApiError::InvalidToken(format!("{:?} tokens are not accepted here", header.alg))
            })?;
        let data = decode::<Claims>(token, &key, validation).map_err(invalid)?;
        let subject = data.claims.sub;
        if !is_storable(&subject) {
            return Err(ApiError::InvalidToken(format!(
                "the token's sub must be 1 to {MAX_SUBJECT_CHARS} characters without NUL"
            )));
        }
        let name = [data.claims.name, data.claims.preferred_username]
            .into_iter()
            .flatten()
            .find_map(|claim| match claim {
                serde_json::Value::String(name) if is_storable(&name) => Some(name),
                _ => None,
            })
            .unwrap_or_else(|| subject.clone());
        let identity = Identity { subject, name };
        // `decode` has refused an `exp` or `nbf` that is no numeric date.
        let exp = data.claims.exp.as_ref().and_then(numeric_date);
        let nbf = data.claims.nbf.as_ref().and_then(numeric_date);
        if let (KeySource::Fixed, Some(exp)) = (source, exp) {
            let said = identity.clone();
            self.recent.insert(token, Verified { said, exp, nbf });
        }
        Ok(identity)
    }
}

fn is_storable(text: &str) -> bool {
    !text.is_empty() && !text.contains('\0') && text.chars().count() <= MAX_SUBJECT_CHARS
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::get_current_timestamp;

    use super::{Authenticator, LEEWAY_SECONDS};
    use crate::auth::Signer;

    const SECRET: &[u8] = b"a-test-secret-that-is-long-enough-0123456789";

    fn refusal(auth: &Authenticator, token: &str, now: u64) -> String {
        match auth.verify_at(token, now) {
            Ok(identity) => panic!("accepted for {}", identity.subject),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_token_seen_before_still_expires() {
        let auth = Authenticator::hs256(SECRET, None, None);
        // Taken first, so `exp` is at least now + 60.
        let now = get_current_timestamp();
        let token = Signer::hs256(SECRET, None, None)
            .mint("ada", None, 60)
            .unwrap();
        assert_eq!(auth.verify_at(&token, now).unwrap().subject, "ada");
        // Known now; within the leeway after `exp` it is still good.
        assert_eq!(
            auth.verify_at(&token, now + 60 + LEEWAY_SECONDS)
                .unwrap()
                .subject,
            "ada"
        );
        let expired = refusal(&auth, &token, now + 62 + LEEWAY_SECONDS);
        assert!(expired.contains("ExpiredSignature"), "{expired}");
    }

    #[test]
    fn a_known_token_with_another_signature_is_verified_afresh() {
        let auth = Authenticator::hs256(SECRET, None, None);
        let token = Signer::hs256(SECRET, None, None)
            .mint("ada", None, 60)
            .unwrap();
        let now = get_current_timestamp();
        assert!(auth.verify_at(&token, now).is_ok());
        let (signed, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", "A".repeat(43));
        let refused = refusal(&auth, &forged, now);
        assert!(refused.contains("InvalidSignature"), "{refused}");
    }
}
