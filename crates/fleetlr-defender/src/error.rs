//! Errors of the client, classified so callers decide without matching on strings.

use std::time::Duration;

/// A failed call: which endpoint, and what kind of failure.
#[derive(Debug, thiserror::Error)]
#[error("{endpoint}: {kind}")]
pub struct Error {
    pub endpoint: String,
    #[source]
    pub kind: ErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("rate limited ({message})")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("device busy: another live response action is active ({message})")]
    DeviceBusy { message: String },
    #[error("not found: {code}: {message}")]
    NotFound { code: String, message: String },
    #[error("unauthorized: {message}")]
    Unauthorized { message: String },
    #[error("forbidden: {code}: {message}")]
    Forbidden { code: String, message: String },
    #[error("bad request: {code}: {message} (correlation id {target})")]
    BadRequest {
        code: String,
        message: String,
        target: String,
    },
    #[error("transient failure{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Transient {
        status: Option<u16>,
        message: String,
    },
    #[error("acquiring a token: {0}")]
    Token(String),
    #[error("unexpected response (HTTP {status}): {message}; body starts {snippet:?}")]
    Decode {
        status: u16,
        message: String,
        snippet: String,
    },
    #[error("writing the download: {0}")]
    Write(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn new(endpoint: impl Into<String>, kind: ErrorKind) -> Self {
        Self {
            endpoint: endpoint.into(),
            kind,
        }
    }

    /// How long the service asked us to wait, for a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            ErrorKind::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn is_rate_limited(&self) -> bool {
        matches!(self.kind, ErrorKind::RateLimited { .. })
    }

    /// A second live response on a device that has one (`ActiveRequestAlreadyExists`).
    pub fn is_busy(&self) -> bool {
        matches!(self.kind, ErrorKind::DeviceBusy { .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, ErrorKind::NotFound { .. })
    }

    /// 403: missing permission, `DisallowedOperation` (no automation level), `DisabledFeature`.
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Forbidden { .. } | ErrorKind::Unauthorized { .. }
        )
    }

    /// 5xx, connection failures and time-outs: worth trying again later.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ErrorKind::Transient { .. })
    }

    /// The API's error code (`InvalidRequestBody`, `DisallowedOperation`, …), when it sent one.
    pub fn code(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::NotFound { code, .. }
            | ErrorKind::Forbidden { code, .. }
            | ErrorKind::BadRequest { code, .. } => Some(code),
            ErrorKind::DeviceBusy { .. } => Some("ActiveRequestAlreadyExists"),
            ErrorKind::RateLimited { .. } => Some("TooManyRequests"),
            _ => None,
        }
    }
}

/// Classifies an error response from its status, `Retry-After` and body.
pub(crate) fn classify(status: u16, retry_after: Option<&str>, body: &[u8]) -> ErrorKind {
    #[derive(serde::Deserialize, Default)]
    struct Envelope {
        error: Option<Detail>,
    }
    #[derive(serde::Deserialize, Default)]
    struct Detail {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        target: Option<String>,
    }
    let detail = serde_json::from_slice::<Envelope>(body)
        .ok()
        .and_then(|e| e.error)
        .unwrap_or_default();
    let snippet = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    let message = detail
        .message
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(snippet);
    let code = detail.code.clone();
    match status {
        429 => ErrorKind::RateLimited {
            retry_after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
            message,
        },
        400 if code == "ActiveRequestAlreadyExists" => ErrorKind::DeviceBusy { message },
        401 => ErrorKind::Unauthorized { message },
        403 => ErrorKind::Forbidden { code, message },
        404 => ErrorKind::NotFound { code, message },
        400..=499 => ErrorKind::BadRequest {
            code,
            message,
            target: detail.target.unwrap_or_default(),
        },
        _ => ErrorKind::Transient {
            status: Some(status),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16, retry_after: Option<&str>, body: &str) -> Error {
        Error::new("test", classify(status, retry_after, body.as_bytes()))
    }

    #[test]
    fn responses_are_classified() {
        let throttled = error(
            429,
            Some("12"),
            r#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#,
        );
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(12)));
        assert!(error(429, None, "").retry_after().is_none());
        assert!(
            error(
                400,
                None,
                r#"{"error":{"code":"ActiveRequestAlreadyExists","message":"x"}}"#
            )
            .is_busy()
        );
        assert!(
            error(
                404,
                None,
                r#"{"error":{"code":"ResourceNotFound","message":"Machine 1 was not found"}}"#
            )
            .is_not_found()
        );
        let disallowed = error(
            403,
            None,
            r#"{"error":{"code":"DisallowedOperation","message":"no automation"}}"#,
        );
        assert_eq!(
            (disallowed.is_forbidden(), disallowed.code()),
            (true, Some("DisallowedOperation"))
        );
        assert!(error(503, None, "<html>gateway</html>").is_transient());
        let bad = error(
            400,
            None,
            r#"{"error":{"code":"InvalidRequestBody","message":"Request body is incorrect","target":"abc"}}"#,
        );
        assert_eq!(
            bad.to_string(),
            "test: bad request: InvalidRequestBody: Request body is incorrect (correlation id abc)"
        );
    }
}
