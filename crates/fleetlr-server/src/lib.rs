//! The daemon's HTTP surface: the operator REST API (`/api/v1`, JSON), artifact downloads and
//! health (`/healthz`, `/readyz`). It translates HTTP to `fleetlr_engine::Engine` calls and
//! store reads, and engine errors to HTTP statuses with one JSON error shape.
//!
//! It never schedules, never calls the Defender API and never writes SQL itself; it never puts
//! internal error detail (paths, SQL) in an answer, only in the log.

pub mod api;
pub mod auth;

use std::path::{Component, Path};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fleetlr_engine::{
    ControlError, Engine, PlaybookRef, Priority, RunRequest, TargetSpec, Trigger,
};
use fleetlr_store::{Role, Run, StoreError, TargetState};
use metrics_exporter_prometheus::PrometheusHandle;

use auth::Caller;
use serde::Deserialize;

use api::{
    ArtifactView, AuditView, CreateRun, CreatedToken, ErrorBody, ErrorDetail, EventView, NewToken,
    OutcomeView, Progress, Retried, RunView, TargetView, TokenView,
};

/// Largest request body accepted (an inline playbook is at most a few KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The daemon's routes.
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

/// An answer that went wrong, as `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<ControlError> for ApiError {
    fn from(err: ControlError) -> Self {
        use ControlError as E;
        let (status, code) = match &err {
            E::UnknownRun(_) => (StatusCode::NOT_FOUND, "run_not_found"),
            E::UnknownPlaybook { .. } => (StatusCode::NOT_FOUND, "playbook_not_found"),
            E::InvalidState { .. } => (StatusCode::CONFLICT, "invalid_state"),
            E::UnknownTenant(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_tenant"),
            E::InvalidPlaybook { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_playbook"),
            E::InvalidParameters(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameters"),
            E::NoTargets => (StatusCode::UNPROCESSABLE_ENTITY, "no_targets"),
            E::NoDevicesMatched(_) => (StatusCode::UNPROCESSABLE_ENTITY, "no_devices_matched"),
            E::UnknownDevice(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_device"),
            E::Resolve(_) | E::Library(_) => (StatusCode::BAD_GATEWAY, "defender_api_failed"),
            E::Store(_) => return internal(&err),
        };
        Self::new(status, code, err.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { what, id } => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} `{id}` not found"),
            ),
            other => internal(&other),
        }
    }
}

fn internal(err: &dyn std::error::Error) -> ApiError {
    tracing::error!(error = %err, "request failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the daemon could not complete the request; its log has the detail",
    )
}

type Answer<T> = Result<T, ApiError>;

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(engine): State<Engine>) -> Response {
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

async fn playbooks(State(engine): State<Engine>, _caller: Caller) -> Answer<Json<Vec<String>>> {
    engine
        .playbooks()
        .names()
        .map(Json)
        .map_err(|err| internal(&err))
}

async fn create_run(
    State(engine): State<Engine>,
    caller: Caller,
    body: Result<Json<CreateRun>, JsonRejection>,
) -> Answer<Response> {
    audited(
        &engine,
        &caller,
        "run.create",
        None,
        create_run_as(&engine, &caller, body).await,
    )
    .await
}

async fn create_run_as(
    engine: &Engine,
    caller: &Caller,
    body: Result<Json<CreateRun>, JsonRejection>,
) -> Answer<Response> {
    caller.require(Role::Operator)?;
    let Json(body) = body.map_err(|rejection| {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "invalid_body"
        };
        ApiError::new(status, code, rejection.body_text())
    })?;
    let request = run_request(body, caller)?;
    let id = engine.create_run(request).await?;
    let view = run_view(engine, engine.store().run(&id).await?).await?;
    let mut response = (StatusCode::ACCEPTED, Json(view)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/runs/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn run_request(body: CreateRun, caller: &Caller) -> Answer<RunRequest> {
    let unprocessable = |message: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    };
    let playbook = match (body.playbook, body.playbook_yaml) {
        (Some(name), None) => PlaybookRef::Named(name),
        (None, Some(yaml)) => PlaybookRef::Inline {
            name: body.name.unwrap_or_else(|| "inline".into()),
            yaml,
        },
        _ => {
            return Err(unprocessable(
                "give exactly one of `playbook` (a name) and `playbook_yaml`".into(),
            ));
        }
    };
    let priority = match body.priority.as_deref() {
        None => None,
        Some("response") => Some(Priority::Response),
        Some("collection") => Some(Priority::Collection),
        Some(other) => {
            return Err(unprocessable(format!(
                "priority `{other}` is not `response` or `collection`"
            )));
        }
    };
    let expires_after = body
        .expires_after
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(unprocessable)?;
    let parameters = body
        .parameters
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            (name, text)
        })
        .collect();
    Ok(RunRequest {
        tenant: body.tenant,
        playbook,
        targets: TargetSpec {
            devices: body.targets.devices,
            tags: body.targets.tags,
            rbac_group_ids: body.targets.rbac_group_ids,
            filter: body.targets.filter,
        },
        parameters,
        priority,
        expires_after,
        max_failure_percent: body.max_failure_percent,
        canary: body.canary,
        // The token is who asked; a caller acting for someone (a SOAR, a bot) may name them.
        started_by: match body.started_by {
            Some(on_behalf) if on_behalf != caller.name => {
                format!("{} for {on_behalf}", caller.name)
            }
            _ => caller.name.clone(),
        },
        trigger: Trigger::Api,
        alert: None,
    })
}

