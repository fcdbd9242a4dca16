//! The daemon's HTTP surface: the operator REST API (`/api/v1`, JSON), artifact downloads and
//! health (`/healthz`, `/readyz`). It translates HTTP to `fleetlr_engine::Engine` calls and
//! store reads, and engine errors to HTTP statuses with one JSON error shape.
//!
//! It never schedules, never calls the Defender API and never writes SQL itself; it never puts
//! internal error detail (paths, SQL) in an answer, only in the log.

mod access;
pub mod api;
pub mod auth;
mod error;
mod runs;
mod telemetry;

pub use error::{Answer, ApiError};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use fleetlr_engine::Engine;
use metrics_exporter_prometheus::PrometheusHandle;

use access::{audit_log, create_token, list_tokens, revoke_token};
use runs::{
    artifact, cancel, create_run, events, list_runs, outcomes, pause, playbooks, resume, retry,
    show_run, targets,
};
use telemetry::{healthz, readyz, render_metrics};

/// Largest request body accepted (an inline playbook is at most a few KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The daemon's routes; `/metrics` renders `metrics` (Prometheus text) when given.
pub fn router(engine: Engine, metrics: Option<PrometheusHandle>) -> Router {
    // Every /api route is authenticated by the layer, so a handler that forgets to ask for its
    // caller is still never open; handlers take `Caller` to check the role.
    let api = Router::new()
        .route("/api/v1/playbooks", get(playbooks))
        .route("/api/v1/runs", get(list_runs).post(create_run))
        .route("/api/v1/runs/{id}", get(show_run))
        .route("/api/v1/runs/{id}/targets", get(targets))
        .route("/api/v1/runs/{id}/outcomes", get(outcomes))
        .route(
            "/api/v1/runs/{id}/outcomes/{outcome}/artifact",
            get(artifact),
        )
        .route("/api/v1/runs/{id}/events", get(events))
        .route("/api/v1/runs/{id}/cancel", post(cancel))
        .route("/api/v1/runs/{id}/pause", post(pause))
        .route("/api/v1/runs/{id}/resume", post(resume))
        .route("/api/v1/runs/{id}/retry", post(retry))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{name}", axum::routing::delete(revoke_token))
        .route("/api/v1/audit", get(audit_log))
        .route("/metrics", get(render_metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            engine.clone(),
            auth::authenticate,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(api)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::Extension(metrics))
        .with_state(engine)
}
