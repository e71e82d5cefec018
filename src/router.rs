//! The top floor: the only module that knows every layer. It registers the
//! routes, configures the extractors, orders the middleware, serves the
//! docs, and assembles the OpenAPI document from the handlers.

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::{Compress, ErrorHandlers, from_fn};
use actix_web::web::{self, PathConfig, PayloadConfig, QueryConfig};
use actix_web::{App, Error, HttpResponse, ResponseError};
use utoipa::openapi::OpenApi;
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::api;
use crate::api::idempotency::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
use crate::auth::{Authenticator, authenticate};
use crate::error::ApiError;
use crate::http::body::MAX_BODY_BYTES;
use crate::http::conditional::conditional;
use crate::http::context::{REQUEST_ID, request_context};
use crate::http::decision::{RATELIMIT, RATELIMIT_POLICY};
use crate::http::fallback::{RouteTable, problem_for_bare_errors, unmatched};
use crate::http::ratelimit::{ByIp, ByUser, Limit};
use crate::metrics::TEXT_FORMAT;
use crate::state::AppState;

/// What one server's apps are built from; each worker builds its `App`
/// from the same parts, so state and limits are shared across workers.
pub struct Parts {
    pub state: web::Data<AppState>,
    pub auth: web::Data<Authenticator>,
    pub cors_allowed_origins: Vec<String>,
    pub ip_limit: Limit<ByIp>,
    pub user_limit: Limit<ByUser>,
}

/// The routes and the OpenAPI document collected from them, without state:
/// `favorites openapi` needs only the document.
fn routes() -> (
    App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse,
            Error = Error,
            InitError = (),
        >,
    >,
    OpenApi,
) {
    let (app, mut document) = App::new()
        .into_utoipa_app()
        .openapi(crate::openapi::base())
        .service(api::health::healthz)
        .service(api::health::readyz)
        .route("/api/v1/openapi.json", web::get().to(openapi_json))
        .service(scope::scope("/api/v1").configure(api::configure))
        .split_for_parts();
    crate::openapi::add_shared_responses(&mut document, MAX_BODY_BYTES);
    (app, document)
}

/// The complete document, exactly as `GET /api/v1/openapi.json` serves it.
pub fn document() -> OpenApi {
    routes().1
}

/// The whole application: routes, extractor configuration, error rendering
/// and middleware, around `parts`.
pub fn app(
    parts: Arc<Parts>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let (app, document) = routes();
    let route_table = web::Data::new(RouteTable::from_openapi(&document));
    app.app_data(parts.state.clone())
        .app_data(parts.auth.clone())
        .app_data(route_table)
        .app_data(web::Data::new(document))
        .app_data(PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(PathConfig::default().error_handler(|error, _| {
            ApiError::InvalidPath(format!("the path is not valid: {error}")).into()
        }))
        .app_data(QueryConfig::default().error_handler(|error, _| {
            ApiError::InvalidQuery(format!("the query string is not valid: {error}")).into()
        }))
        .service(SwaggerUi::new("/docs/{_:.*}").config(docs_config()))
        .route("/docs", web::get().to(docs_index))
        .route("/metrics", web::get().to(metrics))
        .default_service(web::to(unmatched))
        // Listed innermost first: actix runs the last `wrap` first.
        // Tags what the handlers answered, before anything compresses it.
        .wrap(from_fn(conditional))
        .wrap(parts.user_limit.middleware())
        // Verifies the token once, for the per-user limit inside it and for
        // the extractors; refuses nothing itself.
        .wrap(from_fn(authenticate))
        .wrap(parts.ip_limit.middleware())
        .wrap(ErrorHandlers::new().default_handler(problem_for_bare_errors))
        .wrap(Compress::default())
        .wrap(parts.state.metrics.http.clone())
        .wrap(from_fn(request_context))
        // Outermost: preflights are answered before anything else looks at
        // them, and every response (errors too) carries the CORS headers.
        .wrap(cors(&parts.cors_allowed_origins))
}

/// CORS from `CORS_ALLOWED_ORIGINS`: preflights for every method the API
/// has with `Authorization` and `Content-Type`; the headers clients need
/// exposed. Requests from other origins are served without CORS headers,
/// so browsers withhold the response.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static(IDEMPOTENCY_KEY),
            HeaderName::from_static(REQUEST_ID),
        ])
        .expose_headers([
            header::ETAG,
            HeaderName::from_static(IDEMPOTENT_REPLAYED),
            header::LINK,
            header::LOCATION,
            header::RETRY_AFTER,
            RATELIMIT,
            RATELIMIT_POLICY,
            header::WWW_AUTHENTICATE,
            HeaderName::from_static(REQUEST_ID),
        ])
        .max_age(3600)
        .block_on_origin_mismatch(false)
}

/// `GET /metrics`: an ordinary route, so `Compress` encodes it as it does
/// every response (Prometheus asks for gzip).
async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state.metrics.render().map_err(|error| {
        ApiError::Internal(format!("the metrics could not be encoded: {error}"))
    })?;
    Ok(HttpResponse::Ok().content_type(TEXT_FORMAT).body(text))
}

async fn openapi_json(document: web::Data<OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(document.get_ref())
}

/// Swagger UI (vendored: it works offline) reading the served document.
fn docs_config() -> SwaggerConfig<'static> {
    SwaggerConfig::new(["/api/v1/openapi.json"])
        .try_it_out_enabled(true)
        .persist_authorization(true)
}

/// `GET /docs` answers the Swagger UI page itself (200, not a redirect);
/// `<base href="/docs/">` makes its relative asset URLs resolve under `/docs/`.
async fn docs_index() -> HttpResponse {
    let page = utoipa_swagger_ui::serve("index.html", Arc::new(docs_config()))
        .ok()
        .flatten();
    let Some(page) = page else {
        return ApiError::Internal("the vendored Swagger UI has no index.html".to_owned())
            .error_response();
    };
    let html =
        String::from_utf8_lossy(&page.bytes).replacen("<head>", r#"<head><base href="/docs/">"#, 1);
    HttpResponse::Ok()
        .content_type(page.content_type)
        .body(html)
}
