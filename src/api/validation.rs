//! Field checks shared by every request body: text limits counted in
//! characters, no blank required text, no NUL (PostgreSQL cannot store it),
//! collected per field into one `validation_failed` problem.

use crate::error::{ApiError, FieldErrors};

/// Collects the limits a text field breaks.
pub fn check_text(
    errors: &mut FieldErrors,
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) {
    let chars = value.chars().count();
    let mut messages = Vec::new();
    if min > 0 && value.trim().is_empty() {
        messages.push("must not be blank".to_owned());
    }
    if chars > max {
        messages.push(format!("must be at most {max} characters, got {chars}"));
    }
    if value.contains('\0') {
        messages.push("must not contain NUL characters".to_owned());
    }
    if !messages.is_empty() {
        errors.insert(field, messages);
    }
}

pub fn validated(errors: FieldErrors) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}
