//! Runs: start them, read them (targets, outcomes, events, artifacts) and control them.

use std::path::{Component, Path};

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fleetlr_engine::{Engine, PlaybookRef, Priority, RunRequest, TargetSpec, Trigger};
use fleetlr_store::{Role, Run, RunState, StoreError, TargetState};
use serde::Deserialize;

use crate::access::audited;
use crate::api::{
    ArtifactView, CreateRun, ErrorBody, EventView, OutcomeView, Progress, Retried, RunView,
    TargetView,
};
use crate::auth::Caller;
use crate::error::{Answer, ApiError, internal};
use crate::paging::{Asked, Paged};

#[utoipa::path(get, path = "/api/v1/playbooks", tag = "runs", responses((status = 200, description = "names of the daemon's playbooks", body = Vec<String>), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn playbooks(
    State(engine): State<Engine>,
    _caller: Caller,
) -> Answer<Json<Vec<String>>> {
    engine
        .playbooks()
        .names()
        .map(Json)
        .map_err(|err| internal(&err))
}

#[utoipa::path(post, path = "/api/v1/runs", tag = "runs", request_body = CreateRun, responses((status = 202, description = "the run is stored and will be driven to the end", body = RunView), (status = 404, description = "no such playbook", body = ErrorBody), (status = 422, description = "invalid playbook, parameters or targets", body = ErrorBody), (status = 502, description = "the Defender API failed", body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn create_run(
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

pub(crate) async fn create_run_as(
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

pub(crate) fn run_request(body: CreateRun, caller: &Caller) -> Answer<RunRequest> {
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
        .map(|(name, value)| (name, fleetlr_engine::parameter_text(value)))
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
        ..RunRequest::default()
    })
}

/// `90s`, `30m`, `1h30m`, `3d`, as playbooks write them.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    fleetlr_playbook::parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{text}` is not a duration; write it like 90s, 30m, 1h30m or 3d"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    #[serde(default = "default_limit")]
    pub(crate) limit: u32,
    state: Option<String>,
}

pub(crate) fn default_limit() -> u32 {
    50
}

/// Most runs one listing returns.
const MAX_LIST: u32 = 1000;

#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(("limit" = Option<u32>, Query, description = "at most this many, newest first (default 50)"), ("state" = Option<String>, Query, description = "only runs in this state")), responses((status = 200, body = Vec<RunView>), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn list_runs(
    State(engine): State<Engine>,
    _caller: Caller,
    Query(query): Query<ListQuery>,
) -> Answer<Json<Vec<RunView>>> {
    let limit = query.limit.clamp(1, MAX_LIST);
    let state = query
        .state
        .as_deref()
        .map(|state| {
            RunState::parse(state).map_err(|_| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_query",
                    format!(
                        "run state `{state}` is not one of queued, running, paused, cancelling, finished, cancelled"
                    ),
                )
            })
        })
        .transpose()?;
    // The store lists by age only; with a state filter the newest MAX_LIST runs are searched,
    // so an old run still in that state is found among newer runs in other states.
    let searched = if state.is_some() { MAX_LIST } else { limit };
    let summaries = engine.store().list_runs(searched).await?;
    let views = summaries
        .into_iter()
        .filter(|s| state.is_none_or(|state| s.run.state == state))
        .take(limit as usize)
        .map(|s| view_with_counts(s.run, &s.targets_by_state))
        .collect();
    Ok(Json(views))
}

#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = String, Path, description = "run id")), responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn show_run(
    State(engine): State<Engine>,
    _caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Answer<Json<RunView>> {
    let run = find_run(&engine, &id).await?;
    Ok(Json(run_view(&engine, run).await?))
}

pub(crate) async fn find_run(engine: &Engine, id: &str) -> Answer<Run> {
    engine.store().run(id).await.map_err(|err| match err {
        StoreError::NotFound { .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            "run_not_found",
            format!("run `{id}` not found"),
        ),
        other => ApiError::from(other),
    })
}

pub(crate) async fn run_view(engine: &Engine, run: Run) -> Answer<RunView> {
    let counts = engine.store().target_counts(&run.id).await?;
    Ok(view_with_counts(run, &counts))
}

