//! Alert webhooks: `POST /hooks/{name}` receives an alert from a SOC tool and starts the
//! response playbooks its rules choose on the alerted devices, each run stored before the 202.
//! Credentials (`verify`) are per hook and separate from API tokens: a hook can only trigger
//! the rules that take its alerts. Payloads are read by the hook's mapping and rules decide
//! (both pure, in `fleetlr-hooks`); `deliver` claims each (alert, device, rule) once (dedup
//! and cooldown live in the store) and records every delivery. Operators get a dry run
//! (`POST /api/v1/hooks/{name}/test`) and the delivery log (`GET /api/v1/alerts`).

mod deliver;
pub mod verify;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fleetlr_engine::Engine;
use fleetlr_store::Role;
use serde::Deserialize;

pub use fleetlr_hooks::{
    Alert, AlertDevice, FieldTemplate, Format, Mapping, Pointer, Rule, Severity,
};
pub use verify::{Credential, HmacCredential, VerifyError, sign};

use crate::api::{AlertDeliveryView, ErrorBody, HookAccepted, HookTest};
use crate::auth::Caller;
use crate::error::{Answer, ApiError};

/// Largest delivery accepted: alerts with their evidence are a few KiB.
pub const MAX_HOOK_BODY_BYTES: usize = 256 * 1024;

/// One configured hook.
#[derive(Debug, Clone)]
pub struct Hook {
    /// The last segment of its URL, `/hooks/{name}`.
    pub name: String,
    pub credential: Credential,
    pub mapping: Mapping,
}

/// The hooks and rules the daemon serves; empty when none are configured.
#[derive(Debug, Default)]
pub struct HookSetup {
    hooks: BTreeMap<String, Hook>,
    rules: Vec<Rule>,
}

impl HookSetup {
    pub fn new(hooks: Vec<Hook>, rules: Vec<Rule>) -> Self {
        Self {
            hooks: hooks.into_iter().map(|h| (h.name.clone(), h)).collect(),
            rules,
        }
    }

    fn hook(&self, name: &str) -> Result<&Hook, ApiError> {
        self.hooks.get(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "hook_not_found",
                format!("no hook named `{name}` is configured"),
            )
        })
    }
}

#[utoipa::path(post, path = "/hooks/{name}", tag = "hooks", security(()), params(("name" = String, Path, description = "the hook, as configured")), request_body(content = Object, content_type = "application/json", description = "the alert, in the hook's format; signed with the hook's HMAC secret (`X-Fleetlr-Timestamp`, `X-Fleetlr-Signature: sha256=<hex of HMAC-SHA256(timestamp + \".\" + body)>`) or with its bearer secret"), responses((status = 202, description = "stored: the runs started, and what became of the alert per device and rule (ignored alerts too)", body = HookAccepted), (status = 400, description = "not JSON", body = ErrorBody), (status = 401, description = "bad or missing signature or secret, or a stale timestamp", body = ErrorBody), (status = 404, description = "no such hook", body = ErrorBody), (status = 413, description = "body over 256 KiB", body = ErrorBody), (status = 415, description = "not application/json", body = ErrorBody), (status = 503, description = "a run could not be created for now; deliver the alert again", body = ErrorBody)))]
pub(crate) async fn receive(
    State(engine): State<Engine>,
    Extension(setup): Extension<Arc<HookSetup>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let hook = match setup.hook(&name) {
        Ok(hook) => hook,
        Err(err) => return err.into_response(),
    };
    let delivery = uuid::Uuid::new_v4().to_string();
    match deliver::accept(&engine, hook, &delivery, request).await {
        Ok(payload) => match deliver::deliver(&engine, &setup, hook, &delivery, &payload).await {
            Ok(accepted) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
            Err(err) => err.into_response(),
        },
        Err(err) => err.into_response(),
    }
}

#[utoipa::path(post, path = "/api/v1/hooks/{name}/test", tag = "hooks", params(("name" = String, Path, description = "the hook, as configured")), request_body(content = Object, description = "an alert payload, in the hook's format"), responses((status = 200, description = "which rules would fire and the runs they would create; nothing is created", body = HookTest), (status = 404, description = "no such hook", body = ErrorBody), (status = 400, description = "not JSON", body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn test_hook(
    State(engine): State<Engine>,
    Extension(setup): Extension<Arc<HookSetup>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Answer<Json<HookTest>> {
    caller.require(Role::Operator)?;
    let hook = setup.hook(&name)?;
    let Json(payload) = body.map_err(|rejection| {
        ApiError::new(rejection.status(), "invalid_body", rejection.body_text())
    })?;
    Ok(Json(
        deliver::dry_run(&engine, &setup, hook, &payload).await,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertsQuery {
    #[serde(default = "crate::runs::default_limit")]
    limit: u32,
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "hooks", params(("limit" = Option<u32>, Query, description = "at most this many, newest first (default 50)")), responses((status = 200, description = "recent deliveries to alert webhooks: outcome, reason and run, per device and rule", body = Vec<AlertDeliveryView>), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn list_alerts(
    State(engine): State<Engine>,
    caller: Caller,
    Query(query): Query<AlertsQuery>,
) -> Answer<Json<Vec<AlertDeliveryView>>> {
    caller.require(Role::Viewer)?;
    let deliveries = engine
        .store()
        .deliveries(query.limit.clamp(1, 1000))
        .await?;
    Ok(Json(
        deliveries
            .into_iter()
            .map(|d| AlertDeliveryView {
                id: d.id,
                delivery: d.delivery,
                received_at: d.received_at,
                hook: d.hook,
                alert_id: d.alert_id,
                device_id: d.device_id,
                rule: d.rule,
                outcome: d.outcome.as_str().to_owned(),
                reason: d.reason,
                run_id: d.run_id,
            })
            .collect(),
    ))
}

/// Whether a request says its body is JSON (`application/json`, or a `+json` type).
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| {
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
}
