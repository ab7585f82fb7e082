//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use baton_core::error::ErrorCode;

use crate::error::ApiError;
use crate::openapi::ReadinessProblems;
use crate::state::AppState;
use crate::wire::HealthResponse;

/// Liveness: 200 whenever the process answers HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "get_health",
    tag = "system",
    responses((status = 200, description = "The process is up.", body = HealthResponse))
)]
pub(crate) async fn get_health() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".to_owned(),
    })
}

/// Readiness: 200 when the database answers and every migration is applied, and the
/// server is not shutting down; 503 otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "get_readiness",
    tag = "system",
    responses(
        (status = 200, description = "The server can serve requests.", body = HealthResponse),
        ReadinessProblems,
    )
)]
pub(crate) async fn get_readiness(
    State(state): State<AppState>,
) -> Result<Json<HealthResponse>, ApiError> {
    if state.is_shutting_down() {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            "not ready: the server is shutting down",
        ));
    }
    if state.journal().ready().await? {
        Ok(Json(HealthResponse {
            status: "ready".to_owned(),
        }))
    } else {
        Err(ApiError::new(
            ErrorCode::Unavailable,
            "not ready: the database answers but its migrations are not all applied",
        ))
    }
}
