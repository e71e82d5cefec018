//! Conditional requests (RFC 9110 §13): every 200 `GET` under `/api/v1`
//! (and every 200 `PATCH`, whose body is the resource as `GET` now gives
//! it) carries a strong `ETag` computed from the body it sends, so the tag
//! changes exactly when the representation does (the caller's own
//! `favorited` flag and `favorites_count` included) and costs no query.
//! `If-None-Match` that matches answers 304; [`IfMatch`] is what `PATCH` and
//! `DELETE` of an interview check, inside their write transaction, against
//! the tag of the representation the caller would `GET`.

use std::future::{Ready, ready};

use actix_web::body::{self, BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpRequest};
use serde::Serialize;

use crate::error::ApiError;

/// `Cache-Control` of a representation read with a bearer token: only the
/// caller's own cache may keep it, and must revalidate before each use.
pub const PRIVATE: &str = "private, no-cache";
/// `Cache-Control` of an anonymous read: any cache may keep it for five
/// seconds (counts may be that stale), then revalidate.
pub const PUBLIC: &str = "public, max-age=5";

/// The strong entity tag of a representation: 128 bits of XXH3 over the
/// exact bytes of its JSON body, in hex.
pub fn entity_tag(body: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(body))
}

/// The entity tag of `value` as a handler would answer it with `.json(…)`.
pub fn entity_tag_of<T: Serialize>(value: &T) -> Result<String, ApiError> {
    let body = serde_json::to_vec(value).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(entity_tag(&body))
}

/// The middleware: tags 200 responses to `GET` and `PATCH` under `/api/v1`,
/// says how they may be cached and on what they vary, and turns a `GET`'s
/// into 304 when `If-None-Match` names its tag.
pub async fn conditional(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let read = req.method() == Method::GET;
    let tagged = (read || req.method() == Method::PATCH) && req.path().starts_with("/api/v1/");
    let with_token = req.headers().contains_key(header::AUTHORIZATION);
    let if_none_match = Tags::parse(req.headers(), header::IF_NONE_MATCH);
    let response = next.call(req).await?;
    // A streamed body (the export) is not buffered to be tagged.
    let sized = matches!(response.response().body().size(), BodySize::Sized(_));
    if !tagged || !sized || response.status() != StatusCode::OK {
        return Ok(response.map_into_boxed_body());
    }
    let (req, response) = response.into_parts();
    let (mut response, body) = response.into_parts();
    // A handler's JSON is one buffer already: taken as it is, not copied.
    let bytes = match body.try_into_bytes() {
        Ok(bytes) => bytes,
        Err(body) => body::to_bytes(body).await.map_err(|error| {
            ApiError::Internal(format!("reading a response body: {}", error.into()))
        })?,
    };
    let tag = entity_tag(&bytes);
    let headers = response.headers_mut();
    headers.insert(header::ETAG, header_value(&tag));
    headers.append(header::VARY, HeaderValue::from_static("Authorization"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if with_token { PRIVATE } else { PUBLIC }),
    );
    let response = match if_none_match {
        Ok(Some(tags)) if read && tags.matches_weakly(&tag) => {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response.headers_mut().remove(header::CONTENT_TYPE);
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response.set_body(BoxBody::new(()))
        }
        // A malformed If-None-Match is ignored (RFC 9110 §13.1.2 leaves no
        // error for it): the client gets the full representation.
        _ => response.set_body(BoxBody::new(bytes)),
    };
    Ok(ServiceResponse::new(req, response))
}

