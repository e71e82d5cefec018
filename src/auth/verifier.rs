//! The keys tokens are verified with: an HS256 shared secret, a PEM public
//! key (RS256, ES256 or EdDSA), and a JWK Set file (keys chosen by `kid`,
//! reloaded when the file changes or on demand, e.g. on SIGHUP).
//!
//! The accepted algorithms follow from the configured keys only: a token's
//! `alg` selects among them and can never pick a key of another kind, so
//! `alg: none` and algorithm confusion (an HS256 token "signed" with the RSA
//! public key) are rejected.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

/// How often, at most, a request re-reads the JWK Set file's metadata to
/// notice a rotation (a token with an unknown `kid` checks at once).
const JWKS_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Where the verifying keys come from; any combination may be configured.
#[derive(Debug, Clone, Default)]
pub struct KeyConfig {
    pub secret: Option<Vec<u8>>,
    pub public_key_file: Option<PathBuf>,
    pub jwks_file: Option<PathBuf>,
}

/// A key for exactly one algorithm.
#[derive(Clone)]
pub struct VerifyingKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

/// Reads a PEM public key; its type decides the algorithm.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, String> {
    let pem =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        return Ok(VerifyingKey {
            key,
            algorithm: Algorithm::RS256,
        });
    }
    if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
        return Ok(VerifyingKey {
            key,
            algorithm: Algorithm::ES256,
        });
    }
    if let Ok(key) = DecodingKey::from_ed_pem(&pem) {
        return Ok(VerifyingKey {
            key,
            algorithm: Algorithm::EdDSA,
        });
    }
    Err(format!(
        "{} is not an RSA, P-256 or Ed25519 public key in PEM",
        path.display()
    ))
}

/// The algorithm a JWK is for: its `alg` when given, else what its key
/// type implies. Only RS256, ES256 and EdDSA keys are used.
fn jwk_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
        (Some(KeyAlgorithm::RS256), _) => Algorithm::RS256,
        (Some(KeyAlgorithm::ES256), _) => Algorithm::ES256,
        (Some(KeyAlgorithm::EdDSA), _) => Algorithm::EdDSA,
        (Some(_), _) => return None,
        (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
        (None, AlgorithmParameters::EllipticCurve(params))
            if params.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        (None, AlgorithmParameters::OctetKeyPair(params))
            if params.curve == EllipticCurve::Ed25519 =>
        {
            Algorithm::EdDSA
        }
        (None, _) => return None,
    };
    Some(algorithm)
}

/// The usable keys of a JWK Set file, by `kid`.
fn read_jwks(path: &Path) -> Result<HashMap<String, VerifyingKey>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let set: JwkSet = serde_json::from_str(&text)
        .map_err(|error| format!("{} is not a JWK Set: {error}", path.display()))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let (Some(kid), Some(algorithm)) = (jwk.common.key_id.clone(), jwk_algorithm(jwk)) else {
            continue;
        };
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|error| format!("key `{kid}` in {}: {error}", path.display()))?;
        keys.insert(kid, VerifyingKey { key, algorithm });
    }
    if keys.is_empty() {
        return Err(format!(
            "{} has no RS256, ES256 or EdDSA key with a kid",
            path.display()
        ));
    }
    Ok(keys)
}

/// A file's modification time and length, to notice that it changed.
type Stamp = Option<(SystemTime, u64)>;

fn fingerprint(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// A JWK Set file and the keys last read from it.
pub struct JwksFile {
    path: PathBuf,
    keys: RwLock<(Stamp, HashMap<String, VerifyingKey>)>,
    last_check: Mutex<Instant>,
}

impl JwksFile {
    pub fn open(path: &Path) -> Result<JwksFile, String> {
        let stamp = fingerprint(path);
        let keys = read_jwks(path)?;
        Ok(JwksFile {
            path: path.to_owned(),
            keys: RwLock::new((stamp, keys)),
            last_check: Mutex::new(Instant::now()),
        })
    }

    /// Re-reads the file when it changed (or always, with `force`). A file
    /// that cannot be read or parsed keeps the keys in use and is logged.
    pub fn reload(&self, force: bool) {
        if let Ok(mut last_check) = self.last_check.lock() {
            *last_check = Instant::now();
        }
        let stamp = fingerprint(&self.path);
        let unchanged = self
            .keys
            .read()
            .map(|keys| keys.0 == stamp)
            .unwrap_or(false);
        if unchanged && !force {
            return;
        }
        match read_jwks(&self.path) {
            Ok(keys) => {
                let count = keys.len();
                if let Ok(mut current) = self.keys.write() {
                    *current = (stamp, keys);
                }
                // Logged once the keys are in use, so the line can be waited for.
                tracing::info!(path = %self.path.display(), keys = count, "JWK Set loaded");
            }
            Err(error) => tracing::warn!(%error, "JWK Set not reloaded; keeping the keys in use"),
        }
    }

    /// The key with this `kid`. Notices rotations: at most once a second
    /// on any lookup, and at once when the `kid` is unknown.
    pub fn find(&self, kid: &str) -> Option<VerifyingKey> {
        let due = self
            .last_check
            .lock()
            .map(|last| last.elapsed() >= JWKS_CHECK_INTERVAL)
            .unwrap_or(true);
        if due {
            self.reload(false);
        }
        let lookup = |file: &JwksFile| {
            file.keys
                .read()
                .ok()
                .and_then(|keys| keys.1.get(kid).cloned())
        };
        lookup(self).or_else(|| {
            if due {
                None
            } else {
                self.reload(false);
                lookup(self)
            }
        })
    }
}
