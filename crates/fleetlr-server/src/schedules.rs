//! Schedules: list them with their next fire times (viewer), add, remove, pause and resume
//! them (operator, audited).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use fleetlr_engine::{Engine, ScheduleError, ScheduleStatus};
use fleetlr_store::{MissedPolicy, OverlapPolicy, Priority, Role, ScheduleDef};

use crate::access::audited;
use crate::api::{ErrorBody, FiringView, NewSchedule, ScheduleView};
use crate::auth::Caller;
use crate::error::{Answer, ApiError, internal};

#[utoipa::path(get, path = "/api/v1/schedules", tag = "schedules", responses((status = 200, description = "every schedule with its next fire time", body = Vec<ScheduleView>), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn list_schedules(
    State(engine): State<Engine>,
    caller: Caller,
) -> Answer<Json<Vec<ScheduleView>>> {
    caller.require(Role::Viewer)?;
    listed(&engine).await.map(Json)
}

/// Every schedule as the API lists it; the console shows the same.
pub(crate) async fn listed(engine: &Engine) -> Answer<Vec<ScheduleView>> {
    let listed = engine.schedules().await.map_err(schedule_error)?;
    Ok(listed.into_iter().map(view).collect())
}

#[utoipa::path(post, path = "/api/v1/schedules", tag = "schedules", request_body = NewSchedule, responses((status = 201, description = "the schedule, with its first fire time", body = ScheduleView), (status = 409, description = "the name is taken", body = ErrorBody), (status = 422, description = "invalid cron, time zone, playbook, parameters or targets", body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn add_schedule(
    State(engine): State<Engine>,
    caller: Caller,
    body: Result<Json<NewSchedule>, JsonRejection>,
) -> Answer<(StatusCode, Json<ScheduleView>)> {
    let mut subject = None;
    let outcome = async {
        caller.require(Role::Operator)?;
        let Json(body) =
            body.map_err(|r| ApiError::new(r.status(), "invalid_body", r.body_text()))?;
        subject = Some(body.name.clone());
        let def = schedule_def(body)?;
        let added = engine
            .add_schedule(&def, &caller.name)
            .await
            .map_err(schedule_error)?;
        Ok((StatusCode::CREATED, Json(view(added))))
    }
    .await;
    audited(
        &engine,
        &caller,
        "schedule.add",
        subject.as_deref(),
        outcome,
    )
    .await
}

#[utoipa::path(delete, path = "/api/v1/schedules/{name}", tag = "schedules", params(("name" = String, Path, description = "schedule name")), responses((status = 204, description = "removed; its runs stay"), (status = 404, body = ErrorBody), (status = 409, description = "defined in the configuration file", body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn remove_schedule(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(name): UrlPath<String>,
) -> Answer<StatusCode> {
    let outcome = async {
        caller.require(Role::Operator)?;
        engine
            .remove_schedule(&name)
            .await
            .map_err(schedule_error)?;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    audited(&engine, &caller, "schedule.remove", Some(&name), outcome).await
}

#[utoipa::path(post, path = "/api/v1/schedules/{name}/pause", tag = "schedules", params(("name" = String, Path, description = "schedule name")), responses((status = 200, description = "paused: no fire time fires", body = ScheduleView), (status = 404, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn pause_schedule(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(name): UrlPath<String>,
) -> Answer<Json<ScheduleView>> {
    set_paused(&engine, &caller, &name, true).await.map(Json)
}

#[utoipa::path(post, path = "/api/v1/schedules/{name}/resume", tag = "schedules", params(("name" = String, Path, description = "schedule name")), responses((status = 200, description = "resumed from the next fire time on (those passed while paused never fire)", body = ScheduleView), (status = 404, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn resume_schedule(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(name): UrlPath<String>,
) -> Answer<Json<ScheduleView>> {
    set_paused(&engine, &caller, &name, false).await.map(Json)
}