fn header_value(tag: &str) -> HeaderValue {
    HeaderValue::from_str(tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// The entity tags of an `If-Match` / `If-None-Match` field: `*` or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    Any,
    /// Each tag with its quotes, and whether it is weak (`W/`).
    List(Vec<(bool, String)>),
}

impl Tags {
    /// The field `name` of `headers` (all its lines), `None` when absent;
    /// an error names what is malformed.
    fn parse(headers: &HeaderMap, name: header::HeaderName) -> Result<Option<Tags>, String> {
        let mut tags = Vec::new();
        let mut any = false;
        let mut present = false;
        for value in headers.get_all(&name) {
            present = true;
            let text = value
                .to_str()
                .map_err(|_| format!("{name} must be ASCII"))?;
            let malformed = || {
                format!(
                    "{name} must be `*` or a list of entity tags such as \"abc\" or W/\"abc\", got `{}`",
                    text.escape_debug()
                )
            };
            // `*`, or entity tags (`"…"` / `W/"…"`; the opaque part may hold
            // commas) separated by commas and optional whitespace.
            let separators: &[char] = &[' ', '\t', ','];
            let mut rest = text.trim_start_matches(separators);
            while !rest.is_empty() {
                if let Some(after) = rest.strip_prefix('*') {
                    any = true;
                    rest = after;
                } else {
                    let (weak, quoted) = match rest.strip_prefix("W/") {
                        Some(after) => (true, after),
                        None => (false, rest),
                    };
                    let opaque = quoted.strip_prefix('"').ok_or_else(malformed)?;
                    let end = opaque.find('"').ok_or_else(malformed)?;
                    let valid = |b: u8| b == 0x21 || (0x23..=0x7e).contains(&b);
                    if !opaque[..end].bytes().all(valid) {
                        return Err(malformed());
                    }
                    tags.push((weak, format!("\"{}\"", &opaque[..end])));
                    rest = &opaque[end + 1..];
                }
                rest = rest.trim_start_matches([' ', '\t']);
                match rest.strip_prefix(',') {
                    Some(after) => rest = after.trim_start_matches(separators),
                    None if rest.is_empty() => {}
                    None => return Err(malformed()),
                }
            }
        }
        Ok(match (present, any) {
            (false, _) => None,
            (true, true) => Some(Tags::Any),
            (true, false) => Some(Tags::List(tags)),
        })
    }

    /// Weak comparison (`If-None-Match`): `W/` is ignored.
    fn matches_weakly(&self, tag: &str) -> bool {
        match self {
            Tags::Any => true,
            Tags::List(tags) => tags.iter().any(|(_, opaque)| opaque == tag),
        }
    }

    /// Strong comparison (`If-Match`): a weak tag never matches.
    fn matches_strongly(&self, tag: &str) -> bool {
        match self {
            Tags::Any => true,
            Tags::List(tags) => tags.iter().any(|(weak, opaque)| !weak && opaque == tag),
        }
    }
}

/// A request's `If-Match` (RFC 9110 §13.1.1), as an extractor: `None` when
/// the request has none (the write goes ahead unconditionally). A malformed
/// one (or an empty list) names no representation, so its condition is
/// false: the write is refused with 412 like a stale tag.
#[derive(Debug, Clone)]
pub struct IfMatch(pub Option<Tags>);

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<IfMatch, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let tags = Tags::parse(req.headers(), header::IF_MATCH)
            .unwrap_or_else(|_| Some(Tags::List(Vec::new())));
        ready(Ok(IfMatch(tags)))
    }
}

impl IfMatch {
    /// `Ok` when there is no `If-Match`, or when it names `current`'s tag
    /// (or is `*`: the resource exists); else 412 `precondition_failed`.
    pub fn check<T: Serialize>(&self, current: &T) -> Result<(), ApiError> {
        let Some(tags) = &self.0 else {
            return Ok(());
        };
        let tag = entity_tag_of(current)?;
        if tags.matches_strongly(&tag) {
            Ok(())
        } else {
            Err(ApiError::PreconditionFailed(format!(
                "If-Match does not name the current representation, whose ETag is {tag}; \
                 GET it again and reapply the change"
            )))
        }
    }

    /// Whether the request is conditional at all.
    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> Result<Option<Tags>, String> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
        }
        Tags::parse(&headers, header::IF_MATCH)
    }

    #[test]
    fn entity_tag_lists_parse_and_compare() {
        assert_eq!(parse(&[]), Ok(None));
        assert_eq!(parse(&["*"]), Ok(Some(Tags::Any)));
        let tags = parse(&[r#""a", W/"b""#, r#""c""#, r#""d,e""#])
            .unwrap()
            .unwrap();
        assert!(
            tags.matches_strongly(r#""d,e""#),
            "an opaque tag may hold a comma"
        );
        assert!(tags.matches_strongly(r#""a""#) && tags.matches_strongly(r#""c""#));
        assert!(
            !tags.matches_strongly(r#""b""#),
            "weak tags never match strongly"
        );
        assert!(tags.matches_weakly(r#""b""#));
        assert!(!tags.matches_weakly(r#""d""#));
        for bad in [
            "abc",
            r#""a"b""#,
            "W/abc",
            "\"",
            r#""sp ace""#,
            "null",
            r#""a" "b""#,
        ] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
    }
}
