//! One JSON error shape for every answer that went wrong, and how engine and store errors map
//! to HTTP statuses. Internal detail (SQL, paths) goes to the log, never into an answer.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use fleetlr_engine::ControlError;
use fleetlr_store::StoreError;

use crate::api::{ErrorBody, ErrorDetail};

/// An answer that went wrong, as `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    message: String,
    /// Seconds after which the same request may succeed, sent as `Retry-After`.
    retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 503 for a passing condition of the database (locked, disk full): the caller is told
    /// what and asked to retry; the detail goes to the log.
    pub(crate) fn unavailable(err: &StoreError, why: fleetlr_store::Unavailable) -> Self {
        tracing::warn!(error = %err, "request refused for now: {}", why.describe());
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "storage_unavailable",
            message: format!(
                "{}; nothing was changed, retry in a few seconds",
                why.describe()
            ),
            retry_after: Some(STORAGE_RETRY_AFTER_SECS),
        }
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
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
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
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
            // The service refused the query itself: a tag, group or filter the caller wrote.
            E::Resolve(err) if err.is_bad_request() => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_targets")
            }
            E::Resolve(_) | E::Library(_) => (StatusCode::BAD_GATEWAY, "defender_api_failed"),
            E::Store(store) => return store_error(store),
        };
        let message = match &err {
            // The engine's message names the daemon's playbook directory: not the caller's business.
            E::UnknownPlaybook { name, .. } => format!(
                "no playbook named `{name}`; GET /api/v1/playbooks lists the daemon's playbooks"
            ),
            _ => err.to_string(),
        };
        Self::new(status, code, message)
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
            other => store_error(&other),
        }
    }
}

/// A database that is busy or full for now is 503 with `Retry-After`; anything else is a fault.
fn store_error(err: &StoreError) -> ApiError {
    match err.unavailable() {
        Some(why) => ApiError::unavailable(err, why),
        None => internal(err),
    }
}

/// Long enough for a lock holder to finish or an operator to free space; short enough that a
/// client retrying on it is not idle for long.
const STORAGE_RETRY_AFTER_SECS: u32 = 5;

pub(crate) fn internal(err: &dyn std::error::Error) -> ApiError {
    tracing::error!(error = %err, "request failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the daemon could not complete the request; its log has the detail",
    )
}

pub type Answer<T> = Result<T, ApiError>;

/// Longest plain-text error body rewritten into the JSON shape; axum's own rejection texts are a
/// line or two.
const REWRITE_MAX_BYTES: usize = 4096;

/// Axum answers some requests before a handler runs (a malformed path segment or query string,
/// a method the route does not take) with plain text; this gives those answers the API's one
/// error shape too, keeping their headers (`Allow`, `WWW-Authenticate`). Answers that are not
/// errors, and errors already in JSON, pass untouched (artifact streams are never buffered).
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, REWRITE_MAX_BYTES)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ if status.is_server_error() => "internal",
        _ => "request_refused",
    };
    let message = if text.is_empty() {
        status.canonical_reason().map_or_else(
            || format!("http status {}", status.as_u16()),
            str::to_lowercase,
        )
    } else {
        text
    };
    let mut answer = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}
