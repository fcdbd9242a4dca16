//! Errors of the client, classified so callers decide without matching on strings: the engine
//! asks `retry_after()`, `is_busy()`, `is_transient()` … and schedules accordingly.

use std::time::Duration;

use fleetlr_defender_models::{ApiError, ErrorKind, TokenError};

/// A failed call: what it was about (`machine 1a2b: live response`) and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {kind}")]
pub struct Error {
    context: String,
    #[source]
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(context: impl Into<String>, kind: ErrorKind) -> Self {
        Self {
            context: context.into(),
            kind,
        }
    }

    pub(crate) fn into_kind(self) -> ErrorKind {
        self.kind
    }

    /// What the failed call was about.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// What went wrong, for callers that want every detail.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// How long the service asked us to wait, for a 429 that said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            ErrorKind::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A 429.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self.kind, ErrorKind::RateLimited { .. })
    }

    /// The device already has an active live response action (`ActiveRequestAlreadyExists`):
    /// try later, it is not a failure of the target.
    pub fn is_busy(&self) -> bool {
        matches!(self.kind, ErrorKind::DeviceBusy(_))
    }

    /// A 404: no such device, action or library file.
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, ErrorKind::NotFound(_))
    }

    /// A 401 that a fresh token did not cure.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.kind, ErrorKind::Unauthorized(_))
    }

    /// A 403: missing permission, `DisallowedOperation` or `DisabledFeature`; see `code()`.
    pub fn is_forbidden(&self) -> bool {
        matches!(self.kind, ErrorKind::Forbidden(_))
    }

    /// A 4xx that says the request is wrong (other than the ones above).
    pub fn is_bad_request(&self) -> bool {
        matches!(self.kind, ErrorKind::BadRequest(_))
    }

    /// Worth trying again later: a 5xx, a network failure, or an unreachable token endpoint.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Server(_)
                | ErrorKind::Network(_)
                | ErrorKind::Token(TokenError {
                    transient: true,
                    ..
                })
        )
    }

    /// No token could be had (bad credential, or the token endpoint failing).
    pub fn is_token_failure(&self) -> bool {
        matches!(self.kind, ErrorKind::Token(_))
    }

    /// The API's error response, for errors that came with one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match &self.kind {
            ErrorKind::RateLimited { error, .. }
            | ErrorKind::DeviceBusy(error)
            | ErrorKind::NotFound(error)
            | ErrorKind::Unauthorized(error)
            | ErrorKind::Forbidden(error)
            | ErrorKind::BadRequest(error)
            | ErrorKind::Server(error) => Some(error),
            _ => None,
        }
    }

    /// The API's error code (`InvalidRequestBody`, `DisallowedOperation`, …), when it sent one.
    pub fn code(&self) -> Option<&str> {
        self.api_error()?.code.as_deref()
    }

    /// The HTTP status of an error response.
    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            ErrorKind::Decode { status, .. } => Some(*status),
            _ => self.api_error().map(|e| e.status),
        }
    }

    /// The correlation id of an error response, to quote to Microsoft support.
    pub fn correlation_id(&self) -> Option<&str> {
        self.api_error()?.target.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetlr_defender_models::classify;

    fn error(status: u16, retry_after: Option<&str>, body: &str) -> Error {
        Error::new(
            "machine m1: live response",
            classify(status, retry_after, body.as_bytes()),
        )
    }

    #[test]
    fn throttling_carries_retry_after_in_seconds() {
        let throttled = error(
            429,
            Some("12"),
            r#"{"error":{"code":"TooManyRequests","message":"Too many requests","target":"t1"}}"#,
        );
        assert!(throttled.is_rate_limited() && !throttled.is_transient());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(12)));
        assert_eq!(throttled.code(), Some("TooManyRequests"));
        assert_eq!(
            throttled.to_string(),
            "machine m1: live response: rate limited, retry after 12s: TooManyRequests: Too many requests (correlation id t1)"
        );
        let no_header = error(429, None, "");
        assert!(no_header.is_rate_limited() && no_header.retry_after().is_none());
        assert_eq!(error(429, Some("soon"), "").retry_after(), None);
    }

    #[test]
    fn a_second_live_response_is_busy() {
        let busy = error(
            400,
            None,
            r#"{"error":{"code":"ActiveRequestAlreadyExists","message":"Action is already in progress"}}"#,
        );
        assert!(busy.is_busy() && !busy.is_bad_request());
        assert_eq!(busy.code(), Some("ActiveRequestAlreadyExists"));
    }

    #[test]
    fn bad_requests_keep_code_message_and_correlation_id() {
        let bad = error(
            400,
            None,
            r#"{"error":{"code":"InvalidRequestBody","message":"Request body is incorrect","target":"1fa66c0f-18bd-4133-b378-36d76f3a2ba0"}}"#,
        );
        assert!(bad.is_bad_request());
        assert_eq!(bad.code(), Some("InvalidRequestBody"));
        assert_eq!(bad.status(), Some(400));
        assert_eq!(
            bad.correlation_id(),
            Some("1fa66c0f-18bd-4133-b378-36d76f3a2ba0")
        );
        assert_eq!(
            bad.to_string(),
            "machine m1: live response: rejected: InvalidRequestBody: Request body is incorrect (correlation id 1fa66c0f-18bd-4133-b378-36d76f3a2ba0)"
        );
    }

    #[test]
    fn not_found_unauthorized_and_forbidden_are_told_apart() {
        let missing = error(
            404,
            None,
            r#"{"error":{"code":"ResourceNotFound","message":"Machine 123123123 was not found"}}"#,
        );
        assert!(missing.is_not_found());
        let unauthorized = error(
            401,
            None,
            r#"{"error":{"code":"Unauthorized","message":"x"}}"#,
        );
        assert!(unauthorized.is_unauthorized() && !unauthorized.is_forbidden());
        for code in ["Forbidden", "DisallowedOperation", "DisabledFeature"] {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"no"}}}}"#);
            let forbidden = error(403, None, &body);
            assert!(forbidden.is_forbidden(), "{code}");
            assert_eq!(forbidden.code(), Some(code));
        }
    }

    #[test]
    fn server_errors_are_transient_and_bodies_need_not_be_json() {
        let gateway = error(502, None, "<html>Bad gateway</html>");
        assert!(gateway.is_transient());
        assert_eq!(gateway.code(), None);
        assert_eq!(
            gateway.to_string(),
            "machine m1: live response: server error: HTTP 502: <html>Bad gateway</html>"
        );
        let empty = error(500, None, "");
        assert!(empty.is_transient());
        assert!(
            empty.to_string().ends_with("HTTP 500: (empty body)"),
            "{empty}"
        );
        let odd = error(400, None, r#"{"unexpected": true}"#);
        assert!(odd.is_bad_request() && odd.code().is_none());
    }
}