pub(crate) fn view_with_counts(run: Run, counts: &[(TargetState, u64)]) -> RunView {
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
        trigger_ref: run.trigger_ref,
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

/// How the paged listings below describe their paging, and the header that links to the
/// next page.
const PAGING: &str = "at most `limit` rows (default 1000, at most 10000) after the row whose id is `after`; a `Link: <…>; rel=\"next\"` header gives the next page's URL while more follow";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetQuery {
    state: Option<String>,
    device: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/targets", tag = "runs", description = PAGING, params(("id" = String, Path, description = "run id"), ("state" = Option<String>, Query, description = "only targets in this state"), ("device" = Option<String>, Query, description = "only the target of this device, by id or by name"), ("after" = Option<i64>, Query, description = "the id of the last target of the page before"), ("limit" = Option<u32>, Query, description = "at most this many targets, in id order (default 1000, at most 10000)")), responses((status = 200, body = Vec<TargetView>, headers(("link" = String, description = "the next page, while more follow"))), (status = 404, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn targets(
    State(engine): State<Engine>,
    _caller: Caller,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<TargetQuery>,
) -> Answer<Paged<TargetView>> {
    let state = query
        .state
        .as_deref()
        .map(|state| {
            TargetState::parse(state).map_err(|_| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_query",
                    format!(
                        "target state `{state}` is not one of pending, waiting_offline, submitting, in_flight, succeeded, failed, timed_out, expired, cancelled"
                    ),
                )
            })
        })
        .transpose()?;
    let run = find_run(&engine, &id).await?;
    let asked = Asked::new(query.after, query.limit);
    let page = asked.read();
    let device = query.device.as_deref();
    let targets = match device {
        // A device is one target (or a few sharing a name): read them, then page as asked.
        Some(device) => engine
            .store()
            .targets_of_device(&run.id, device)
            .await?
            .into_iter()
            .filter(|t| t.id > page.after_id() && state.is_none_or(|s| t.state == s))
            .take(page.limit as usize)
            .collect(),
        None => engine.store().targets_page(&run.id, state, page).await?,
    };
    let path = format!("/api/v1/runs/{}/targets", run.id);
    let filters = [
        ("state", state.map(TargetState::as_str)),
        ("device", device),
    ];
    Ok(asked
        .answer(targets, |t| t.id, &path, &filters)
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
        }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutcomeQuery {
    device: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/outcomes", tag = "runs", description = PAGING, params(("id" = String, Path, description = "run id"), ("device" = Option<String>, Query, description = "only this device id"), ("after" = Option<i64>, Query, description = "the id of the last outcome of the page before"), ("limit" = Option<u32>, Query, description = "at most this many outcomes, by target and then oldest first (default 1000, at most 10000)")), responses((status = 200, body = Vec<OutcomeView>, headers(("link" = String, description = "the next page, while more follow"))), (status = 404, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn outcomes(
    State(engine): State<Engine>,
    _caller: Caller,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<OutcomeQuery>,
) -> Answer<Paged<OutcomeView>> {
    let run = find_run(&engine, &id).await?;
    let asked = Asked::new(query.after, query.limit);
    let device = query.device.as_deref();
    let outcomes = engine
        .store()
        .outcomes_page(&run.id, device, asked.read())
        .await?;
    let path = format!("/api/v1/runs/{}/outcomes", run.id);
    Ok(asked
        .answer(outcomes, |o| o.id, &path, &[("device", device)])
        .map(|o| outcome_view(&run.id, o)))
}

