//! Tokens from an external identity provider: RS256, ES256 and EdDSA keys
//! from a PEM file or a JWK Set file, with keys the tests generate.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use favorites::auth::KeyConfig;
use favorites::db::Backend;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Options, Reply, SECRET, Server, TestApp, TestDatabase, now};

/// A key pair made with `openssl`, and its public half as PEM and as a JWK.
struct KeyPair {
    algorithm: Algorithm,
    private_pem: Vec<u8>,
    public_pem_path: PathBuf,
    public_pem: Vec<u8>,
    jwk: Value,
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs (apt-get install openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

impl KeyPair {
    fn generate(dir: &Path, algorithm: Algorithm, name: &str) -> KeyPair {
        let private = dir.join(format!("{name}.pem"));
        let public = dir.join(format!("{name}.pub.pem"));
        let private_path = private.to_str().unwrap();
        match algorithm {
            Algorithm::RS256 => openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                private_path,
            ]),
            Algorithm::ES256 => openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                private_path,
            ]),
            Algorithm::EdDSA => {
                openssl(&["genpkey", "-algorithm", "ED25519", "-out", private_path])
            }
            other => panic!("no test keys for {other:?}"),
        };
        openssl(&[
            "pkey",
            "-in",
            private_path,
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ]);
        let der = openssl(&["pkey", "-in", private_path, "-pubout", "-outform", "DER"]);
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let jwk = match algorithm {
            Algorithm::RS256 => {
                let modulus =
                    String::from_utf8(openssl(&["rsa", "-in", private_path, "-noout", "-modulus"]))
                        .unwrap();
                let modulus = hex(modulus.trim().trim_start_matches("Modulus="));
                json!({"kty": "RSA", "alg": "RS256", "use": "sig", "n": b64(&modulus), "e": "AQAB"})
            }
            Algorithm::ES256 => {
                let point = &der[der.len() - 65..];
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])})
            }
            _ => {
                json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": b64(&der[der.len() - 32..])})
            }
        };
        KeyPair {
            algorithm,
            private_pem: std::fs::read(&private).unwrap(),
            public_pem: std::fs::read(&public).unwrap(),
            public_pem_path: public,
            jwk,
        }
    }

    fn with_kid(&self, kid: &str) -> Value {
        let mut jwk = self.jwk.clone();
        jwk["kid"] = json!(kid);
        jwk
    }

    fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let key = match self.algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&self.private_pem),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&self.private_pem),
            _ => EncodingKey::from_ed_pem(&self.private_pem),
        }
        .expect("the private key loads");
        let mut header = Header::new(self.algorithm);
        header.kid = kid.map(str::to_owned);
        encode(&header, claims, &key).expect("sign")
    }
}

fn claims(subject: &str) -> Value {
    json!({"sub": subject, "exp": now() + 600})
}

fn write_jwks(path: &Path, keys: &[Value]) {
    std::fs::write(path, serde_json::to_vec(&json!({"keys": keys})).unwrap()).unwrap();
}

async fn me(app: &TestApp, token: &str) -> Reply {
    app.get("/api/v1/me", Some(token)).await
}

fn options(keys: KeyConfig) -> Options {
    Options {
        keys: Some(keys),
        ..Options::default()
    }
}

async fn each_algorithm_is_accepted_from_a_pem_file(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    for (algorithm, name) in [
        (Algorithm::RS256, "rsa"),
        (Algorithm::ES256, "ec"),
        (Algorithm::EdDSA, "ed"),
    ] {
        let pair = KeyPair::generate(dir.path(), algorithm, name);
        let keys = KeyConfig {
            public_key_file: Some(pair.public_pem_path.clone()),
            ..KeyConfig::default()
        };
        let server = TestApp::spawn_with(app.backend, options(keys)).await;
        let reply = me(&server, &pair.sign(None, &claims(&format!("idp|{name}")))).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{algorithm:?}: {}",
            reply.body
        );
        assert_eq!(reply.body["name"], format!("idp|{name}"));
        me(&server, &app.token("hs256-user"))
            .await
            .assert_problem(401, "invalid_token");
    }
}

