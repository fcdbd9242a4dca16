//! `/api/machines…`: listing and lookup, `runliveresponse`, `isolate` and `unisolate`.

use super::odata_list::{Collection, respond};
use super::{AppState, Caller, api_error, invalid_body, origin, too_many_requests};
use crate::actions::{ActionKind, ActionRequest, CommandKind};
use crate::clock::format_7;
use crate::devices::Device;
use crate::odata::Filter;
use crate::world::{CreateRefusal, World};
use axum::Extension;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Properties `GET /api/machines` filters on (reference §6.1); `rbacGroupName` is not one.
const FILTERABLE: &[&str] = &[
    "computerDnsName",
    "id",
    "version",
    "deviceValue",
    "aadDeviceId",
    "machineTags",
    "lastSeen",
    "exposureLevel",
    "onboardingStatus",
    "lastIpAddress",
    "healthStatus",
    "osPlatform",
    "riskScore",
    "rbacGroupId",
];

/// Characters the console refuses in script parameters.
const FORBIDDEN_ARG_CHARS: &[char] = &[';', '&', '|', '!', '$', '(', ')'];

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let world = state.world();
    // Documented: "If there are no recent machines, you see 404 Not Found".
    if world.devices.is_empty() {
        return api_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "No machines found",
        );
    }
    let now = world.now();
    // Looking devices up by id or name is the hot path (every run and alert resolves its
    // devices): render only those the filter can match. `respond` still applies the whole
    // filter to what is rendered.
    let pinned = query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("$filter"))
        .and_then(|(_, filter)| Filter::parse(filter, FILTERABLE).ok())
        .and_then(|filter| filter.candidates(&["id", "computerDnsName"]));
    let may_match = |d: &Device| {
        pinned.as_ref().is_none_or(|values| {
            values
                .iter()
                .any(|v| v.eq_ignore_ascii_case(&d.id) || v.eq_ignore_ascii_case(&d.name))
        })
    };
    let items = world
        .devices
        .iter()
        .filter(|d| may_match(d))
        .map(|d| machine_json(&world, d, now))
        .collect();
    let collection = Collection {
        context: "#Machines",
        filterable: FILTERABLE,
        sortable: FILTERABLE,
        page_size: world.args.page_size,
    };
    respond(items, &query, &collection, &headers, &uri)
}

pub async fn find_by_tag(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let Some(tag) = param("tag") else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            "Parameter tag is missing.",
        );
    };
    let starts_with = param("useStartsWithFilter").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let world = state.world();
    let now = world.now();
    let value: Vec<Value> = world
        .devices
        .iter()
        .filter(|d| {
            d.tags.iter().any(|t| {
                if starts_with {
                    t.to_lowercase().starts_with(&tag.to_lowercase())
                } else {
                    t.eq_ignore_ascii_case(&tag)
                }
            })
        })
        .map(|d| machine_json(&world, d, now))
        .collect();
    axum::Json(json!({"@odata.context": format!("{}/api/$metadata#Machines", origin(&headers)), "value": value}))
        .into_response()
}

pub async fn get_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let world = state.world();
    let Some(index) = world.device_index(&id) else {
        return machine_not_found(&id);
    };
    let mut body = machine_json(&world, &world.devices[index], world.now());
    with_context(&mut body, &headers, "#Machines/$entity");
    axum::Json(body).into_response()
}

fn machine_not_found(id: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!("Machine {id} was not found"),
    )
}

pub fn with_context(body: &mut Value, headers: &HeaderMap, context: &str) {
    if let Value::Object(map) = body {
        let mut ordered = serde_json::Map::new();
        ordered.insert(
            "@odata.context".into(),
            Value::String(format!("{}/api/$metadata{context}", origin(headers))),
        );
        ordered.extend(std::mem::take(map));
        *map = ordered;
    }
}

fn machine_json(world: &World, device: &Device, now: chrono::DateTime<chrono::Utc>) -> Value {
    let group = device.group.and_then(|g| world.groups.get(g));
    let last_seen = device.last_seen(now);
    let health = if now - last_seen > chrono::TimeDelta::days(7) {
        "Inactive"
    } else {
        "Active"
    };
    json!({
        "id": device.id,
        "computerDnsName": device.name,
        "firstSeen": format_7(device.first_seen),
        "lastSeen": format_7(last_seen),
        "osPlatform": device.os_platform,
        "osVersion": null,
        "osProcessor": "x64",
        "version": if device.os_platform == "Linux" { "Ubuntu 22.04" } else { "23H2" },
        "lastIpAddress": device.ip,
        "lastExternalIpAddress": "203.0.113.10",
        "agentVersion": "10.8760.22621.1000",
        "osBuild": if device.os_platform == "Linux" { Value::Null } else { json!(22631) },
        "healthStatus": health,
        "deviceValue": "Normal",
        "rbacGroupId": group.map_or(0, |g| g.id),
        "rbacGroupName": group.map(|g| g.name.clone()),
        "riskScore": "None",
        "exposureLevel": "Low",
        "isAadJoined": true,
        "aadDeviceId": device.aad_device_id,
        "machineTags": device.tags,
        "defenderAvStatus": "Updated",
        "onboardingStatus": "Onboarded",
        "osArchitecture": "64-bit",
        "managedBy": "MicrosoftDefenderForEndpoint",
        "managedByStatus": "Success",
        "ipAddresses": [{"ipAddress": device.ip, "macAddress": "00155D000000", "type": "Ethernet", "operationalStatus": "Up"}],
        "vmMetadata": null,
        "isExcluded": false,
        "exclusionReason": null,
        "mergedIntoMachineId": null,
        "isPotentialDuplication": false,
    })
}

