use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{ok_json, ApiError, ApiResult};
use crate::startup::AppState;

/// Liveness: the process answers.
pub async fn health() -> Response {
    ok_json(json!({"status": "ok"}))
}

/// Readiness: the database answers. Also says which optional parts are configured.
pub async fn ready(State(app): State<AppState>) -> ApiResult<Response> {
    app.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "database not reachable");
        ApiError::Unavailable("the database is not reachable".into())
    })?;
    Ok(ok_json(json!({
        "status": "ready",
        "database": "ok",
        "delivery": {"email": app.email.is_some(), "sms": app.sms.is_some()},
        "dataSets": app.intel.status,
        "faceModels": app.faces.is_some(),
    })))
}

pub async fn metrics(State(app): State<AppState>) -> Response {
    crate::telemetry::record_data_set_ages(&app.intel.status, chrono::Utc::now());
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}
