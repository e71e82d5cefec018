//! The OpenAPI document's own parts: the base (info, security scheme) and
//! the responses every operation shares, added by one function after the
//! router has collected the paths from the handlers' annotations. A
//! handler's annotation lists only the answers it chooses itself.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi};

mod parts;

use parts::{
    add_rate_limit_headers, if_none_match, not_modified, problem, problem_content,
    representation_headers,
};

use crate::error::{PROBLEM_JSON, Problem};

/// Every page schema is named `PageOf_<Item>`; their responses carry `Link`.
const PAGE_SCHEMA_PREFIX: &str = "#/components/schemas/PageOf_";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "favorites",
        description = "Users favorite interviews; users belong to teams. Errors are RFC 9457 problem+json with a stable `code`.",
    ),
    components(schemas(Problem)),
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

/// Adds what every operation shares, so that no annotation restates it:
///
/// - every 4xx/5xx answer is a `Problem` (`application/problem+json`);
/// - 400 where there are parameters or a body, saying which codes apply;
/// - 401 on `/api/v1` (a token, when sent, must be valid);
/// - 413 and 415 where there is a body;
/// - `Link` on every 200 that is a page;
/// - on `GET` under `/api/v1`: `If-None-Match`, and `ETag`, `Cache-Control`
///   and `Vary` on 200, and 304; `ETag` on every 200 `PATCH`;
/// - 409 and 422, and `Idempotent-Replayed` on 201, where `Idempotency-Key`
///   is taken;
/// - 429 everywhere, 503 everywhere but `/healthz` (it needs no database);
/// - `RateLimit-Policy` and `RateLimit` on every response.
pub fn add_shared_responses(document: &mut Document, max_body_bytes: usize) {
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Put, &mut item.put),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Delete, &mut item.delete),
            (HttpMethod::Patch, &mut item.patch),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                add_to_operation(path, method, operation, max_body_bytes);
            }
        }
    }
    add_rate_limit_headers(document);
}

fn add_to_operation(
    path: &str,
    method: HttpMethod,
    operation: &mut Operation,
    max_body_bytes: usize,
) {
    let tagged =
        path.starts_with("/api/v1/") && matches!(method, HttpMethod::Get | HttpMethod::Patch);
    let revalidated = tagged && method == HttpMethod::Get;
    if revalidated {
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(if_none_match());
    }
    let idempotent = has_header(operation, "Idempotency-Key");
    let bad_request = bad_request_description(operation);
    let has_body = operation.request_body.is_some();
    let needs_token = operation.security.is_some();
    let responses = &mut operation.responses.responses;
    let mut shared = Vec::new();
    if let Some(description) = bad_request {
        shared.push(("400", problem(&description, false)));
    }
    if path.starts_with("/api/v1/") {
        let description = if needs_token {
            "No or invalid token (`unauthorized`, `invalid_token`)"
        } else {
            "Invalid token (`invalid_token`); a token is optional here"
        };
        shared.push(("401", problem(description, false)));
    }
    if has_body {
        let limit = format!(
            "Body over {} KiB (`payload_too_large`)",
            max_body_bytes / 1024
        );
        shared.push(("413", problem(&limit, false)));
        shared.push((
            "415",
            problem("Body is not JSON (`unsupported_media_type`)", false),
        ));
    }
    if revalidated {
        shared.push(("304", not_modified()));
    }
    let writes = path.starts_with("/api/v1/") && method != HttpMethod::Get && needs_token;
    if idempotent {
        shared.push((
            "409",
            problem(
                "A request with this `Idempotency-Key` is still running (`idempotency_key_in_progress`, \
                 with `Retry-After`), or something the request refers to was deleted while it ran \
                 (`conflict`: a retry may succeed)",
                true,
            ),
        ));
        shared.push((
            "422",
            problem(
                "This `Idempotency-Key` was used with another request (`idempotency_key_reused`)",
                false,
            ),
        ));
    } else if writes {
        shared.push((
            "409",
            problem(
                "Something the request refers to (the caller's account, a user it names) was \
                 deleted while it ran (`conflict`); a retry may succeed",
                false,
            ),
        ));
    }
    shared.push((
        "429",
        problem(
            "Rate limited (`rate_limited`), when limits are configured",
            true,
        ),
    ));
    if path != "/healthz" {
        shared.push((
            "503",
            problem("The database is unreachable (`unavailable`)", true),
        ));
    }
    for (status, response) in shared {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| response.into());
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if (status.starts_with('4') || status.starts_with('5')) && response.content.is_empty() {
            response
                .content
                .insert(PROBLEM_JSON.to_owned(), problem_content());
        }
        if status == "200" && tagged {
            for (name, header) in representation_headers() {
                response.headers.insert(name.to_owned(), header.into());
            }
        }
        if status == "201" && idempotent {
            response.headers.insert(
                "Idempotent-Replayed".to_owned(),
                HeaderBuilder::new()
                    .description(Some(
                        "`true` when this is the stored response of an earlier request with the same `Idempotency-Key`",
                    ))
                    .build()
                    .into(),
            );
        }
        if status == "200" && is_page(response) {
            response.headers.insert(
                "Link".to_owned(),
                HeaderBuilder::new()
                    .description(Some("`<url>; rel=\"next\"` when a next page exists"))
                    .build()
                    .into(),
            );
        }
    }
}

/// Which 400 codes an operation can answer, from what it takes.
fn bad_request_description(operation: &Operation) -> Option<String> {
    let parameters: Vec<_> = operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|parameter| match parameter {
            RefOr::T(parameter) => Some(parameter),
            RefOr::Ref(_) => None,
        })
        .collect();
    let mut causes = Vec::new();
    if parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Path)
    {
        causes.push("malformed id (`invalid_path`)");
    }
    let query: Vec<_> = parameters
        .iter()
        .filter(|p| p.parameter_in == ParameterIn::Query)
        .collect();
    if query.iter().any(|p| p.name == "cursor") {
        causes.push("invalid query (`invalid_query`) or cursor (`invalid_cursor`)");
    } else if !query.is_empty() {
        causes.push("invalid query (`invalid_query`)");
    }
    if operation.request_body.is_some() {
        causes.push("invalid body (`invalid_body`, `validation_failed`)");
    }
    if parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Header && p.name == "Idempotency-Key")
    {
        causes.push("malformed header (`invalid_header`)");
    }
    let text = causes.join("; ");
    let mut chars = text.chars();
    let first = chars.next()?;
    Some(first.to_uppercase().chain(chars).collect())
}

fn has_header(operation: &Operation, name: &str) -> bool {
    operation.parameters.iter().flatten().any(|parameter| {
        matches!(parameter, RefOr::T(p) if p.parameter_in == ParameterIn::Header && p.name == name)
    })
}

fn is_page(response: &Response) -> bool {
    response.content.values().any(|content| match content {
        RefOr::T(content) => matches!(
            &content.schema,
            Some(RefOr::Ref(schema)) if schema.ref_location.starts_with(PAGE_SCHEMA_PREFIX)
        ),
        RefOr::Ref(_) => false,
    })
}
