//! Path parameters, each declared once: ids are positive signed 64-bit
//! integers, and each path's ids are one `IntoParams` type that handlers
//! take as `web::Path<…>` (the OpenAPI document reads them from there).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use utoipa::IntoParams;

/// A resource id from the path: 1 ..= 2^63-1. Zero, negatives, overflow and
/// non-numbers fail extraction, which answers 400 `invalid_path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub i64);

impl Id {
    pub fn parse(text: &str) -> Option<i64> {
        // `i64::from_str` accepts a leading `+`; an id is digits only.
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse::<i64>().ok().filter(|id| *id > 0)
    }
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = Id;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a positive integer id (1 to 9223372036854775807)")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Id, E> {
        Id::parse(text).map(Id).ok_or_else(|| {
            E::custom(format!(
                "`{}` is not a positive integer id (1 to 9223372036854775807)",
                text.escape_debug()
            ))
        })
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Id, E> {
        if value > 0 {
            Ok(Id(value))
        } else {
            Err(E::custom(format!("`{value}` is not a positive integer id")))
        }
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Id, E> {
        i64::try_from(value)
            .ok()
            .filter(|id| *id > 0)
            .map(Id)
            .ok_or_else(|| E::custom(format!("`{value}` is not a positive integer id")))
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Id, D::Error> {
        deserializer.deserialize_str(IdVisitor)
    }
}

/// `/interviews/{interview_id}…` and `/favorites/{interview_id}…`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InterviewPath {
    /// Interview id
    #[param(value_type = i64, minimum = 1)]
    pub interview_id: Id,
}

/// `/users/{user_id}…`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// User id
    #[param(value_type = i64, minimum = 1)]
    pub user_id: Id,
}

/// `/teams/{team_id}…`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TeamPath {
    /// Team id
    #[param(value_type = i64, minimum = 1)]
    pub team_id: Id,
}

/// `/teams/{team_id}/members/{user_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// Team id
    #[param(value_type = i64, minimum = 1)]
    pub team_id: Id,
    /// User id of the member
    #[param(value_type = i64, minimum = 1)]
    pub user_id: Id,
}

/// The `If-Match` header of a conditional write, for the document (the
/// handler reads it with [`IfMatch`](crate::http::conditional::IfMatch)).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IfMatchHeader {
    /// The `ETag` of the representation this write was based on (`"…"`,
    /// several comma-separated, or `*`); when the interview has changed
    /// since (or the value is no entity tag), the write is refused with 412
    /// `precondition_failed` and changes nothing. Without it, the write is
    /// unconditional.
    #[param(rename = "If-Match", value_type = String, required = false, example = "\"8f14e45fceea167a5a36dedd4bea2543\"")]
    if_match: Option<String>,
}

/// The `Idempotency-Key` header of a creating `POST`, for the document (the
/// handler reads it with [`IdempotencyKey`](super::idempotency::IdempotencyKey)).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKeyHeader {
    /// 1 to 255 printable ASCII characters, unique per intended request
    /// (a UUID, say). For 24 hours, a repeat with the same key and body
    /// gets the first response again (`Idempotent-Replayed: true`); the key
    /// with another body is 422 `idempotency_key_reused`; a repeat while
    /// the first is still running is 409 `idempotency_key_in_progress`. A
    /// request that fails does not use the key up.
    #[param(rename = "Idempotency-Key", value_type = String, required = false, min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]([\\x20-\\x7E]*[\\x21-\\x7E])?$", example = "5f1c7d8e-2b9a-4c61-9d3e-0a7b6c5d4e3f")]
    idempotency_key: Option<String>,
}
