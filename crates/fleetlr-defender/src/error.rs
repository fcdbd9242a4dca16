//! Errors of the client, classified so callers decide without matching on strings: the engine
//! asks `retry_after()`, `is_busy()`, `is_transient()` … and schedules accordingly.

use crate::auth::TokenError;
use crate::models::{ErrorDetail, ErrorResponse};
use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// A failed call: what it was about (`machine 1a2b: live response`) and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {kind}")]
pub struct Error {
    context: String,
    #[source]
    kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// 429: too many calls, or too many concurrent sessions.
    #[error("rate limited{}: {error}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// `Retry-After`, when the service sent one.
        retry_after: Option<Duration>,
        /// The error as the API described it.
        error: ApiError,
    },
    /// 400 `ActiveRequestAlreadyExists`: the device already runs a live response action.
    #[error("device busy: {0}")]
    DeviceBusy(ApiError),
    /// 404.
    #[error("not found: {0}")]
    NotFound(ApiError),
    /// 401, even after one fresh token.
    #[error("unauthorized: {0}")]
    Unauthorized(ApiError),
    /// 403: missing permission (`Forbidden`), no automation level on the device group
    /// (`DisallowedOperation`), or the tenant feature is off (`DisabledFeature`).
    #[error("forbidden: {0}")]
    Forbidden(ApiError),
    /// Any other 4xx: the request itself is wrong (`InvalidRequestBody`, `ODataError`, …).
    #[error("rejected: {0}")]
    BadRequest(ApiError),
    /// 5xx.
    #[error("server error: {0}")]
    Server(ApiError),
    /// The connection failed, timed out or dropped.
    #[error("network failure: {0}")]
    Network(String),
    /// No token from Entra ID.
    #[error("token acquisition failed: {0}")]
    Token(TokenError),
    /// A success status with a body that is not what the endpoint returns.
    #[error("undecodable response (HTTP {status}): {message}; body starts {snippet:?}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What did not fit.
        message: String,
        /// The start of the body.
        snippet: String,
    },
    /// The writer given to a download failed.
    #[error("writing the download: {0}")]
    Write(#[source] std::io::Error),
    /// The configuration cannot work (a bad CA PEM, a bad URL).
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// An error response of the API: its status and what the body said. Bodies that are not the
/// documented JSON (a proxy's HTML page) are kept as a snippet in `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The API's error code, when the body had one.
    pub code: Option<String>,
    /// The API's message, or the start of a body that was not the documented JSON.
    pub message: String,
    /// The correlation id (`target`) to quote to Microsoft support.
    pub target: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message)?,
            None => write!(f, "HTTP {}: {}", self.status, self.message)?,
        }
        match &self.target {
            Some(target) => write!(f, " (correlation id {target})"),
            None => Ok(()),
        }
    }
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

/// Classifies an error response from its status, `Retry-After` header and body (public so the
/// fuzz targets can reach the parsing of whatever a server sends).
pub fn classify(status: u16, retry_after: Option<&str>, body: &[u8]) -> ErrorKind {
    let detail = serde_json::from_slice::<ErrorResponse>(body)
        .ok()
        .and_then(|response| response.error)
        .unwrap_or_default();
    let ErrorDetail {
        code,
        message,
        target,
    } = detail;
    let message = message
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| match snippet(body) {
            text if text.trim().is_empty() => "(empty body)".to_owned(),
            text => text,
        });
    let code = code.filter(|c| !c.is_empty());
    let is_busy = code.as_deref() == Some("ActiveRequestAlreadyExists");
    let error = ApiError {
        status,
        code,
        message,
        target: target.filter(|t| !t.is_empty()),
    };
    match status {
        429 => ErrorKind::RateLimited {
            retry_after: retry_after.and_then(parse_retry_after),
            error,
        },
        400 if is_busy => ErrorKind::DeviceBusy(error),
        401 => ErrorKind::Unauthorized(error),
        403 => ErrorKind::Forbidden(error),
        404 => ErrorKind::NotFound(error),
        500..=599 => ErrorKind::Server(error),
        // Any other failure status (4xx, or a 3xx the client did not follow) is a refusal.
        _ => ErrorKind::BadRequest(error),
    }
}

/// `Retry-After` is documented in seconds; an HTTP date is accepted too, as HTTP allows it.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

/// The start of a body, for messages: enough to recognise it, never the whole of it.
pub(crate) fn snippet(body: &[u8]) -> String {
    const MAX: usize = 256;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    text.trim_end_matches('\u{fffd}').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn retry_after_may_be_an_http_date() {
        let later = (Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let wait = parse_retry_after(&later).expect("date parses");
        assert!(
            wait > Duration::from_secs(80) && wait <= Duration::from_secs(90),
            "{wait:?}"
        );
        let past = (Utc::now() - chrono::Duration::seconds(90)).to_rfc2822();
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1"), None);
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

    #[test]
    fn snippets_are_bounded_and_valid_text() {
        let long = "é".repeat(1000);
        let text = snippet(long.as_bytes());
        assert!(text.len() <= 256 && text.chars().all(|c| c == 'é'));
    }
}
