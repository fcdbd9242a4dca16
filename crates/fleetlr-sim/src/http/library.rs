//! `/api/libraryfiles`: the live response library.

use super::{AppState, api_error, origin};
use crate::clock::format_7;
use crate::world::{LibraryFile, new_library_file};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn file_json(file: &LibraryFile) -> Value {
    let mut value = json!({
        "fileName": file.name,
        "sha256": file.sha256,
        "description": file.description,
        "creationTime": format_7(file.created),
        "lastUpdatedTime": format_7(file.updated),
        "createdBy": file.created_by,
        "hasParameters": file.has_parameters,
    });
    // The service leaves parametersDescription out when the script takes no parameters.
    if let (Some(description), Value::Object(map)) = (&file.parameters_description, &mut value) {
        map.insert(
            "parametersDescription".into(),
            Value::String(description.clone()),
        );
    }
    value
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let world = state.world();
    let value: Vec<Value> = world.library.values().map(file_json).collect();
    axum::Json(json!({"@odata.context": format!("{}/api/$metadata#LibraryFiles", origin(&headers)), "value": value}))
        .into_response()
}

/// Library names may hold letters, digits, `-`, `_` and `.` only.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn bool_field(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" | "" => Some(false),
        _ => None,
    }
}

pub async fn upload(State(state): State<AppState>, mut multipart: Multipart) -> Response {
    let bad = |message: String| api_error(StatusCode::BAD_REQUEST, "InvalidRequestBody", message);
    let max = state.world().args.library_max_bytes;
    let (mut file, mut description, mut parameters_description) = (None, None, None);
    let (mut has_parameters, mut override_if_exists) = (false, false);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => return bad(format!("Malformed multipart body: {err}")),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name.eq_ignore_ascii_case("file") {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let mut content = Vec::new();
            let mut field = field;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if (content.len() + chunk.len()) as u64 > max {
                            return bad(format!("File max size limitation is {} bytes", max));
                        }
                        content.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(err) => return bad(format!("Malformed multipart body: {err}")),
                }
            }
            file = Some((file_name, content));
            continue;
        }
        let text = match field.text().await {
            Ok(text) => text,
            Err(err) => return bad(format!("Malformed multipart body: {err}")),
        };
        match name.as_str() {
            "Description" => description = Some(text),
            "ParametersDescription" => {
                parameters_description = Some(text).filter(|t| !t.is_empty())
            }
            "HasParameters" | "OverrideIfExists" => {
                let Some(value) = bool_field(&text) else {
                    return bad(format!("{name} must be true or false"));
                };
                if name == "HasParameters" {
                    has_parameters = value
                } else {
                    override_if_exists = value
                }
            }
            _ => {}
        }
    }
    let Some((file_name, content)) = file else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            "Parameter File is missing.",
        );
    };
    if !valid_name(&file_name) {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!(
                "File name {file_name} is not valid; use letters, digits and the symbols - _ ."
            ),
        );
    }
    let mut world = state.world();
    let now = world.now();
    let created = match world.library.get(&file_name) {
        Some(_) if !override_if_exists => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("File {file_name} already exists in the library"),
            );
        }
        Some(existing) => existing.created,
        None => now,
    };
    let mut entry = new_library_file(
        &file_name,
        bytes::Bytes::from(content),
        description,
        parameters_description,
        has_parameters,
        "fleetlr-sim",
        now,
    );
    entry.created = created;
    let body = file_json(&entry);
    world.library.insert(file_name, entry);
    axum::Json(body).into_response()
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let mut world = state.world();
    match world.library.remove(&name) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => api_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("File {name} was not found"),
        ),
    }
}
