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