/// A request body problem, as the service reports it.
struct BodyError {
    code: &'static str,
    message: String,
}

fn invalid(message: impl Into<String>) -> BodyError {
    BodyError {
        code: "InvalidRequestBody",
        message: message.into(),
    }
}

fn missing(parameter: &str) -> BodyError {
    BodyError {
        code: "MissingRequiredParameter",
        message: format!("Parameter {parameter} is missing."),
    }
}

/// Parses a runliveresponse body exactly as strictly as the service: case-sensitive keys,
/// PutFile → RunScript → GetFile order, known command types.
fn parse_commands(
    body: &Value,
    reject_special_args: bool,
) -> Result<(Vec<CommandKind>, Option<String>), BodyError> {
    let Value::Object(top) = body else {
        return Err(invalid("Request body is incorrect"));
    };
    let comment = match top.get("Comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => return Err(invalid("Comment must be a string")),
    };
    let Some(commands) = top.get("Commands") else {
        return Err(missing("Commands"));
    };
    let Value::Array(commands) = commands else {
        return Err(invalid("Commands must be an array"));
    };
    if commands.is_empty() {
        return Err(invalid("Commands must contain at least one command"));
    }
    let mut parsed = Vec::with_capacity(commands.len());
    for (i, command) in commands.iter().enumerate() {
        let Value::Object(command) = command else {
            return Err(invalid(format!("Command {i} is not an object")));
        };
        let Some(Value::String(kind)) = command.get("type") else {
            return Err(missing("type"));
        };
        let Some(Value::Array(params)) = command.get("params") else {
            return Err(missing("params"));
        };
        let mut values = std::collections::HashMap::new();
        for param in params {
            let (Some(Value::String(key)), Some(value)) = (param.get("key"), param.get("value"))
            else {
                return Err(invalid(format!(
                    "Command {i} has a parameter without key and value"
                )));
            };
            let Value::String(value) = value else {
                return Err(invalid(format!("Parameter {key} must be a string")));
            };
            values.insert(key.as_str(), value.clone());
        }
        let required = |name: &str| {
            values
                .get(name)
                .cloned()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| missing(name))
        };
        parsed.push(match kind.as_str() {
            "PutFile" => CommandKind::PutFile { file_name: required("FileName")? },
            "RunScript" => {
                let args = values.get("Args").cloned();
                if reject_special_args && args.as_deref().is_some_and(|a| a.contains(FORBIDDEN_ARG_CHARS)) {
                    return Err(BodyError {
                        code: "InvalidInput",
                        message: "Please avoid using the following characters as part of scripts' parameters: ; & | ! $ ( )".into(),
                    });
                }
                CommandKind::RunScript { script_name: required("ScriptName")?, args }
            }
            "GetFile" => CommandKind::GetFile { path: required("Path")? },
            other => return Err(invalid(format!("Command type {other} is not supported; allowed values are PutFile, RunScript and GetFile"))),
        });
    }
    let rank = |c: &CommandKind| match c {
        CommandKind::PutFile { .. } => 0,
        CommandKind::RunScript { .. } => 1,
        CommandKind::GetFile { .. } => 2,
    };
    if parsed
        .windows(2)
        .any(|pair| rank(&pair[0]) > rank(&pair[1]))
    {
        return Err(invalid(
            "Commands must be ordered PutFile, then RunScript, then GetFile",
        ));
    }
    Ok((parsed, comment))
}

pub async fn run_live_response(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let mut world = state.world();
    let Some(device) = world.device_index(&id) else {
        return machine_not_found(&id);
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid_body();
    };
    let (commands, comment) = match parse_commands(&body, world.args.reject_special_args) {
        Ok(parsed) => parsed,
        Err(BodyError { code, message }) => {
            return api_error(StatusCode::BAD_REQUEST, code, message);
        }
    };
    let disallowed_group = world.devices[device]
        .group
        .and_then(|g| world.groups.get(g))
        .filter(|group| !group.automation)
        .map(|group| group.name.clone());
    if let Some(group) = disallowed_group {
        world.count_limit("disallowed_operation");
        return api_error(
            StatusCode::FORBIDDEN,
            "DisallowedOperation",
            format!(
                "Machine {id} belongs to device group '{group}' which has no automated remediation level; live response is not allowed"
            ),
        );
    }
    for command in &commands {
        let name = match command {
            CommandKind::PutFile { file_name } => file_name,
            CommandKind::RunScript { script_name, .. } => script_name,
            CommandKind::GetFile { .. } => continue,
        };
        if !world.library.contains_key(name) {
            return api_error(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                format!("File {name} was not found in the live response library"),
            );
        }
    }
    create(
        &mut world,
        ActionKind::LiveResponse,
        device,
        caller,
        comment,
        commands,
        &headers,
    )
}

