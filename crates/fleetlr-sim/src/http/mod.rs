//! The HTTP face of the simulator: the Defender API routes, the Entra ID token endpoint, the
//! blob store that result links point at, and the `/_sim` introspection and control routes.

mod actions;
mod admin;
pub(crate) mod assertion;
mod blob;
mod library;
mod machines;
mod odata_list;
pub(crate) mod token;

use crate::scenario::FaultKind;
use crate::world::World;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::{Arc, Mutex, MutexGuard};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    world: Arc<Mutex<World>>,
}

impl AppState {
    pub fn new(world: Arc<Mutex<World>>) -> Self {
        Self { world }
    }

    /// Locks the world and brings it up to the current simulated time.
    fn world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock leaves the world consistent enough to keep serving a
        // test tool; refusing every later request would hide the original failure.
        let mut world = self
            .world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = world.now();
        world.advance(now);
        world
    }
}

/// The application that called, as identified by its bearer token.
#[derive(Clone)]
struct Caller {
    client_id: String,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/machines", get(machines::list))
        .route("/machines/findbytag", get(machines::find_by_tag))
        .route("/machines/{id}", get(machines::get_one))
        .route(
            "/machines/{id}/runliveresponse",
            post(machines::run_live_response),
        )
        .route("/machines/{id}/isolate", post(machines::isolate))
        .route("/machines/{id}/unisolate", post(machines::unisolate))
        .route("/machineactions", get(actions::list))
        .route("/machineactions/{id}", get(actions::get_one))
        .route(
            "/machineactions/{id}/{operation}",
            get(actions::get_operation).post(actions::post_operation),
        )
        .route("/libraryfiles", get(library::list).post(library::upload))
        .route(
            "/libraryfiles/{name}",
            axum::routing::delete(library::delete),
        );
    Router::new()
        // The docs write both `/API/` and `/api/`; the service answers both.
        .nest("/api", api.clone())
        .nest("/API", api)
        .route("/{tenant}/oauth2/v2.0/token", post(token::issue))
        .route("/_blob/{action}/{index}", get(blob::download))
        .merge(admin::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), gateway))
        .layer(middleware::map_response_with_state(state.clone(), dated))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
        .with_state(state)
}

async fn not_found() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The requested resource was not found",
    )
}

/// Names an endpoint for statistics, fault targeting and rate budgets.
fn classify(method: &Method, path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let api = segments
        .first()
        .is_some_and(|s| s.eq_ignore_ascii_case("api"));
    match (api, segments.as_slice()) {
        (false, [_, "oauth2", "v2.0", "token"]) => "token",
        (false, ["_blob", ..]) => "blob",
        (false, ["_sim", ..]) => "admin",
        (true, [_, "machines"]) => "machines.list",
        (true, [_, "machines", "findbytag"]) => "machines.findbytag",
        (true, [_, "machines", _]) => "machines.get",
        (true, [_, "machines", _, op]) if op.eq_ignore_ascii_case("runliveresponse") => {
            "runliveresponse"
        }
        (true, [_, "machines", _, op]) if op.eq_ignore_ascii_case("isolate") => "isolate",
        (true, [_, "machines", _, op]) if op.eq_ignore_ascii_case("unisolate") => "unisolate",
        (true, [_, "machineactions"]) => "machineactions.list",
        (true, [_, "machineactions", _]) => "machineactions.get",
        (true, [_, "machineactions", _, op])
            if op.starts_with("GetLiveResponseResultDownloadLink") =>
        {
            "machineactions.resultlink"
        }
        (true, [_, "machineactions", _, "cancel"]) => "machineactions.cancel",
        (true, [_, "libraryfiles"]) if method == Method::POST => "libraryfiles.upload",
        (true, [_, "libraryfiles"]) => "libraryfiles.list",
        (true, [_, "libraryfiles", _]) => "libraryfiles.delete",
        _ => "other",
    }
}

/// Permissions that allow an endpoint (any one suffices), per the API reference.
fn required_roles(endpoint: &str) -> &'static [&'static str] {
    match endpoint {
        "runliveresponse" => &["Machine.LiveResponse"],
        "isolate" | "unisolate" => &["Machine.Isolate"],
        "machineactions.cancel" => &["Machine.LiveResponse", "Machine.Isolate"],
        "libraryfiles.list" | "libraryfiles.upload" | "libraryfiles.delete" => &["Library.Manage"],
        _ => &["Machine.Read.All", "Machine.ReadWrite.All"],
    }
}

