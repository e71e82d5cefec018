//! Request bodies. The body is read by the extractor but judged only when the
//! handler asks, after the path's resources exist and the caller may act on
//! them: the SPEC orders 404 and 403 before a 400 about the body.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body, not yet parsed.
pub struct JsonBody(Result<Bytes, ApiError>);

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<JsonBody, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let media_type = check_media_type(req);
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = match bytes.await {
                Ok(bytes) if bytes.is_empty() => Ok(bytes),
                Ok(bytes) => media_type.map(|()| bytes),
                Err(error) if error.as_response_error().status_code().as_u16() == 413 => {
                    Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES))
                }
                Err(error) => Err(ApiError::InvalidBody(format!(
                    "the body could not be read: {error}"
                ))),
            };
            Ok(JsonBody(body))
        })
    }
}

/// `application/json` or any `+json` type; parameters (charset) are allowed.
fn check_media_type(req: &HttpRequest) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "the body must be application/json, not `{}`",
            content_type.escape_debug()
        )))
    }
}

impl JsonBody {
    /// The body as `T`; a missing, non-JSON or mistyped body is `invalid_body`.
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        let bytes = self.0?;
        if bytes.is_empty() {
            return Err(ApiError::InvalidBody(
                "a JSON object body is required".to_owned(),
            ));
        }
        parse_json(&bytes)
    }

    /// What stands for this body when a request is compared with an
    /// earlier one (`Idempotency-Key`): the JSON value it holds, whatever
    /// its key order or whitespace, or its bytes when it is not JSON.
    pub fn fingerprint(&self, path: &str) -> String {
        let bytes = self.0.as_deref().unwrap_or_default();
        let mut input = path.as_bytes().to_vec();
        input.push(0);
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(value) => canonical(&value, &mut input),
            Err(_) => input.extend_from_slice(bytes),
        }
        format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&input))
    }

    /// The body as `T`, or `T::default()` when there is no body at all or
    /// it is JSON `null` (as the document's `oneOf: [T, null]` allows).
    pub fn parse_or_default<T: DeserializeOwned + Default>(self) -> Result<T, ApiError> {
        let bytes = self.0?;
        if bytes.is_empty() || trim_json_whitespace(&bytes) == b"null" {
            Ok(T::default())
        } else {
            parse_json(&bytes)
        }
    }
}

/// `value` as JSON with every object's keys sorted.
fn canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(object) => {
            let mut entries: Vec<_> = object.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(&Value::String(key.clone()), out);
                out.push(b':');
                canonical(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

/// `bytes` without the whitespace JSON allows around a value.
fn trim_json_whitespace(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde would also read a struct from a JSON array (`["title"]`); every
    // body of this API is an object.
    if !trim_json_whitespace(bytes).starts_with(b"{") {
        return Err(ApiError::InvalidBody(
            "the body must be a JSON object".to_owned(),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|error| ApiError::InvalidBody(format!("the body is not valid: {error}")))
}