async fn a_jwk_set_picks_keys_by_kid_and_follows_rotation(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let rsa = KeyPair::generate(dir.path(), Algorithm::RS256, "rsa");
    let ec = KeyPair::generate(dir.path(), Algorithm::ES256, "ec");
    let ed = KeyPair::generate(dir.path(), Algorithm::EdDSA, "ed");
    let jwks = dir.path().join("jwks.json");
    write_jwks(&jwks, &[rsa.with_kid("r1"), ec.with_kid("e1")]);
    let server = TestApp::spawn_with(
        app.backend,
        options(KeyConfig {
            jwks_file: Some(jwks.clone()),
            ..KeyConfig::default()
        }),
    )
    .await;

    assert_eq!(
        me(&server, &rsa.sign(Some("r1"), &claims("a")))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        me(&server, &ec.sign(Some("e1"), &claims("b"))).await.status,
        StatusCode::OK
    );
    for (why, token) in [
        ("unknown kid", rsa.sign(Some("nope"), &claims("a"))),
        ("no kid", rsa.sign(None, &claims("a"))),
        ("kid of another key", rsa.sign(Some("e1"), &claims("a"))),
        ("a key not in the set", ed.sign(Some("d1"), &claims("a"))),
    ] {
        let reply = me(&server, &token).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{why}: {}",
            reply.body
        );
        assert_eq!(reply.body["code"], "invalid_token", "{why}");
    }

    // The identity provider rotates: r1 goes, d1 arrives. No restart.
    write_jwks(&jwks, &[ec.with_kid("e1"), ed.with_kid("d1")]);
    let reply = me(&server, &ed.sign(Some("d1"), &claims("c"))).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the rotated-in key is picked up: {}",
        reply.body
    );
    me(&server, &rsa.sign(Some("r1"), &claims("a")))
        .await
        .assert_problem(401, "invalid_token");
    assert_eq!(
        me(&server, &ec.sign(Some("e1"), &claims("b"))).await.status,
        StatusCode::OK
    );
}

async fn none_and_algorithm_confusion_are_rejected(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let rsa = KeyPair::generate(dir.path(), Algorithm::RS256, "rsa");
    let other = KeyPair::generate(dir.path(), Algorithm::RS256, "other");
    let keys = KeyConfig {
        public_key_file: Some(rsa.public_pem_path.clone()),
        secret: Some(SECRET.to_vec()),
        ..KeyConfig::default()
    };
    let server = TestApp::spawn_with(app.backend, options(keys)).await;

    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims("mallory"),
        &EncodingKey::from_secret(&rsa.public_pem),
    )
    .unwrap();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("mallory")).unwrap());
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &claims("mallory"),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    for (why, token) in [
        ("HS256 signed with the RSA public key", confused),
        ("alg none", none),
        (
            "RS256 signed by another key",
            other.sign(None, &claims("mallory")),
        ),
        ("HS512 with the right secret", hs512),
    ] {
        let reply = me(&server, &token).await;
        reply.assert_problem(401, "invalid_token");
        assert!(reply.body["detail"].is_string(), "{why}");
    }
    assert_eq!(
        server.count("SELECT count(*) AS n FROM users"),
        0,
        "no user was created"
    );
    assert_eq!(
        me(&server, &rsa.sign(None, &claims("alice"))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        me(&server, &server.token("bob")).await.status,
        StatusCode::OK,
        "the configured secret still works"
    );
}

async fn issuer_and_audience_are_enforced_when_configured(app: TestApp) {
    let server = TestApp::spawn_with(
        app.backend,
        Options {
            issuer: Some("https://idp.test".into()),
            audience: Some("favorites".into()),
            ..Options::default()
        },
    )
    .await;
    let sign = |claims: Value| crate::harness::sign(&claims);
    let exp = now() + 600;
    let good = sign(json!({"sub": "a", "exp": exp, "iss": "https://idp.test", "aud": "favorites"}));
    assert_eq!(me(&server, &good).await.status, StatusCode::OK);
    for (why, claims) in [
        (
            "wrong issuer",
            json!({"sub": "a", "exp": exp, "iss": "https://evil.test", "aud": "favorites"}),
        ),
        (
            "no issuer",
            json!({"sub": "a", "exp": exp, "aud": "favorites"}),
        ),
        (
            "wrong audience",
            json!({"sub": "a", "exp": exp, "iss": "https://idp.test", "aud": "other"}),
        ),
        (
            "no audience",
            json!({"sub": "a", "exp": exp, "iss": "https://idp.test"}),
        ),
    ] {
        let reply = me(&server, &sign(claims)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{why}: {}",
            reply.body
        );
    }
}

