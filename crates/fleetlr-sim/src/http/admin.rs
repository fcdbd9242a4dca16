//! `/_sim/…`: introspection for tests and benchmarks, and fault and device control.
//! Unauthenticated: the simulator is a local test tool.

use super::AppState;
use crate::actions::ActionKind;
use crate::config::parse_duration;
use crate::scenario::FaultSpec;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::TimeDelta;
use serde_json::{Value, json};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/devices", get(devices))
        .route("/_sim/faults", post(add_fault).delete(clear_faults))
        .route("/_sim/devices/{id}/offline", post(device_offline))
        .route("/_sim/devices/{id}/online", post(device_online))
        .route("/_sim/tokens", axum::routing::delete(revoke_tokens))
}

/// Everything a test needs to judge a run: calls and statuses per endpoint, limits enforced,
/// sessions, faults, and (unless `?devices=false`) each device's actions with their commands.
async fn stats(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let world = state.world();
    let mut body = json!({
        "now": crate::clock::format_7(world.now()),
        "sessions_in_use": world.sessions_in_use(),
        "stats": world.stats,
        "actions_total": world.actions.len(),
    });
    if query.get("devices").map(String::as_str) != Some("false") {
        let mut per_device: Vec<Vec<Value>> = vec![Vec::new(); world.devices.len()];
        for action in world
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::LiveResponse)
        {
            let commands: Vec<Value> = action
                .commands
                .iter()
                .map(|c| {
                    json!({
                        "type": c.kind.type_name(),
                        "params": c.kind.params().into_iter().collect::<HashMap<_, _>>(),
                        "status": c.status,
                        "start": c.start.map(crate::clock::format_7),
                        "end": c.end.map(crate::clock::format_7),
                    })
                })
                .collect();
            per_device[action.device].push(json!({
                "id": action.id, "status": action.status, "comment": action.comment,
                "created": crate::clock::format_7(action.created),
                "updated": crate::clock::format_7(action.updated),
                "commands": commands,
            }));
        }
        let devices: Vec<Value> = world
            .devices
            .iter()
            .zip(per_device)
            .filter(|(_, actions)| !actions.is_empty())
            .map(|(d, actions)| json!({"id": d.id, "name": d.name, "actions": actions}))
            .collect();
        body["devices"] = Value::Array(devices);
    }
    axum::Json(body).into_response()
}

/// Every device with its offline windows (simulated time), so a benchmark can tell when each
/// device could first have been served.
async fn devices(State(state): State<AppState>) -> Response {
    let world = state.world();
    let devices: Vec<Value> = world
        .devices
        .iter()
        .map(|d| {
            let offline: Vec<Value> = d
                .offline
                .iter()
                .map(|w| json!({"from": crate::clock::format_7(w.from), "until": w.until.map(crate::clock::format_7)}))
                .collect();
            json!({"id": d.id, "name": d.name, "tags": d.tags, "offline": offline})
        })
        .collect();
    axum::Json(json!({"now": crate::clock::format_7(world.now()), "devices": devices}))
        .into_response()
}

async fn add_fault(
    State(state): State<AppState>,
    axum::Json(spec): axum::Json<FaultSpec>,
) -> Response {
    state.world().add_fault(spec);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(state): State<AppState>) -> Response {
    state.world().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OfflineBody {
    /// How long to stay offline (simulated); absent means until `/online` is called.
    #[serde(rename = "for")]
    duration: Option<String>,
}

async fn device_offline(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Option<axum::Json<OfflineBody>>,
) -> Response {
    let body = body.map(|b| b.0).unwrap_or_default();
    let until = match body.duration.as_deref().map(parse_duration).transpose() {
        Ok(duration) => duration,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    let mut world = state.world();
    let now = world.now();
    let Some(index) = world.device_index(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let until = until.map(|d| now + TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX));
    world.devices[index].go_offline(now, until);
    StatusCode::NO_CONTENT.into_response()
}

/// Revokes every issued token, so the next API call gets a 401 as with an expired token.
async fn revoke_tokens(State(state): State<AppState>) -> Response {
    state.world().tokens.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn device_online(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let mut world = state.world();
    let now = world.now();
    let Some(index) = world.device_index(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    world.devices[index].come_online(now);
    StatusCode::NO_CONTENT.into_response()
}
