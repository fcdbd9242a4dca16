//! The error body every API error carries: `{"error": {"code", "message", "target"}}`.

use serde::{Deserialize, Serialize};

/// An error response of the API.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The error; absent when the body is some other JSON.
    #[serde(default)]
    pub error: Option<ErrorDetail>,
}

/// What went wrong, as the API describes it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ErrorDetail {
    /// `InvalidRequestBody`, `ActiveRequestAlreadyExists`, `TooManyRequests`, …
    #[serde(default)]
    pub code: Option<String>,
    /// The human-readable message.
    #[serde(default)]
    pub message: Option<String>,
    /// The correlation id to quote to Microsoft support.
    #[serde(default)]
    pub target: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_error_body_parses() {
        // §7.3 of the reference, verbatim.
        let body: ErrorResponse = serde_json::from_str(
            r#"{
    "error": {
        "code": "ResourceNotFound",
        "message": "Machine 123123123 was not found",
        "target": "43f4cb08-8fac-4b65-9db1-745c2ae65f3a"
    }
}"#,
        )
        .expect("error body parses");
        let detail = body.error.expect("detail");
        assert_eq!(detail.code.as_deref(), Some("ResourceNotFound"));
        assert_eq!(
            detail.message.as_deref(),
            Some("Machine 123123123 was not found")
        );
        assert_eq!(
            detail.target.as_deref(),
            Some("43f4cb08-8fac-4b65-9db1-745c2ae65f3a")
        );
    }
}