fn create(
    world: &mut World,
    kind: ActionKind,
    device: usize,
    caller: Caller,
    comment: Option<String>,
    commands: Vec<CommandKind>,
    headers: &HeaderMap,
) -> Response {
    let now = world.now();
    let request = ActionRequest {
        kind,
        device,
        requestor: caller.client_id,
        comment,
        commands,
    };
    match world.create_action(request, now) {
        Ok(index) => {
            let mut body = world.actions[index].to_json(&world.devices[device]);
            with_context(&mut body, headers, "#MachineActions/$entity");
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        Err(CreateRefusal::Busy) if kind == ActionKind::LiveResponse => {
            world.count_limit("active_request_exists");
            api_error(
                StatusCode::BAD_REQUEST,
                "ActiveRequestAlreadyExists",
                format!(
                    "Cannot create new live response request for machine {} since there is an active request already",
                    world.devices[device].id
                ),
            )
        }
        Err(CreateRefusal::Busy) => {
            world.count_limit("action_in_progress");
            api_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Action is already in progress",
            )
        }
        Err(CreateRefusal::SessionCap) => {
            world.count_limit("session_cap");
            too_many_requests(
                world,
                60,
                "Too many concurrent live response sessions. Try again later",
            )
        }
    }
}

#[derive(serde::Deserialize)]
pub struct IsolateBody {
    #[serde(rename = "Comment")]
    comment: Option<String>,
    #[serde(rename = "IsolationType")]
    isolation_type: Option<String>,
}

pub async fn isolate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    isolation(state, caller, headers, id, body, ActionKind::Isolate)
}

pub async fn unisolate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    isolation(state, caller, headers, id, body, ActionKind::Unisolate)
}

fn isolation(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    id: String,
    body: axum::body::Bytes,
    kind: ActionKind,
) -> Response {
    let mut world = state.world();
    let Some(device) = world.device_index(&id) else {
        return machine_not_found(&id);
    };
    let Ok(body) = serde_json::from_slice::<IsolateBody>(&body) else {
        return invalid_body();
    };
    let Some(comment) = body.comment.filter(|c| !c.is_empty()) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            "Parameter Comment is missing.",
        );
    };
    let scope = match (kind, body.isolation_type.as_deref()) {
        (ActionKind::Isolate, None | Some("Full")) => Some("Full"),
        (ActionKind::Isolate, Some("Selective")) => Some("Selective"),
        (ActionKind::Isolate, Some("UnManagedDevice")) => Some("UnManagedDevice"),
        (ActionKind::Isolate, Some(other)) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                format!("IsolationType {other} is not valid"),
            );
        }
        _ => None,
    };
    let response = create(
        &mut world,
        kind,
        device,
        caller,
        Some(comment),
        Vec::new(),
        &headers,
    );
    if response.status() == StatusCode::CREATED
        && let Some(action) = world.actions.last_mut()
    {
        action.scope = scope.map(str::to_owned);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<Vec<CommandKind>, &'static str> {
        parse_commands(&body, true)
            .map(|(c, _)| c)
            .map_err(|e| e.code)
    }

    #[test]
    fn the_documented_example_body_is_accepted() {
        let commands = parse(json!({"Commands": [
            {"type": "RunScript", "params": [{"key": "ScriptName", "value": "minidump.ps1"}, {"key": "Args", "value": "OfficeClickToRun"}]},
            {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\windows\\TEMP\\OfficeClickToRun.dmp.zip"}]}
        ], "Comment": "Testing Live Response API"}));
        assert_eq!(commands.map(|c| c.len()), Ok(2));
    }

    #[test]
    fn casing_order_and_arguments_are_checked() {
        assert_eq!(
            parse(json!({"commands": []})),
            Err("MissingRequiredParameter")
        );
        assert_eq!(
            parse(
                json!({"Commands": [{"type": "RunScript", "params": [{"key": "scriptName", "value": "a.ps1"}]}]})
            ),
            Err("MissingRequiredParameter")
        );
        assert_eq!(
            parse(json!({"Commands": [
                {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\a"}]},
                {"type": "PutFile", "params": [{"key": "FileName", "value": "a.exe"}]}]})),
            Err("InvalidRequestBody")
        );
        assert_eq!(
            parse(
                json!({"Commands": [{"type": "RunScript", "params": [{"key": "ScriptName", "value": "a.ps1"}, {"key": "Args", "value": "a; b"}]}]})
            ),
            Err("InvalidInput")
        );
        assert_eq!(
            parse(json!({"Commands": [{"type": "Shell", "params": []}]})),
            Err("InvalidRequestBody")
        );
    }
}
