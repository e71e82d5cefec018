//! The OpenAPI document: the base (info, security scheme) here, the paths and
//! schemas collected from the handlers' annotations by `utoipa-actix-web`.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "favorites",
        description = "Users favorite interviews; users belong to teams. Errors are RFC 9457 problem+json with a stable `code`.",
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "users", description = "Users, created on their first authenticated request"),
        (name = "interviews", description = "Interview write-ups"),
        (name = "favorites", description = "The favorites relation, from both sides"),
        (name = "teams", description = "Teams and memberships (a through table with its own data)"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct Base;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document before paths are added.
pub fn base() -> Document {
    Base::openapi()
}

/// The complete document, exactly as `GET /api/v1/openapi.json` serves it.
pub fn document() -> Document {
    crate::app::routes().1
}
