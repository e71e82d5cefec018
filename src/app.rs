//! Builds the actix `App` from `AppState`; used by `serve` and by the tests.

use std::sync::Arc;

use actix_web::ResponseError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Compress, ErrorHandlers};
use actix_web::web::{self, PathConfig, PayloadConfig, QueryConfig};
use actix_web::{App, Error, HttpResponse};
use utoipa::openapi::OpenApi;
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use actix_cors::Cors;
use actix_web::http::header::{self, HeaderName};

use crate::api::{self, body::MAX_BODY_BYTES};
use crate::auth::{Authenticator, UserCache, user_cache};
use crate::db::{Backend, Conn, Pool};
use crate::error::ApiError;
use crate::http::{REQUEST_ID, RouteTable, problem_for_bare_errors, request_context};
use crate::metrics::Metrics;
use crate::ratelimit::{ByIp, ByUser, Limit};

/// What every request can reach: the database pool, the token verifier,
/// metrics, and the browser and rate-limit policies. Built once per server
/// and shared by all its workers (limits count across workers).
pub struct AppState {
    pub pool: Pool,
    pub backend: Backend,
    pub auth: Arc<Authenticator>,
    pub metrics: Metrics,
    pub users: UserCache,
    pub cors_allowed_origins: Vec<String>,
    pub ip_limit: Limit<ByIp>,
    pub user_limit: Limit<ByUser>,
}

impl AppState {
    /// State with no browser origins allowed and no rate limits.
    pub fn new(
        pool: Pool,
        backend: Backend,
        auth: Arc<Authenticator>,
    ) -> Result<AppState, prometheus::Error> {
        let metrics = Metrics::new(pool.clone())?;
        Ok(AppState {
            pool,
            backend,
            auth,
            metrics,
            users: user_cache(),
            cors_allowed_origins: Vec::new(),
            ip_limit: Limit::new(ByIp, None),
            user_limit: Limit::new(ByUser, None),
        })
    }

    pub fn with_cors(mut self, origins: Vec<String>) -> AppState {
        self.cors_allowed_origins = origins;
        self
    }

    /// Requests a minute per client IP and per user; `None` is no limit.
    pub fn with_rate_limits(mut self, per_ip: Option<u32>, per_user: Option<u32>) -> AppState {
        self.ip_limit = Limit::new(ByIp, per_ip);
        self.user_limit = Limit::new(ByUser, per_user);
        self
    }

    /// CORS from `CORS_ALLOWED_ORIGINS`: preflights for every method the API
    /// has with `Authorization` and `Content-Type`; the headers clients need
    /// exposed. Requests from other origins are served without CORS headers,
    /// so browsers withhold the response.
    fn cors(&self) -> Cors {
        let cors = self
            .cors_allowed_origins
            .iter()
            .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin));
        cors.allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
            .allowed_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static(REQUEST_ID),
            ])
            .expose_headers([
                header::LINK,
                header::LOCATION,
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                HeaderName::from_static(REQUEST_ID),
            ])
            .max_age(3600)
            .block_on_origin_mismatch(false)
    }

    /// Runs blocking database work on a pooled connection, off the async
    /// workers (actix's blocking thread pool). Waiting for a connection is
    /// bounded by the pool's timeout, after which the request gets 503.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Conn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get()?;
            let result = work(&mut conn);
            if let Err(ApiError::Unavailable(_)) = &result {
                conn.mark_lost();
            }
            result
        })
        .await?
    }
}

/// The routes and the OpenAPI document collected from them, without state:
/// `favorites openapi` needs only the document.
pub fn routes() -> (
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
    crate::openapi::add_shared_responses(&mut document);
    (app, document)
}

/// The whole application: routes, extractor configuration, error rendering
/// and middleware, around `state`.
pub fn build_app(
    state: web::Data<AppState>,
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
    let document = web::Data::new(document);
    let cors = state.cors();
    let metrics = state.metrics.http.clone();
    let ip_limit = state.ip_limit.middleware();
    let user_limit = state.user_limit.middleware();
    app.app_data(state)
        .app_data(route_table)
        .app_data(document)
        .app_data(PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(PathConfig::default().error_handler(|error, _| {
            ApiError::InvalidPath(format!("the path is not valid: {error}")).into()
        }))
        .app_data(QueryConfig::default().error_handler(|error, _| {
            ApiError::InvalidQuery(format!("the query string is not valid: {error}")).into()
        }))
        .service(SwaggerUi::new("/docs/{_:.*}").config(docs_config()))
        .route("/docs", web::get().to(docs_index))
        .default_service(web::to(crate::http::unmatched))
        .wrap(user_limit)
        .wrap(ip_limit)
        .wrap(ErrorHandlers::new().default_handler(problem_for_bare_errors))
        .wrap(Compress::default())
        .wrap(metrics)
        .wrap(actix_web::middleware::from_fn(request_context))
        // Outermost: preflights are answered before anything else looks at
        // them, and every response (errors too) carries the CORS headers.
        .wrap(cors)
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
