//! Who is calling: every API route but health needs `Authorization: Bearer <token>`. Tokens are
//! random (`flr_` + 43 base64url characters), stored only as SHA-256 hashes, and carry a role.
//! A caller is looked up by the hash of what it presented, so the secret is never compared
//! character by character (nothing to time), and a wrong or missing token gets one answer.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use fleetlr_engine::Engine;
use fleetlr_store::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::ApiError;

/// A new token and the hash to store. The token is shown once and never stored.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!(
        "flr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = token_hash(&token);
    (token, hash)
}

/// What is wrong with a token name, if anything. The name is recorded on everything the token
/// does, goes into each MDE action's Comment and into URLs, so it is kept plain: 1 to 64
/// letters, digits, `-`, `_`, `.` or `@`.
pub fn token_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Some("a token name has 1 to 64 characters".into());
    }
    name.chars()
        .any(|c| !(c.is_ascii_alphanumeric() || "-_.@".contains(c)))
        .then(|| "a token name may use only letters, digits, `-`, `_`, `.` and `@`".into())
}

pub fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name: what audit entries and MDE comments record.
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// Refuses with 403 unless the caller's role includes `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if rank(self.role) >= rank(needed) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this needs the {} role", needed.as_str()),
            ))
        }
    }
}

fn rank(role: Role) -> u8 {
    match role {
        Role::Viewer => 0,
        Role::Operator => 1,
        Role::Admin => 2,
    }
}

/// 401, the same for a missing, malformed, unknown or revoked token.
pub struct Unauthenticated;

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    }
}

/// The layer on every API route: resolves the caller once, or answers 401.
pub async fn authenticate(
    axum::extract::State(engine): axum::extract::State<Engine>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match lookup(request.headers(), &engine).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(rejection) => rejection,
    }
}

impl FromRequestParts<Engine> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        engine: &Engine,
    ) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Caller>() {
            Some(caller) => Ok(caller.clone()),
            None => lookup(&parts.headers, engine).await,
        }
    }
}

async fn lookup(headers: &axum::http::HeaderMap, engine: &Engine) -> Result<Caller, Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| Unauthenticated.into_response())?;
    match engine.store().token_by_hash(&token_hash(presented)).await {
        Ok(Some(token)) => Ok(Caller {
            name: token.name,
            role: token.role,
        }),
        Ok(None) => Err(Unauthenticated.into_response()),
        Err(err) => Err(ApiError::from(err).into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_stored_only_as_hashes() {
        let (a, hash_a) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("flr_") && a.len() == 4 + 43, "{a}");
        assert_eq!(hash_a, token_hash(&a));
        assert!(!hash_a.contains(&a[4..]));
    }

    #[test]
    fn roles_include_the_ones_below_them() {
        let caller = |role| Caller {
            name: "t".into(),
            role,
        };
        assert!(caller(Role::Admin).require(Role::Operator).is_ok());
        assert!(caller(Role::Operator).require(Role::Viewer).is_ok());
        assert!(caller(Role::Operator).require(Role::Admin).is_err());
        assert!(caller(Role::Viewer).require(Role::Operator).is_err());
    }
}