async fn time_claims_respect_a_small_leeway(app: TestApp) {
    let t = now();
    for (why, claims, accepted) in [
        (
            "expired 2 minutes ago",
            json!({"sub": "a", "exp": t - 120}),
            false,
        ),
        (
            "expired 5 seconds ago, within leeway",
            json!({"sub": "a", "exp": t - 5}),
            true,
        ),
        (
            "not valid for 2 minutes",
            json!({"sub": "a", "exp": t + 600, "nbf": t + 120}),
            false,
        ),
        (
            "not valid for 5 seconds, within leeway",
            json!({"sub": "a", "exp": t + 600, "nbf": t + 5}),
            true,
        ),
    ] {
        let reply = me(&app, &crate::harness::sign(&claims)).await;
        assert_eq!(
            reply.status == StatusCode::OK,
            accepted,
            "{why}: {} {}",
            reply.status,
            reply.body
        );
    }
}

async fn an_8_kib_token_is_accepted(app: TestApp) {
    let token = crate::harness::sign(
        &json!({"sub": "big", "exp": now() + 600, "padding": "x".repeat(8 * 1024)}),
    );
    assert!(token.len() > 8 * 1024);
    me(&app, &token).await.assert_status(200);
}

both_backends!(
    each_algorithm_is_accepted_from_a_pem_file,
    a_jwk_set_picks_keys_by_kid_and_follows_rotation,
    none_and_algorithm_confusion_are_rejected,
    issuer_and_audience_are_enforced_when_configured,
    time_claims_respect_a_small_leeway,
    an_8_kib_token_is_accepted,
);

/// `GET /api/v1/me` against a real server process.
async fn me_at(base: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers")
        .status()
}

/// SIGHUP re-reads the JWK Set even when the file looks unchanged: the new
/// set has the same length and the old modification time, so only the
/// signal (not the change detection) can load it. Runs the real binary,
/// which is where the signal handler lives; it waits for the server's own
/// "JWK Set loaded" log line, not for time to pass.
#[actix_web::test]
async fn sighup_reloads_the_jwk_set() {
    let dir = tempfile::tempdir().unwrap();
    let old = KeyPair::generate(dir.path(), Algorithm::EdDSA, "old");
    let new = KeyPair::generate(dir.path(), Algorithm::EdDSA, "new");
    let jwks = dir.path().join("jwks.json");
    write_jwks(&jwks, &[old.with_kid("key-1")]);
    let before = std::fs::metadata(&jwks).unwrap();

    let database = TestDatabase::create(Backend::Sqlite);
    let server = Server::start_with(&database.url, &[("JWT_JWKS_FILE", jwks.to_str().unwrap())]);
    let old_token = old.sign(Some("key-1"), &claims("sighup-old"));
    let new_token = new.sign(Some("key-2"), &claims("sighup-new"));
    assert_eq!(me_at(&server.base, &old_token).await, StatusCode::OK);
    assert_eq!(
        me_at(&server.base, &new_token).await,
        StatusCode::UNAUTHORIZED
    );

    // Rotate in place, leaving the file's fingerprint as it was.
    write_jwks(&jwks, &[new.with_kid("key-2")]);
    assert_eq!(std::fs::metadata(&jwks).unwrap().len(), before.len());
    std::fs::File::options()
        .write(true)
        .open(&jwks)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    assert_eq!(
        me_at(&server.base, &new_token).await,
        StatusCode::UNAUTHORIZED,
        "without the signal the unchanged-looking file is not re-read"
    );

    server.signal("-HUP");
    server.wait_for_log("JWK Set loaded");
    assert_eq!(me_at(&server.base, &new_token).await, StatusCode::OK);
    assert_eq!(
        me_at(&server.base, &old_token).await,
        StatusCode::UNAUTHORIZED
    );
}
