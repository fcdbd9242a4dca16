//! The daemon's HTTP surface: the operator REST API (`/api/v1`, JSON), artifact downloads,
//! the web console (`/ui`, server-rendered HTML), alert webhooks (`/hooks/{name}`) and health
//! (`/healthz`, `/readyz`). It translates HTTP to `fleetlr_engine::Engine` calls and store
//! reads, and engine errors to HTTP statuses with one JSON error shape.
//!
//! It never schedules, never calls the Defender API and never writes SQL itself; it never puts
//! internal error detail (paths, SQL) in an answer, only in the log.

mod access;
pub mod api;
pub mod auth;
mod error;
pub mod hooks;
mod openapi;
mod paging;
mod runs;
mod schedules;
mod telemetry;
mod web;

pub use error::{Answer, ApiError};

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use fleetlr_engine::Engine;
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use access::{
    __path_audit_log, __path_create_token, __path_list_tokens, __path_revoke_token, audit_log,
    create_token, list_tokens, revoke_token,
};
use hooks::{
    __path_list_alerts, __path_receive, __path_test_hook, list_alerts, receive, test_hook,
};
use runs::{
    __path_artifact, __path_cancel, __path_create_run, __path_events, __path_list_runs,
    __path_outcomes, __path_pause, __path_playbooks, __path_resume, __path_retry, __path_show_run,
    __path_targets, artifact, cancel, create_run, events, list_runs, outcomes, pause, playbooks,
    resume, retry, show_run, targets,
};
use schedules::{
    __path_add_schedule, __path_list_schedules, __path_pause_schedule, __path_remove_schedule,
    __path_resume_schedule, add_schedule, list_schedules, pause_schedule, remove_schedule,
    resume_schedule,
};
use telemetry::{
    __path_healthz, __path_readyz, __path_render_metrics, healthz, readyz, render_metrics,
};

/// Largest request body accepted (an inline playbook is at most a few KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the daemon's routes need besides the engine.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// Renders `/metrics` (Prometheus text) when given.
    pub metrics: Option<PrometheusHandle>,
    /// The alert webhooks and their rules.
    pub hooks: Arc<hooks::HookSetup>,
}

/// The daemon's routes.
pub fn router(engine: Engine, options: ServerOptions) -> Router {
    let ServerOptions { metrics, hooks } = options;
    let (api, doc) = routes(engine.clone());
    let doc = Arc::new(doc);
    // The document is served by the API it describes, behind the same authentication.
    let api = api.route(
        "/api/v1/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        })
        .route_layer(axum::middleware::from_fn_with_state(
            engine.clone(),
            auth::authenticate,
        )),
    );
    api.fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::Extension(metrics))
        .layer(axum::Extension(hooks))
        // The console answers in HTML, so it joins after the API's JSON error layer.
        .merge(web::routes())
        .with_state(engine)
}

/// The routes and their OpenAPI document, both from the same annotated handlers, so the
/// document cannot describe a route that does not exist or miss one that does.
fn routes(engine: Engine) -> (Router<Engine>, utoipa::openapi::OpenApi) {
    // Every /api route is authenticated by the layer, so a handler that forgets to ask for its
    // caller is still never open; handlers take `Caller` to check the role.
    let (authenticated, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(playbooks))
        .routes(routes!(list_runs, create_run))
        .routes(routes!(show_run))
        .routes(routes!(targets))
        .routes(routes!(outcomes))
        .routes(routes!(artifact))
        .routes(routes!(events))
        .routes(routes!(cancel))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(retry))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(audit_log))
        .routes(routes!(test_hook))
        .routes(routes!(list_alerts))
        .routes(routes!(list_schedules, add_schedule))
        .routes(routes!(remove_schedule))
        .routes(routes!(pause_schedule))
        .routes(routes!(resume_schedule))
        .routes(routes!(render_metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            engine,
            auth::authenticate,
        ))
        .split_for_parts();
    let (open, health) = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        // Hooks authenticate with their own credentials, never with API tokens.
        .routes(routes!(receive))
        .split_for_parts();
    doc.merge(health);
    openapi::Refusals.modify(&mut doc);
    (authenticated.merge(open), doc)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "fleetlr",
        description = "Runs Microsoft Defender for Endpoint Live Response playbooks across fleets. Every route but /healthz and /readyz needs `Authorization: Bearer <token>`; errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    security(("bearer" = [])),
    modifiers(&BearerScheme),
    tags(
        (name = "runs", description = "start, read and control runs"),
        (name = "schedules", description = "cron schedules and their next fire times"),
        (name = "access", description = "tokens and the audit log (admin)"),
        (name = "hooks", description = "alert webhooks, their dry run and delivery log"),
        (name = "health", description = "health and metrics")
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