/// Pauses or resumes a schedule for a caller: the role check, the engine call and the audit
/// entry (`schedule.pause` or `schedule.resume`), shared by the API and the console.
pub(crate) async fn set_paused(
    engine: &Engine,
    caller: &Caller,
    name: &str,
    paused: bool,
) -> Answer<ScheduleView> {
    let outcome = async {
        caller.require(Role::Operator)?;
        let status = engine
            .set_schedule_paused(name, paused)
            .await
            .map_err(schedule_error)?;
        Ok(view(status))
    }
    .await;
    let action = if paused {
        "schedule.pause"
    } else {
        "schedule.resume"
    };
    audited(engine, caller, action, Some(name), outcome).await
}

/// The schedule a request describes; policies and priority named as the API documents them.
fn schedule_def(body: NewSchedule) -> Answer<ScheduleDef> {
    let unprocessable = |message: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_schedule",
            message,
        )
    };
    let priority = body
        .priority
        .as_deref()
        .map(|p| {
            Priority::parse(p).map_err(|_| {
                unprocessable(format!("priority `{p}` is not `response` or `collection`"))
            })
        })
        .transpose()?;
    let missed = match body.missed.as_deref() {
        None => MissedPolicy::RunOnce,
        Some(text) => MissedPolicy::parse(text)
            .map_err(|_| unprocessable(format!("missed `{text}` is not `run_once` or `skip`")))?,
    };
    let overlap = match body.overlap.as_deref() {
        None => OverlapPolicy::Skip,
        Some(text) => OverlapPolicy::parse(text)
            .map_err(|_| unprocessable(format!("overlap `{text}` is not `skip` or `queue`")))?,
    };
    Ok(ScheduleDef {
        name: body.name,
        cron: body.cron,
        timezone: body.timezone.unwrap_or_else(|| "UTC".into()),
        playbook: body.playbook,
        tenant: body.tenant,
        targets: serde_json::to_value(&body.targets).unwrap_or_default(),
        parameters: serde_json::to_value(&body.parameters).unwrap_or_default(),
        priority,
        missed,
        overlap,
    })
}

fn schedule_error(err: ScheduleError) -> ApiError {
    let (status, code) = match &err {
        ScheduleError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_schedule"),
        ScheduleError::NotFound(_) => (StatusCode::NOT_FOUND, "schedule_not_found"),
        ScheduleError::Exists(_) => (StatusCode::CONFLICT, "schedule_exists"),
        ScheduleError::FromConfig(_) => (StatusCode::CONFLICT, "schedule_from_config"),
        ScheduleError::Store(_) => return internal(&err),
    };
    ApiError::new(status, code, err.to_string())
}

fn view(status: ScheduleStatus) -> ScheduleView {
    let ScheduleStatus {
        schedule,
        next_fire_at,
        last_firing,
    } = status;
    let stamp = |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339();
    let def = schedule.def;
    let next_utc = next_fire_at.map(|at| at.with_timezone(&chrono::Utc));
    ScheduleView {
        name: def.name,
        source: schedule.source.as_str().to_owned(),
        cron: def.cron,
        timezone: def.timezone,
        playbook: def.playbook,
        tenant: def.tenant,
        targets: def.targets,
        parameters: def.parameters,
        priority: def.priority.map(|p| p.as_str().to_owned()),
        missed: def.missed.as_str().to_owned(),
        overlap: def.overlap.as_str().to_owned(),
        paused: schedule.paused,
        next_fire_at: next_utc.map(stamp),
        next_fire_local: next_fire_at.map(|at| at.to_rfc3339()),
        queued_fire_time: schedule.queued_slot.map(stamp),
        last_firing: last_firing.map(|f| FiringView {
            fire_time: stamp(f.slot_at),
            outcome: f.outcome.as_str().to_owned(),
            run_id: f.run_id,
            detail: f.detail,
        }),
        created_by: schedule.created_by,
        created_at: schedule.created_at,
        updated_at: schedule.updated_at,
    }
}
