//! The text fields of request bodies, each a small type that owns its rule:
//! the limit (counted in characters), whether it may be blank, the message
//! a client gets, and the schema the OpenAPI document shows. No text may
//! hold NUL (PostgreSQL cannot store it). Limits are checked after parsing
//! and collected per field into one `validation_failed` problem.

use serde::Deserialize;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use crate::error::{ApiError, FieldErrors};

/// Not blank: at least one character that is neither NUL nor whitespace.
const NOT_BLANK_PATTERN: &str = r"^[^\u0000]*[^\u0000\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000]*$";
const NO_NUL_PATTERN: &str = r"^[^\u0000]*$";

/// How long a text may be, and whether it must say something.
#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    pub required: bool,
    pub max_chars: usize,
}

impl TextRule {
    /// Collects the limits `value` breaks under `field`.
    pub fn check(&self, field: &'static str, value: &str, errors: &mut FieldErrors) {
        let chars = value.chars().count();
        let mut messages = Vec::new();
        if self.required && value.trim().is_empty() {
            messages.push("must not be blank".to_owned());
        }
        if chars > self.max_chars {
            let max = self.max_chars;
            messages.push(format!("must be at most {max} characters, got {chars}"));
        }
        if value.contains('\0') {
            messages.push("must not contain NUL characters".to_owned());
        }
        if !messages.is_empty() {
            errors.insert(field, messages);
        }
    }

    /// The field's schema; `note` ends its description (what a missing
    /// value means).
    pub fn schema(&self, nullable: bool, note: Option<&str>) -> Object {
        let max = thousands(self.max_chars);
        let mut description = if self.required {
            format!("1 to {max} characters, not blank (not only whitespace), no NUL")
        } else {
            format!("Up to {max} characters, no NUL")
        };
        if let Some(note) = note {
            description.push_str("; ");
            description.push_str(note);
        }
        description.push('.');
        let schema_type = if nullable {
            SchemaType::from_iter([Type::String, Type::Null])
        } else {
            SchemaType::new(Type::String)
        };
        ObjectBuilder::new()
            .schema_type(schema_type)
            .description(Some(description))
            .min_length(self.required.then_some(1))
            .max_length(Some(self.max_chars))
            .pattern(Some(if self.required {
                NOT_BLANK_PATTERN
            } else {
                NO_NUL_PATTERN
            }))
            .build()
    }
}

/// `20000` as `20,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A field whose rule is checked after parsing; an absent optional field
/// breaks no rule.
pub trait Check {
    fn check(&self, field: &'static str, errors: &mut FieldErrors);
}

impl<T: Check> Check for Option<T> {
    fn check(&self, field: &'static str, errors: &mut FieldErrors) {
        if let Some(value) = self {
            value.check(field, errors);
        }
    }
}

/// Declares a text field type: a string that is checked, not trusted.
macro_rules! text_field {
    ($(#[$doc:meta])* $name:ident, required: $required:literal, max: $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub const RULE: TextRule = TextRule {
                required: $required,
                max_chars: $max,
            };

            pub fn schema() -> Object {
                Self::RULE.schema(false, None)
            }

            /// For a merge patch, where `null` removes the value: it
            /// goes back to `""`.
            pub fn clearable_schema() -> Object {
                Self::RULE.schema(true, Some(r#"`null` sets it to """#))
            }

            /// For a create body, where a missing value is `""`.
            pub fn defaulted_schema() -> Object {
                Self::RULE.schema(false, Some(r#"defaults to """#))
            }
        }

        impl From<$name> for String {
            fn from(text: $name) -> String {
                text.0
            }
        }

        impl Check for $name {
            fn check(&self, field: &'static str, errors: &mut FieldErrors) {
                Self::RULE.check(field, &self.0, errors);
            }
        }
    };
}

text_field!(
    /// An interview's title.
    Title, required: true, max: 200
);
text_field!(
    /// The company an interview was with.
    Company, required: false, max: 100
);
text_field!(
    /// The position an interview was for.
    Position, required: false, max: 100
);
text_field!(
    /// An interview's write-up.
    Body, required: false, max: 20000
);
text_field!(
    /// A team's name.
    TeamName, required: true, max: 100
);
text_field!(
    /// Why a member joined a team.
    Reason, required: false, max: 64
);

/// A field of a JSON Merge Patch (RFC 7396): `None` when absent,
/// `Some(None)` for `null` (remove), `Some(Some(value))` to set. Use with
/// `#[serde(default, deserialize_with = "patch_field")]`.
pub type PatchField<T> = Option<Option<T>>;

/// Deserializes a present field, `null` included, as `Some`; serde's
/// `default` makes an absent one `None`.
pub fn patch_field<'de, D, T>(deserializer: D) -> Result<PatchField<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The rules each named field breaks.
pub fn check_fields(fields: &[(&'static str, &dyn Check)]) -> FieldErrors {
    let mut errors = FieldErrors::new();
    for (field, value) in fields {
        value.check(field, &mut errors);
    }
    errors
}

/// `Ok` when no field broke a rule, else one `validation_failed` problem.
pub fn validated(errors: FieldErrors) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(64), "64");
        assert_eq!(thousands(200), "200");
        assert_eq!(thousands(20000), "20,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
