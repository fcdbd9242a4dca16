//! Health (`/healthz`, `/readyz`, no token) and Prometheus metrics (`/metrics`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fleetlr_engine::Engine;
use fleetlr_store::TargetState;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::api::ErrorBody;
use crate::auth::Caller;
use crate::error::{Answer, ApiError};

#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, description = "the process is up")))]
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "health", security(()), responses((status = 200, description = "every tenant scheduler is running"), (status = 503, body = ErrorBody)))]
pub(crate) async fn readyz(State(engine): State<Engine>) -> Response {
    if engine.is_ready() {
        Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the schedulers are still loading their state, or the daemon is stopping",
        )
        .into_response()
    }
}

/// Prometheus text: the engine's counters and gauges, plus the targets of open runs per state
/// (read from the store at scrape time, so they are right after a restart too).
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text", content_type = "text/plain"), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn render_metrics(
    State(engine): State<Engine>,
    _caller: Caller,
    axum::Extension(handle): axum::Extension<Option<PrometheusHandle>>,
) -> Answer<Response> {
    let handle = handle.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are not enabled",
        )
    })?;
    let counts = engine.store().open_target_counts().await?;
    for tenant in engine.tenant_names() {
        let mut queued = 0;
        for state in TARGET_STATES {
            let n = counts
                .iter()
                .find(|(t, s, _)| *t == tenant && *s == state)
                .map_or(0, |(_, _, n)| *n);
            if matches!(state, TargetState::Pending | TargetState::WaitingOffline) {
                queued += n;
            }
            metrics::gauge!("fleetlr_targets", "tenant" => tenant.clone(), "state" => state.as_str())
                .set(n as f64);
        }
        metrics::gauge!("fleetlr_queue_depth", "tenant" => tenant.clone()).set(queued as f64);
    }
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(response)
}

pub(crate) const TARGET_STATES: [TargetState; 9] = [
    TargetState::Pending,
    TargetState::WaitingOffline,
    TargetState::Submitting,
    TargetState::InFlight,
    TargetState::Succeeded,
    TargetState::Failed,
    TargetState::TimedOut,
    TargetState::Expired,
    TargetState::Cancelled,
];
