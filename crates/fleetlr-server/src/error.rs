//! One JSON error shape for every answer that went wrong, and how engine and store errors map
//! to HTTP statuses. Internal detail (SQL, paths) goes to the log, never into an answer.

use axum::Json;
use axum::http::StatusCode;
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

pub(crate) fn internal(err: &dyn std::error::Error) -> ApiError {
    tracing::error!(error = %err, "request failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the daemon could not complete the request; its log has the detail",
    )
}

pub type Answer<T> = Result<T, ApiError>;
