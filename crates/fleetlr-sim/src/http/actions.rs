//! `/api/machineactions…`: polling, listing, result links and cancellation.

use super::machines::with_context;
use super::odata_list::{Collection, respond};
use super::{AppState, Caller, api_error, invalid_body, origin};
use crate::actions::{ActionStatus, CommandKind, CommandStatus};
use crate::odata::Filter;
use axum::Extension;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use serde_json::{Value, json};

/// Properties `GET /api/machineactions` filters on (reference §2.2); `requestorComment` is not one.
const FILTERABLE: &[&str] = &[
    "id",
    "status",
    "machineId",
    "type",
    "requestor",
    "creationDateTimeUtc",
];
const SORTABLE: &[&str] = &[
    "id",
    "status",
    "machineId",
    "type",
    "requestor",
    "creationDateTimeUtc",
    "lastUpdateDateTimeUtc",
];

/// Result links expire after 30 minutes of simulated time.
const LINK_LIFETIME: TimeDelta = TimeDelta::minutes(30);

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let world = state.world();
    // Polling by `id in (...)` is the hot path: look the ids up rather than render every action.
    // `respond` still applies the whole filter to what is rendered.
    let pinned = query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("$filter"))
        .and_then(|(_, filter)| Filter::parse(filter, FILTERABLE).ok())
        .and_then(|filter| filter.candidates(&["id"]));
    let render = |a: &crate::actions::Action| a.to_json(&world.devices[a.device]);
    let items = match pinned {
        Some(ids) => {
            // Same order as a full scan: creation order.
            let mut indices: Vec<usize> =
                ids.iter().filter_map(|id| world.action_index(id)).collect();
            indices.sort_unstable();
            indices.dedup();
            indices
                .into_iter()
                .map(|i| render(&world.actions[i]))
                .collect()
        }
        None => world.actions.iter().map(render).collect(),
    };
    let collection = Collection {
        context: "#MachineActions",
        filterable: FILTERABLE,
        sortable: SORTABLE,
        page_size: world.args.page_size,
    };
    respond(items, &query, &collection, &headers, &uri)
}

pub async fn get_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let world = state.world();
    let Some(index) = world.action_index(&id) else {
        return action_not_found(&id);
    };
    let action = &world.actions[index];
    let mut body = action.to_json(&world.devices[action.device]);
    with_context(&mut body, &headers, "#MachineActions/$entity");
    axum::Json(body).into_response()
}

fn action_not_found(id: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!("Machine action {id} was not found"),
    )
}

/// `GET …/GetLiveResponseResultDownloadLink(index=N)`.
pub async fn get_operation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, operation)): Path<(String, String)>,
) -> Response {
    let Some(index) = operation
        .strip_prefix("GetLiveResponseResultDownloadLink(index=")
        .and_then(|rest| rest.strip_suffix(')'))
    else {
        return api_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Operation {operation} is not supported"),
        );
    };
    let Ok(index) = index.parse::<usize>() else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!("Index {index} is not a number"),
        );
    };
    let world = state.world();
    let Some(action_index) = world.action_index(&id) else {
        return action_not_found(&id);
    };
    let action = &world.actions[action_index];
    let Some(command) = action.commands.get(index) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!("Command index {index} is out of range for action {id}"),
        );
    };
    if matches!(command.kind, CommandKind::PutFile { .. }) {
        return api_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Command {index} of action {id} is a PutFile, which has no result"),
        );
    }
    if command.status != CommandStatus::Completed || command.result.is_none() {
        return api_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Command {index} of action {id} has not completed"),
        );
    }
    let expires = world.now() + LINK_LIFETIME;
    let se = expires.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let sig = world.sign(&format!("{id}/{index}/{se}"));
    let mut link = url::Url::parse(&format!("{}/_blob/{id}/{index}", origin(&headers)))
        .unwrap_or_else(|_| url::Url::parse("https://localhost/").expect("a constant URL parses"));
    link.query_pairs_mut()
        .append_pair("se", &se)
        .append_pair("sp", "r")
        .append_pair("sv", "2019-07-07")
        .append_pair("sr", "b")
        .append_pair("sig", &sig);
    axum::Json(json!({
        "@odata.context": format!("{}/api/$metadata#Edm.String", origin(&headers)),
        "value": link.to_string(),
    }))
    .into_response()
}

#[derive(serde::Deserialize, Default)]
pub struct CancelBody {
    #[serde(rename = "Comment")]
    comment: Option<String>,
}

/// `POST …/cancel`.
pub async fn post_operation(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((id, operation)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if operation != "cancel" {
        return api_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Operation {operation} is not supported"),
        );
    }
    let body: CancelBody = if body.is_empty() {
        CancelBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(_) => {
                return invalid_body();
            }
        }
    };
    let mut world = state.world();
    let Some(index) = world.action_index(&id) else {
        return action_not_found(&id);
    };
    let now = world.now();
    let action = &mut world.actions[index];
    if !action.cancel(caller.client_id, body.comment, now) {
        let status = action.status;
        return api_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Machine action {id} is in final state {status:?} and cannot be cancelled"),
        );
    }
    debug_assert_eq!(action.status, ActionStatus::Cancelled);
    let action = &world.actions[index];
    let mut body: Value = action.to_json(&world.devices[action.device]);
    with_context(&mut body, &headers, "#MachineActions/$entity");
    axum::Json(body).into_response()
}