/// `90s`, `30m`, `1h30m`, `3d`, as playbooks write them.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    fleetlr_playbook::parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{text}` is not a duration; write it like 90s, 30m, 1h30m or 3d"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default = "default_limit")]
    limit: u32,
    state: Option<String>,
}

fn default_limit() -> u32 {
    50
}

async fn list_runs(
    State(engine): State<Engine>,
    _caller: Caller,
    Query(query): Query<ListQuery>,
) -> Answer<Json<Vec<RunView>>> {
    let summaries = engine.store().list_runs(query.limit.clamp(1, 1000)).await?;
    let views = summaries
        .into_iter()
        .filter(|s| {
            query
                .state
                .as_deref()
                .is_none_or(|state| s.run.state.as_str() == state)
        })
        .map(|s| view_with_counts(s.run, &s.targets_by_state))
        .collect();
    Ok(Json(views))
}

async fn show_run(
    State(engine): State<Engine>,
    _caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Answer<Json<RunView>> {
    let run = find_run(&engine, &id).await?;
    Ok(Json(run_view(&engine, run).await?))
}

async fn find_run(engine: &Engine, id: &str) -> Answer<Run> {
    engine.store().run(id).await.map_err(|err| match err {
        StoreError::NotFound { .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            "run_not_found",
            format!("run `{id}` not found"),
        ),
        other => ApiError::from(other),
    })
}

async fn run_view(engine: &Engine, run: Run) -> Answer<RunView> {
    let counts = engine.store().target_counts(&run.id).await?;
    Ok(view_with_counts(run, &counts))
}

fn view_with_counts(run: Run, counts: &[(TargetState, u64)]) -> RunView {
    let total = counts.iter().map(|(_, n)| n).sum();
    let ended = counts
        .iter()
        .filter(|(s, _)| s.is_final())
        .map(|(_, n)| n)
        .sum();
    RunView {
        targets: counts
            .iter()
            .map(|(s, n)| (s.as_str().to_owned(), *n))
            .collect(),
        progress: Progress { ended, total },
        id: run.id,
        tenant: run.tenant,
        playbook: run.playbook_name,
        playbook_sha256: run.playbook_sha256,
        started_by: run.started_by,
        trigger: run.trigger_kind.as_str().to_owned(),
        priority: run.priority.as_str().to_owned(),
        state: run.state.as_str().to_owned(),
        pause_reason: run.pause_reason,
        parameters: run.parameters,
        target_spec: run.target_spec,
        max_failure_percent: run.max_failure_percent,
        canary: run.canary,
        expires_at: run.expires_at,
        created_at: run.created_at,
        updated_at: run.updated_at,
        finished_at: run.finished_at,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetQuery {
    state: Option<String>,
}

async fn targets(
    State(engine): State<Engine>,
    _caller: Caller,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<TargetQuery>,
) -> Answer<Json<Vec<TargetView>>> {
    find_run(&engine, &id).await?;
    let targets = engine.store().targets(&id).await?;
    Ok(Json(
        targets
            .into_iter()
            .filter(|t| query.state.as_deref().is_none_or(|s| t.state.as_str() == s))
            .map(|t| TargetView {
                id: t.id,
                device_id: t.device_id,
                device_name: t.device_name,
                state: t.state.as_str().to_owned(),
                call_index: t.call_index,
                attempts: t.attempts,
                next_attempt_at: t.next_attempt_at,
                last_error: t.last_error,
                offline_count: t.offline_count,
                updated_at: t.updated_at,
                finished_at: t.finished_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeQuery {
    device: Option<String>,
}

async fn outcomes(
    State(engine): State<Engine>,
    _caller: Caller,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<OutcomeQuery>,
) -> Answer<Json<Vec<OutcomeView>>> {
    find_run(&engine, &id).await?;
    let outcomes = engine.store().outcomes(&id).await?;
    Ok(Json(
        outcomes
            .into_iter()
            .filter(|o| query.device.as_deref().is_none_or(|d| o.device_id == d))
            .map(|o| {
                let artifact = o.outcome.artifact_path.clone().map(|path| ArtifactView {
                    url: format!("/api/v1/runs/{id}/outcomes/{}/artifact", o.id),
                    path,
                    sha256: o.outcome.artifact_sha256.clone(),
                    bytes: o.outcome.artifact_bytes,
                });
                OutcomeView {
                    id: o.id,
                    target_id: o.target_id,
                    device_id: o.device_id,
                    machine_action_id: o.machine_action_id,
                    attempt: o.attempt,
                    call_index: o.outcome.call_index,
                    command_index: o.outcome.command_index,
                    step_id: o.outcome.step_id,
                    command_type: o.outcome.command_type.as_str().to_owned(),
                    outcome: o.outcome.outcome.as_str().to_owned(),
                    started_at: o.outcome.started_at,
                    ended_at: o.outcome.ended_at,
                    errors: o.outcome.errors,
                    exit_code: o.outcome.exit_code,
                    output_preview: o.outcome.output_preview,
                    artifact,
                    recorded_at: o.recorded_at,
                }
            })
            .collect(),
    ))
}

async fn events(
    State(engine): State<Engine>,
    _caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Answer<Json<Vec<EventView>>> {
    find_run(&engine, &id).await?;
    let events = engine.store().events(&id).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|e| EventView {
                id: e.id,
                target_id: e.target_id,
                at: e.at,
                kind: e.kind,
                detail: e.detail,
            })
            .collect(),
    ))
}

/// Streams a stored result; the path comes from the store but is checked again so nothing
/// outside the artifact directory can ever be served.
async fn artifact(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath((id, outcome_id)): UrlPath<(String, i64)>,
) -> Answer<Response> {
    // Collected files can hold anything from a device: operators only.
    caller.require(Role::Operator)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "artifact_not_found",
            format!("outcome {outcome_id} of run `{id}` has no artifact"),
        )
    };
    let outcome = engine
        .store()
        .outcome(&id, outcome_id)
        .await
        .map_err(|_| not_found())?;
    let relative = outcome
        .outcome
        .artifact_path
        .clone()
        .ok_or_else(not_found)?;
    if !is_contained(&relative) {
        tracing::error!(run = %id, outcome = outcome_id, "refusing an artifact path that leaves the artifact directory");
        return Err(not_found());
    }
    let file = tokio::fs::File::open(engine.artifacts_dir().join(&relative))
        .await
        .map_err(|_| not_found())?;
    let name = Path::new(&relative)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("artifact")
        .replace('"', "_");
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(sha) = outcome.outcome.artifact_sha256.as_deref()
        && let Ok(value) = HeaderValue::from_str(sha)
    {
        headers.insert("x-content-sha256", value);
    }
    Ok(response)
}

/// A relative path made only of normal components.
fn is_contained(path: &str) -> bool {
    let path = Path::new(path);
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Prometheus text: the engine's counters and gauges, plus the targets of open runs per state
/// (read from the store at scrape time, so they are right after a restart too).
async fn render_metrics(
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

const TARGET_STATES: [TargetState; 9] = [
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

/// A run control, checked, done and audited.
async fn control(engine: &Engine, caller: &Caller, action: &'static str, id: &str) -> Answer<u64> {
    let outcome = async {
        caller.require(Role::Operator)?;
        let who = caller.name.as_str();
        Ok(match action {
            "run.cancel" => engine.cancel_run(id, who).await.map(|()| 0)?,
            "run.pause" => engine.pause_run(id, who).await.map(|()| 0)?,
            "run.resume" => engine.resume_run(id, who).await.map(|()| 0)?,
            _ => engine.retry_run(id, who).await?,
        })
    }
    .await;
    audited(engine, caller, action, Some(id), outcome).await
}

/// Writes the audit entry of a state-changing request, whatever its outcome, and passes the
/// outcome on. A request whose audit entry cannot be written fails.
async fn audited<T>(
    engine: &Engine,
    caller: &Caller,
    action: &str,
    subject: Option<&str>,
    outcome: Answer<T>,
) -> Answer<T> {
    let (result, detail) = match &outcome {
        Ok(_) => ("ok", serde_json::json!({})),
        Err(err) => (
            "refused",
            serde_json::json!({"status": err.status.as_u16(), "code": err.code}),
        ),
    };
    engine
        .store()
        .audit(
            &caller.name,
            caller.role.as_str(),
            action,
            subject,
            result,
            &detail,
        )
        .await?;
    outcome
}

async fn cancel(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Answer<Json<RunView>> {
    control(&engine, &caller, "run.cancel", &id).await?;
    show_run(State(engine), caller, UrlPath(id)).await
}

async fn pause(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Answer<Json<RunView>> {
    control(&engine, &caller, "run.pause", &id).await?;
    show_run(State(engine), caller, UrlPath(id)).await
}

async fn resume(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Answer<Json<RunView>> {
    control(&engine, &caller, "run.resume", &id).await?;
    show_run(State(engine), caller, UrlPath(id)).await
}

async fn retry(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Answer<Json<Retried>> {
    let requeued = control(&engine, &caller, "run.retry", &id).await?;
    let Json(run) = show_run(State(engine), caller, UrlPath(id)).await?;
    Ok(Json(Retried { requeued, run }))
}

async fn list_tokens(State(engine): State<Engine>, caller: Caller) -> Answer<Json<Vec<TokenView>>> {
    caller.require(Role::Admin)?;
    let tokens = engine.store().tokens().await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

async fn create_token(
    State(engine): State<Engine>,
    caller: Caller,
    body: Result<Json<NewToken>, JsonRejection>,
) -> Answer<(StatusCode, Json<CreatedToken>)> {
    let outcome = async {
        caller.require(Role::Admin)?;
        let Json(body) =
            body.map_err(|r| ApiError::new(r.status(), "invalid_body", r.body_text()))?;
        let role = Role::parse(&body.role).map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_role",
                format!("role `{}` is not viewer, operator or admin", body.role),
            )
        })?;
        let (token, hash) = auth::new_token();
        let created = engine
            .store()
            .create_token(&body.name, role, &hash, &caller.name)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(message) => {
                    ApiError::new(StatusCode::CONFLICT, "token_exists", message)
                }
                other => ApiError::from(other),
            })?;
        Ok((
            StatusCode::CREATED,
            Json(CreatedToken {
                token,
                info: created.into(),
            }),
        ))
    }
    .await;
    audited(&engine, &caller, "token.create", None, outcome).await
}

async fn revoke_token(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(name): UrlPath<String>,
) -> Answer<StatusCode> {
    let outcome = async {
        caller.require(Role::Admin)?;
        engine.store().revoke_token(&name).await?;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    audited(&engine, &caller, "token.revoke", Some(&name), outcome).await
}

async fn audit_log(
    State(engine): State<Engine>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Answer<Json<Vec<AuditView>>> {
    caller.require(Role::Admin)?;
    let entries = engine
        .store()
        .audit_log(query.limit.clamp(1, 10_000))
        .await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AuditView {
                id: e.id,
                at: e.at,
                actor: e.actor,
                role: e.role,
                action: e.action,
                subject: e.subject,
                outcome: e.outcome,
                detail: e.detail,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_artifact_paths_are_served() {
        assert!(is_contained("run/dev/c0-1-triage.json"));
        for bad in ["", "/etc/passwd", "../x", "run/../../x", "./run"] {
            assert!(!is_contained(bad), "{bad}");
        }
    }

    #[test]
    fn durations_take_a_number_and_a_unit() {
        assert_eq!(
            parse_duration("3d"),
            Ok(std::time::Duration::from_secs(3 * 86_400))
        );
        assert_eq!(
            parse_duration("90s"),
            Ok(std::time::Duration::from_secs(90))
        );
        for bad in ["", "3", "d", "0h", "1.5h", "-1d", "3w"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