fn outcome_view(run_id: &str, o: fleetlr_store::CommandOutcome) -> OutcomeView {
    let artifact = o.outcome.artifact_path.clone().map(|path| ArtifactView {
        url: format!("/api/v1/runs/{run_id}/outcomes/{}/artifact", o.id),
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/events", tag = "runs", description = PAGING, params(("id" = String, Path, description = "run id"), ("after" = Option<i64>, Query, description = "the id of the last event of the page before"), ("limit" = Option<u32>, Query, description = "at most this many events, oldest first (default 1000, at most 10000)")), responses((status = 200, body = Vec<EventView>, headers(("link" = String, description = "the next page, while more follow"))), (status = 404, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn events(
    State(engine): State<Engine>,
    _caller: Caller,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<EventQuery>,
) -> Answer<Paged<EventView>> {
    let run = find_run(&engine, &id).await?;
    let asked = Asked::new(query.after, query.limit);
    let events = engine.store().events_page(&run.id, asked.read()).await?;
    let path = format!("/api/v1/runs/{}/events", run.id);
    Ok(asked
        .answer(events, |e| e.id, &path, &[])
        .map(|e| EventView {
            id: e.id,
            target_id: e.target_id,
            at: e.at,
            kind: e.kind,
            detail: e.detail,
        }))
}

/// Streams a stored result; the path comes from the store but is checked again so nothing
/// outside the artifact directory can ever be served.
#[utoipa::path(get, path = "/api/v1/runs/{id}/outcomes/{outcome}/artifact", tag = "runs", params(("id" = String, Path, description = "run id"), ("outcome" = i64, Path, description = "outcome id")), responses((status = 200, description = "the collected file; its SHA-256 in x-content-sha256", content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn artifact(
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
    if let Some(sha) = outcome.outcome.artifact_sha256.as_deref() {
        if let Ok(value) = HeaderValue::from_str(sha) {
            headers.insert("x-content-sha256", value);
        }
        // RFC 3230 `Digest`, for generic HTTP tools that check downloads by it.
        if let Some(value) = digest_header(sha) {
            headers.insert("digest", value);
        }
    }
    Ok(response)
}

/// `sha-256=<base64>` from the recorded hex SHA-256; none if the record is not 64 hex digits.
fn digest_header(sha256_hex: &str) -> Option<HeaderValue> {
    use base64::Engine as _;
    if sha256_hex.len() != 64 || !sha256_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = (0..32)
        .map(|i| u8::from_str_radix(sha256_hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    HeaderValue::from_str(&format!("sha-256={encoded}")).ok()
}

/// A relative path made only of normal components.
pub(crate) fn is_contained(path: &str) -> bool {
    let path = Path::new(path);
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// A run control, checked, done and audited.
pub(crate) async fn control(
    engine: &Engine,
    caller: &Caller,
    action: &'static str,
    id: &str,
) -> Answer<u64> {
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

#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs", params(("id" = String, Path, description = "run id")), responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 409, description = "the run cannot be cancelled in its state", body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn cancel(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Answer<Json<RunView>> {
    control(&engine, &caller, "run.cancel", &id).await?;
    show_run(State(engine), caller, UrlPath(id)).await
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/pause", tag = "runs", params(("id" = String, Path, description = "run id")), responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn pause(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Answer<Json<RunView>> {
    control(&engine, &caller, "run.pause", &id).await?;
    show_run(State(engine), caller, UrlPath(id)).await
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/resume", tag = "runs", params(("id" = String, Path, description = "run id")), responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn resume(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Answer<Json<RunView>> {
    control(&engine, &caller, "run.resume", &id).await?;
    show_run(State(engine), caller, UrlPath(id)).await
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/retry", tag = "runs", params(("id" = String, Path, description = "run id")), responses((status = 200, body = Retried), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn retry(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Answer<Json<Retried>> {
    let requeued = control(&engine, &caller, "run.retry", &id).await?;
    let Json(run) = show_run(State(engine), caller, UrlPath(id)).await?;
    Ok(Json(Retried { requeued, run }))
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
    fn parameter_numbers_and_booleans_become_text_and_the_token_is_who_started_it() {
        let caller = Caller {
            name: "soar".into(),
            role: Role::Operator,
        };
        let body: CreateRun = serde_json::from_value(serde_json::json!({
            "playbook": "collect-file",
            "targets": {"devices": ["d"]},
            "parameters": {"n": 5, "on": true, "path": "C:\\x"},
            "started_by": "alice",
        }))
        .expect("a valid body");
        let request = run_request(body, &caller).expect("a request");
        assert_eq!(request.parameters["n"], "5");
        assert_eq!(request.parameters["on"], "true");
        assert_eq!(request.parameters["path"], "C:\\x");
        assert_eq!(request.started_by, "soar for alice");
        assert!(matches!(request.playbook, PlaybookRef::Named(ref name) if name == "collect-file"));
        assert!(
            serde_json::from_value::<CreateRun>(serde_json::json!({"playbook": "p", "colour": 1}))
                .is_err()
        );
    }

    #[test]
    fn the_digest_header_is_the_recorded_hash_in_base64() {
        // SHA-256 of the empty string, whose base64 form is well known.
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            digest_header(empty).expect("a header"),
            "sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        for bad in ["", "e3b0", &empty.replace('e', "g")] {
            assert!(digest_header(bad).is_none(), "{bad}");
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
