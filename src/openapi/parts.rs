//! Pieces of the OpenAPI document built by hand: the headers and error
//! responses that `add_shared_responses` puts on every operation.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Required};

use crate::error::PROBLEM_JSON;

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-09)
/// on every response: the limits wrap every API route. Defined once under
/// `components.headers` and marked not required, since they are absent
/// where no limit is configured or applies.
pub(super) fn add_rate_limit_headers(document: &mut Document) {
    let fields = [
        (
            "RateLimit-Policy",
            "The rate limits that applied to this request, when limits are configured: \
             one item per limit (`per-ip`; `per-user` with a valid token), `q` requests \
             allowed per window of `w` seconds, e.g. `\"per-ip\";q=60;w=60`",
        ),
        (
            "RateLimit",
            "What is left of each limit in `RateLimit-Policy`: `r` requests remaining and \
             `t` seconds until the whole quota is available again, e.g. \
             `\"per-ip\";r=59;t=1`; `r=0` on a 429",
        ),
    ];
    let components = document.components.get_or_insert_with(Default::default);
    for (name, description) in fields {
        let header = HeaderBuilder::new()
            .description(Some(description))
            // utoipa's `Header` has no `required`; OpenAPI's default is
            // false, and saying so spares generators a guess.
            .extensions(Some(Extensions::from_iter([("required", false)])))
            .build();
        components.headers.insert(name.to_owned(), header.into());
    }
    let responses = document
        .paths
        .paths
        .values_mut()
        .flat_map(|item| {
            [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
        })
        .flatten()
        .flat_map(|operation| operation.responses.responses.values_mut());
    for response in responses {
        if let RefOr::T(response) = response {
            for (name, _) in fields {
                let reference = Ref::new(format!("#/components/headers/{name}"));
                response
                    .headers
                    .insert(name.to_owned(), RefOr::Ref(reference));
            }
        }
    }
}

pub(super) fn if_none_match() -> RefOr<Parameter> {
    ParameterBuilder::new()
        .name("If-None-Match")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "`ETag`s of representations the client holds (`\"…\"` or `W/\"…\"`, comma-separated, or `*`); when one is current, the answer is 304 with no body. A malformed value is ignored",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
        .into()
}

pub(super) fn not_modified() -> Response {
    let mut response = ResponseBuilder::new()
        .description("Not modified: `If-None-Match` names the current `ETag`; no body")
        .build();
    for (name, header) in representation_headers() {
        response.headers.insert(name.to_owned(), header.into());
    }
    response
}

/// The headers of a tagged representation.
pub(super) fn representation_headers() -> [(&'static str, utoipa::openapi::header::Header); 3] {
    let header = |description: &str| {
        HeaderBuilder::new()
            .description(Some(description.to_owned()))
            .build()
    };
    [
        (
            "ETag",
            header(
                "Strong tag of this representation; changes whenever anything in it does (for the caller: `favorited` too). Send it as `If-None-Match` to revalidate, or as `If-Match` to edit only this version",
            ),
        ),
        (
            "Cache-Control",
            header("`private, no-cache` with a token; `public, max-age=5` for anonymous reads"),
        ),
        (
            "Vary",
            header("`Authorization`: the caller is part of the representation"),
        ),
    ]
}

pub(super) fn problem_content() -> RefOr<utoipa::openapi::content::Content> {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build()
        .into()
}

pub(super) fn problem(description: &str, retry_after: bool) -> Response {
    let mut response = ResponseBuilder::new().description(description);
    if retry_after {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    let mut response = response.build();
    response
        .content
        .insert(PROBLEM_JSON.to_owned(), problem_content());
    response
}
