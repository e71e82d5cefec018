//! Answers nobody else gave: 404/405 for requests no route took, and
//! problem+json for errors actix produced itself.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use utoipa::openapi::OpenApi;

use super::body::MAX_BODY_BYTES;
use crate::error::{ApiError, PROBLEM_JSON};

/// Every route the API serves and its methods, taken from the OpenAPI
/// document so the two cannot disagree; it tells 404 from 405.
pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<&'static str>)>,
}

impl RouteTable {
    pub fn from_openapi(document: &OpenApi) -> RouteTable {
        let mut routes: Vec<(ResourceDef, Vec<&'static str>)> = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let operations = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ];
                let methods = operations
                    .iter()
                    .filter(|(_, present)| *present)
                    .map(|(method, _)| *method)
                    .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        for extra in ["/api/v1/openapi.json", "/docs", "/docs/{_:.*}", "/metrics"] {
            routes.push((ResourceDef::new(extra), vec!["GET"]));
        }
        RouteTable { routes }
    }

    /// The methods a path allows, empty when no route has that path.
    pub fn allowed(&self, path: &str) -> Vec<&'static str> {
        self.routes
            .iter()
            .filter(|(pattern, _)| pattern.is_match(path))
            .flat_map(|(_, methods)| methods.iter().copied())
            .collect()
    }
}

/// The answer for a request no route took: 405 with `Allow` when the path
/// exists with other methods, else 404.
pub async fn unmatched(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    let allowed = routes.allowed(req.path());
    if allowed.is_empty() {
        Err(ApiError::NotFound(format!("nothing is at {}", req.path())))
    } else {
        Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allow: allowed.join(", "),
        })
    }
}

/// Renders errors that actix answered on its own (without our error type)
/// as problem+json, keeping their status and headers.
pub fn problem_for_bare_errors<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let error = bare_error(status, &response);
    let (req, res) = response.into_parts();
    let mut problem = error.error_response();
    *problem.status_mut() = status;
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    let problem = problem.map_body(|_, body| EitherBody::right(BoxBody::new(body)));
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(
        req, problem,
    )))
}

fn bare_error<B>(status: StatusCode, response: &ServiceResponse<B>) -> ApiError {
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    match status {
        StatusCode::NOT_FOUND => {
            ApiError::NotFound(format!("nothing is at {}", response.request().path()))
        }
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(MAX_BODY_BYTES),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(reason),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed {
            method: response.request().method().to_string(),
            allow: String::new(),
        },
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(reason),
        StatusCode::TOO_MANY_REQUESTS => ApiError::RateLimited(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok()?.parse().ok())
                .unwrap_or(1),
        ),
        status if status.is_client_error() => ApiError::InvalidBody(reason),
        _ => ApiError::Internal(reason),
    }
}
