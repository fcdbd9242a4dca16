//! Tokens (admin) and the audit log: who may do what, and what they did.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use fleetlr_engine::Engine;
use fleetlr_store::{Role, StoreError};

use crate::api::{AuditView, CreatedToken, ErrorBody, NewToken, TokenView};
use crate::auth::{self, Caller};
use crate::error::{Answer, ApiError};
use crate::runs::ListQuery;

/// Writes the audit entry of a state-changing request, whatever its outcome, and passes the
/// outcome on. A request whose audit entry cannot be written fails, except while the database
/// is busy or full: the request's own change is committed by then (a 503 would make the caller
/// repeat it), so the answer stands and the entry is written as soon as the database takes it.
pub(crate) async fn audited<T>(
    engine: &Engine,
    caller: &Caller,
    action: &str,
    subject: Option<&str>,
    outcome: Answer<T>,
) -> Answer<T> {
    let (result, detail) = match &outcome {
        Ok(_) => ("ok", serde_json::json!({})),
        Err(err) => (
            "refused",
            serde_json::json!({"status": err.status.as_u16(), "code": err.code}),
        ),
    };
    let entry = AuditWrite {
        actor: caller.name.clone(),
        role: caller.role.as_str(),
        action: action.to_owned(),
        subject: subject.map(str::to_owned),
        result,
        detail,
    };
    match entry.write(engine).await {
        Ok(()) => {}
        Err(err) if err.unavailable().is_some() => {
            tracing::warn!(error = %err, action, "audit entry deferred until the database takes writes again");
            let engine = engine.clone();
            tokio::spawn(async move { entry.write_eventually(&engine).await });
        }
        Err(err) => return Err(err.into()),
    }
    outcome
}

/// One audit entry, owned so that it can wait for the database.
struct AuditWrite {
    actor: String,
    role: &'static str,
    action: String,
    subject: Option<String>,
    result: &'static str,
    detail: serde_json::Value,
}

impl AuditWrite {
    async fn write(&self, engine: &Engine) -> Result<(), StoreError> {
        engine
            .store()
            .audit(
                &self.actor,
                self.role,
                &self.action,
                self.subject.as_deref(),
                self.result,
                &self.detail,
            )
            .await
    }

    /// Retries while the database is unavailable; the entry is lost only to a lasting fault,
    /// which is logged.
    async fn write_eventually(self, engine: &Engine) {
        loop {
            tokio::time::sleep(AUDIT_RETRY).await;
            match self.write(engine).await {
                Ok(()) => return,
                Err(err) if err.unavailable().is_some() => {}
                Err(err) => {
                    tracing::error!(error = %err, action = %self.action, actor = %self.actor, "a deferred audit entry could not be written");
                    return;
                }
            }
        }
    }
}

/// How often a deferred audit entry is tried again.
const AUDIT_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

#[utoipa::path(get, path = "/api/v1/tokens", tag = "access", responses((status = 200, body = Vec<TokenView>), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn list_tokens(
    State(engine): State<Engine>,
    caller: Caller,
) -> Answer<Json<Vec<TokenView>>> {
    caller.require(Role::Admin)?;
    let tokens = engine.store().tokens().await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "access", request_body = NewToken, responses((status = 201, description = "the token, shown this once", body = CreatedToken), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn create_token(
    State(engine): State<Engine>,
    caller: Caller,
    body: Result<Json<NewToken>, JsonRejection>,
) -> Answer<(StatusCode, Json<CreatedToken>)> {
    let outcome = async {
        caller.require(Role::Admin)?;
        let Json(body) =
            body.map_err(|r| ApiError::new(r.status(), "invalid_body", r.body_text()))?;
        let role = Role::parse(&body.role).map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_role",
                format!("role `{}` is not viewer, operator or admin", body.role),
            )
        })?;
        if let Some(problem) = auth::token_name_problem(&body.name) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_name",
                problem,
            ));
        }
        let (token, hash) = auth::new_token();
        let created = engine
            .store()
            .create_token(&body.name, role, &hash, &caller.name)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(message) => {
                    ApiError::new(StatusCode::CONFLICT, "token_exists", message)
                }
                other => ApiError::from(other),
            })?;
        Ok((
            StatusCode::CREATED,
            Json(CreatedToken {
                token,
                info: created.into(),
            }),
        ))
    }
    .await;
    audited(&engine, &caller, "token.create", None, outcome).await
}

#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "access", params(("name" = String, Path, description = "token name")), responses((status = 204, description = "revoked"), (status = 404, body = ErrorBody), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn revoke_token(
    State(engine): State<Engine>,
    caller: Caller,
    UrlPath(name): UrlPath<String>,
) -> Answer<StatusCode> {
    let outcome = async {
        caller.require(Role::Admin)?;
        engine.store().revoke_token(&name).await?;
        Ok(StatusCode::NO_CONTENT)
    }
    .await;
    audited(&engine, &caller, "token.revoke", Some(&name), outcome).await
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "access", params(("limit" = Option<u32>, Query, description = "at most this many, newest first")), responses((status = 200, body = Vec<AuditView>), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "role not enough", body = ErrorBody)))]
pub(crate) async fn audit_log(
    State(engine): State<Engine>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Answer<Json<Vec<AuditView>>> {
    caller.require(Role::Admin)?;
    let entries = engine
        .store()
        .audit_log(query.limit.clamp(1, 10_000))
        .await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AuditView {
                id: e.id,
                at: e.at,
                actor: e.actor,
                role: e.role,
                action: e.action,
                subject: e.subject,
                outcome: e.outcome,
                detail: e.detail,
            })
            .collect(),
    ))
}