/// The service dates every answer by its own clock (hyper would use this host's), which
/// `--clock-skew-secs` sets apart.
async fn dated(State(state): State<AppState>, mut response: Response) -> Response {
    let skew = state.world().args.clock_skew_secs;
    let date = chrono::Utc::now() + chrono::TimeDelta::seconds(skew);
    if let Ok(value) = HeaderValue::from_str(&date.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
    {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}

/// Runs before every handler: injected faults, authentication, permissions and rate budgets;
/// and after it: statistics and connection drops.
async fn gateway(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // HTTP/2 carries the host in `:authority`, not `Host`; links and `@odata.context` need it.
    if !request.headers().contains_key(header::HOST)
        && let Some(host) = request
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        request.headers_mut().insert(header::HOST, host);
    }
    let endpoint = classify(request.method(), request.uri().path());
    if endpoint == "admin" {
        return next.run(request).await;
    }
    let fault = {
        let mut world = state.world();
        let now = world.now();
        world.take_fault(endpoint, now)
    };
    match fault {
        Some(FaultKind::DropBefore) => return dropped_connection(),
        Some(FaultKind::Status { status }) => {
            let response = injected_status(status);
            state
                .world()
                .record_response(endpoint, response.status().as_u16());
            return response;
        }
        Some(FaultKind::Slow { delay_ms }) => {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        }
        Some(FaultKind::DropAfter) | None => {}
    }
    if endpoint.contains('.') || matches!(endpoint, "runliveresponse" | "isolate" | "unisolate") {
        match admit(&state, endpoint, request.headers()) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
            }
            Err(response) => {
                state
                    .world()
                    .record_response(endpoint, response.status().as_u16());
                return response;
            }
        }
    }
    let response = next.run(request).await;
    state
        .world()
        .record_response(endpoint, response.status().as_u16());
    if fault == Some(FaultKind::DropAfter) {
        return dropped_connection();
    }
    response
}

/// Authentication, permission and rate-limit checks, in the order the service applies them.
fn admit(state: &AppState, endpoint: &str, headers: &HeaderMap) -> Result<Caller, Response> {
    let mut world = state.world();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let app = token
        .and_then(|t| world.tokens.get(t))
        .filter(|t| t.expires > tokio::time::Instant::now());
    let Some(app) = app.map(|t| t.app) else {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Authorization header is missing, invalid or expired",
        ));
    };
    let app = &world.apps[app];
    let client_id = app.client_id.clone();
    if !required_roles(endpoint)
        .iter()
        .any(|role| app.roles.iter().any(|r| r == role))
    {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "The application does not have any of the required permissions: {}",
                required_roles(endpoint).join(", ")
            ),
        ));
    }
    let now = world.now();
    let verdict = if endpoint == "runliveresponse" {
        let verdict = world
            .lr_window
            .check(now)
            .map_err(|wait| (wait, "rate_limit"));
        if verdict.is_ok() || world.args.count_refused_calls {
            world.lr_window.record(now);
        }
        verdict
    } else {
        world.check_api_budget(endpoint, now)
    };
    if let Err((wait, limit)) = verdict {
        world.count_limit(limit);
        return Err(too_many_requests(
            &world,
            wait,
            "Rate limit is exceeded. Try again later",
        ));
    }
    Ok(Caller { client_id })
}

/// The documented error body: `{"error": {"code", "message", "target"}}`, target a correlation id.
fn api_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({
        "error": { "code": code, "message": message.into(), "target": uuid::Uuid::new_v4() }
    });
    (status, axum::Json(body)).into_response()
}

/// The service's answer to a body that is not the JSON it expects.
fn invalid_body() -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestBody",
        "Request body is incorrect",
    )
}

fn too_many_requests(world: &World, retry_after_secs: u64, message: &str) -> Response {
    let mut response = api_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", message);
    if world.args.send_retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    }
    response
}

fn injected_status(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::TOO_MANY_REQUESTS {
        let mut response = api_error(
            status,
            "TooManyRequests",
            "Rate limit is exceeded. Try again later",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1u64));
        return response;
    }
    // The service documents InternalServerError with no message.
    api_error(status, "InternalServerError", "")
}

/// A response whose body fails at once, so the server closes the connection mid-exchange.
fn dropped_connection() -> Response {
    let failing = futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::other(
            "connection dropped by fault injection",
        ))
    });
    Response::new(Body::from_stream(failing))
}

/// `https://host` as the client called it, for `@odata.context` and links.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("api.security.microsoft.com");
    format!("https://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_classified_case_insensitively_on_the_api_prefix() {
        assert_eq!(
            classify(&Method::POST, "/API/machines/abc/runliveresponse"),
            "runliveresponse"
        );
        assert_eq!(
            classify(
                &Method::GET,
                "/api/machineactions/x/GetLiveResponseResultDownloadLink(index=0)"
            ),
            "machineactions.resultlink"
        );
        assert_eq!(
            classify(&Method::POST, "/api/libraryfiles"),
            "libraryfiles.upload"
        );
        assert_eq!(
            classify(&Method::POST, "/tenant/oauth2/v2.0/token"),
            "token"
        );
        assert_eq!(classify(&Method::GET, "/_sim/stats"), "admin");
    }
}
