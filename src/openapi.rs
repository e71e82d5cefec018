//! The OpenAPI document: the base (info, security scheme) here, the paths and
//! schemas collected from the handlers' annotations by `utoipa-actix-web`.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::Ref;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
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

/// Answers any operation can give besides its own: 429 when a rate limit
/// is configured and exceeded, 503 while the database is unreachable.
/// Added to every operation after the paths are collected (`/healthz`
/// needs no database, so it gets 429 only).
pub fn add_shared_responses(document: &mut Document) {
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .description(Some("Seconds to wait before retrying"))
                    .build(),
            )
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    let limited = problem("Rate limited (`rate_limited`), when limits are configured");
    let unavailable = problem("The database is unreachable (`unavailable`)");
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            responses
                .entry("429".to_owned())
                .or_insert_with(|| limited.clone().into());
            if path != "/healthz" {
                responses
                    .entry("503".to_owned())
                    .or_insert_with(|| unavailable.clone().into());
            }
        }
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
