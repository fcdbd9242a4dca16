//! `POST /{tenant}/oauth2/v2.0/token`: client credentials as Microsoft Entra ID answers them.

use super::{AppState, assertion};
use crate::world::IssuedToken;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// The only scope the Defender API accepts for app tokens (the legacy resource, even when the
/// API is called on `api.security.microsoft.com`).
pub const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

pub async fn issue(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut world = state.world();
    if tenant != world.args.tenant_id {
        return entra_error(
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID"
            ),
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return entra_error(
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type",
        );
    }
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let Some(app) = world.apps.iter().position(|a| a.client_id == client_id) else {
        return entra_error(
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory"),
        );
    };
    let app_entry = &world.apps[app];
    if let Some(assertion) = form.get("client_assertion") {
        let audience = format!("/{tenant}/oauth2/v2.0/token");
        let verdict = match &app_entry.certificate_der {
            Some(der) => assertion::verify(assertion, der, &client_id, &audience),
            None => Err(assertion::Refusal::UnknownCertificate),
        };
        if let Err(refusal) = verdict {
            let (code, message) = refusal.aadsts();
            return entra_error("invalid_client", code, message);
        }
    } else if form.get("client_secret") != app_entry.client_secret.as_ref()
        || app_entry.client_secret.is_none()
    {
        return entra_error(
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID",
        );
    }
    let scope = form.get("scope").map(String::as_str).unwrap_or_default();
    if scope != SCOPE {
        return entra_error(
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier"
            ),
        );
    }
    let lifetime = world.args.token_lifetime;
    let access_token = access_token(&tenant, &client_id, &app_entry.roles, lifetime);
    world
        .tokens
        .retain(|_, token| token.expires > tokio::time::Instant::now());
    world.stats.tokens_issued.push(access_token.clone());
    world.tokens.insert(
        access_token.clone(),
        IssuedToken {
            app,
            expires: tokio::time::Instant::now() + lifetime,
        },
    );
    axum::Json(serde_json::json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access_token,
    }))
    .into_response()
}

/// An access token shaped as Entra ID issues them: a JWT whose payload carries the tenant, the
/// app and the application permissions granted to it (`roles`), which clients may read. Its
/// signature is random bytes: the simulator recognises its tokens by their whole text, and no
/// client is meant to verify the signature of a token issued for an API.
fn access_token(
    tenant: &str,
    client_id: &str,
    roles: &[String],
    lifetime: std::time::Duration,
) -> String {
    use base64::Engine as _;
    let encode = |value: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    };
    let issued = chrono::Utc::now().timestamp();
    let expires = issued + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256"});
    let payload = serde_json::json!({
        "aud": "https://api.securitycenter.microsoft.com",
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": issued,
        "nbf": issued,
        "exp": expires,
        "appid": client_id,
        "idtyp": "app",
        "tid": tenant,
        "roles": roles,
    });
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        [
            uuid::Uuid::new_v4().as_bytes().as_slice(),
            uuid::Uuid::new_v4().as_bytes(),
        ]
        .concat(),
    );
    format!("{}.{}.{signature}", encode(&header), encode(&payload))
}

/// Entra ID's error shape: `error`, `error_description` with an AADSTS code, and trace ids.
fn entra_error(error: &str, code: u32, description: &str) -> Response {
    let trace_id = uuid::Uuid::new_v4();
    let correlation_id = uuid::Uuid::new_v4();
    let body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description}. Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ")),
        "error_codes": [code],
        "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    });
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, axum::Json(body)).into_response()
}
