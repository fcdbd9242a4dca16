//! Who is using the console: an API token presented once at sign-in and then kept in a cookie
//! that the page's scripts cannot read (HttpOnly) and that other sites' pages cannot make the
//! browser send (SameSite=Strict); it is Secure when the request came over TLS. Forms that
//! change anything also carry a CSRF field derived from the token and must come from this
//! origin, so a forged form fails even where SameSite is not enforced.

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use fleetlr_engine::Engine;
use fleetlr_store::StoreError;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::pages;
use crate::auth::{Caller, token_hash};

const COOKIE: &str = "fleetlr_session";

/// How long a browser keeps the session; the token itself may live longer (or be revoked,
/// which ends the session at once).
const MAX_AGE_SECONDS: u64 = 12 * 3600;

/// A signed-in console user.
pub(crate) struct Session {
    caller: Caller,
    csrf: String,
}

impl Session {
    pub(crate) fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The value every state-changing form of this session carries.
    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Refuses a form that did not come from this origin or carries another CSRF value.
    pub(crate) fn check(&self, form: &CsrfForm) -> Result<(), ForgedForm> {
        // Comparing digests: equal-length values whose comparison time says nothing of the secret.
        let matches = Sha256::digest(form.csrf.as_bytes()) == Sha256::digest(self.csrf.as_bytes());
        if form.same_origin && matches {
            Ok(())
        } else {
            Err(ForgedForm)
        }
    }
}

/// A state-changing form that is stale, forged or from another site.
#[derive(Debug)]
pub(crate) struct ForgedForm;

impl IntoResponse for ForgedForm {
    fn into_response(self) -> Response {
        pages::refused(
            StatusCode::FORBIDDEN,
            "This form is stale or was not sent from this site. Reload the page and try again.",
        )
    }
}

impl FromRequestParts<Engine> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        engine: &Engine,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, COOKIE) else {
            return Err(Redirect::to("/ui/login").into_response());
        };
        match engine.store().token_by_hash(&token_hash(token)).await {
            Ok(Some(found)) => Ok(Self {
                caller: Caller {
                    name: found.name,
                    role: found.role,
                },
                csrf: csrf_for(token),
            }),
            // Revoked or unknown: the session ends; the cookie goes with it.
            Ok(None) => {
                let mut response = Redirect::to("/ui/login").into_response();
                response
                    .headers_mut()
                    .insert(header::SET_COOKIE, cleared_cookie());
                Err(response)
            }
            Err(err) => Err(pages::failed(err)),
        }
    }
}

/// A state-changing form's CSRF field, and whether the request came from this origin.
pub(crate) struct CsrfForm {
    csrf: String,
    same_origin: bool,
}

#[derive(Deserialize)]
struct CsrfFields {
    csrf: String,
}

impl FromRequest<Engine> for CsrfForm {
    type Rejection = Response;

    async fn from_request(request: Request, engine: &Engine) -> Result<Self, Self::Rejection> {
        let same_origin = same_origin(request.headers());
        let Form(fields) = Form::<CsrfFields>::from_request(request, engine)
            .await
            .map_err(|_| {
                pages::refused(
                    StatusCode::BAD_REQUEST,
                    "The form arrived incomplete. Reload the page and try again.",
                )
            })?;
        Ok(Self {
            csrf: fields.csrf,
            same_origin,
        })
    }
}

/// Checks a token presented at sign-in; for a live one, records the sign-in and returns the
/// session cookie to set.
pub(crate) async fn sign_in(
    engine: &Engine,
    headers: &HeaderMap,
    token: &str,
) -> Result<Option<HeaderValue>, StoreError> {
    let Some(found) = engine.store().token_by_hash(&token_hash(token)).await? else {
        tracing::warn!("console sign-in with an unknown or revoked token");
        return Ok(None);
    };
    engine
        .store()
        .audit(
            &found.name,
            found.role.as_str(),
            "console.sign_in",
            None,
            "ok",
            &serde_json::json!({}),
        )
        .await?;
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    // A token that is not a valid cookie value was never issued by us and cannot be found, so
    // this only fails for hand-made tokens; they are refused like unknown ones.
    Ok(HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={MAX_AGE_SECONDS}{secure}"
    ))
    .ok())
}

/// The header that makes the browser forget the session.
pub(crate) fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("fleetlr_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether a request came from a page of this origin. Browsers send `Origin` on form posts
/// (and `Sec-Fetch-Site`); a request with neither is not from a browser page, and needs the
/// session cookie and CSRF value anyway.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match text(header::ORIGIN) {
        None => true,
        Some(origin) => {
            let host = origin
                .split_once("://")
                .map(|(_, rest)| rest.trim_end_matches('/'));
            host.is_some() && host == text(header::HOST)
        }
    }
}

/// Whether the browser reached us over TLS: directly, or through a proxy that says so.
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

fn csrf_for(token: &str) -> String {
    format!("{:x}", Sha256::digest(format!("fleetlr-csrf\0{token}")))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let map = headers(&[("cookie", "a=1; fleetlr_session=flr_x; b=2")]);
        assert_eq!(cookie(&map, COOKIE), Some("flr_x"));
        assert_eq!(
            cookie(&headers(&[("cookie", "fleetlr_session=")]), COOKIE),
            None
        );
        assert_eq!(cookie(&headers(&[]), COOKIE), None);
    }

    #[test]
    fn forms_from_other_origins_are_refused() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&headers(&[host])));
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!same_origin(&headers(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
    }

    #[test]
    fn the_csrf_value_depends_on_the_token_and_does_not_reveal_it() {
        let a = csrf_for("flr_a");
        assert_ne!(a, csrf_for("flr_b"));
        assert!(!a.contains("flr_a"));
        let session = Session {
            caller: Caller {
                name: "t".into(),
                role: fleetlr_store::Role::Operator,
            },
            csrf: a.clone(),
        };
        let form = |csrf: &str, same_origin| CsrfForm {
            csrf: csrf.to_owned(),
            same_origin,
        };
        assert!(session.check(&form(&a, true)).is_ok());
        assert!(session.check(&form(&a, false)).is_err());
        assert!(session.check(&form(&csrf_for("flr_b"), true)).is_err());
        assert!(session.check(&form("", true)).is_err());
    }
}
