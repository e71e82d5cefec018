//! `/healthz` (the process is up) and `/readyz` (the database answers).

use actix_web::{HttpResponse, get, web};
use diesel_async::SimpleAsyncConnection;
use serde_json::json;

use crate::error::ApiError;
use crate::on_backend;
use crate::state::AppState;

/// Liveness: answers 200 while the process serves HTTP, database or not.
#[utoipa::path(tag = "health", responses((status = 200, description = "The process is up")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: 200 when a pooled connection of the primary answers `SELECT
/// 1`, else 503; 503 at once after SIGTERM, while the server drains. With
/// replicas, the body lists each one's state (`usable`, `lagging`, `down`,
/// `not_a_standby`, `unchecked`) and lag; a replica never makes it fail.
#[utoipa::path(tag = "health", responses((status = 200, description = "The database answers")))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.is_draining() {
        return Err(ApiError::Unavailable(
            "the server is shutting down".to_owned(),
        ));
    }
    state
        .read(async |conn| Ok(on_backend!(conn, |c| c.batch_execute("SELECT 1").await)?))
        .await?;
    Ok(HttpResponse::Ok().json(match state.pool.replicas() {
        Some(replicas) => json!({"status": "ready", "replicas": replicas.statuses()}),
        None => json!({"status": "ready"}),
    }))
}
