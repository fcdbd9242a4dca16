//! What a failed call can come to, and the classification of the API's error answers from
//! their status, `Retry-After` header and body, whatever a server sends.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{ErrorDetail, ErrorResponse};

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

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TokenError {
    /// What went wrong (never a secret or a token).
    pub message: String,
    /// The token endpoint was unreachable or failing, rather than refusing the credential.
    pub transient: bool,
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

/// How many bytes of a body [`snippet`] keeps.
pub const SNIPPET_BYTES: usize = 256;

/// The start of a body, for messages: enough to recognise it, never the whole of it.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(SNIPPET_BYTES)]);
    text.trim_end_matches('\u{fffd}').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn snippets_are_bounded_and_valid_text() {
        let long = "é".repeat(1000);
        let text = snippet(long.as_bytes());
        assert!(text.len() <= 256 && text.chars().all(|c| c == 'é'));
    }
}
