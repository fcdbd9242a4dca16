//! API tokens (stored as SHA-256 hashes, never in clear) and the audit log.

use crate::runs::text_enum;
use crate::{Result, Store, StoreError, now};
use sqlx::Row;

text_enum!(
    /// What a token may do: `viewer` reads, `operator` also starts and controls runs and
    /// downloads artifacts, `admin` also manages tokens.
    Role, "api_tokens.role" { Viewer = "viewer", Operator = "operator", Admin = "admin" }
);

/// A token as stored (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub created_by: String,
    pub revoked_at: Option<String>,
}

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub subject: Option<String>,
    pub outcome: String,
    pub detail: serde_json::Value,
}

impl Store {
    /// Stores a new token by the SHA-256 of its secret. Names are unique.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        sha256: &str,
        created_by: &str,
    ) -> Result<ApiToken> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, role, token_sha256, created_at, created_by) VALUES (?, ?, ?, ?, ?)
             RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(sha256)
        .bind(now())
        .bind(created_by)
        .fetch_one(&self.pool)
        .await
        .map_err(|err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(format!("a token named `{name}` exists")),
            _ => StoreError::Query(err),
        })?;
        self.tokens()
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| StoreError::NotFound {
                what: "token",
                id: id.to_string(),
            })
    }

    /// The live (not revoked) token whose secret hashes to `sha256`.
    pub async fn token_by_hash(&self, sha256: &str) -> Result<Option<ApiToken>> {
        sqlx::query("SELECT * FROM api_tokens WHERE token_sha256 = ? AND revoked_at IS NULL")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| token_from_row(&row))
            .transpose()
    }

    pub async fn tokens(&self) -> Result<Vec<ApiToken>> {
        sqlx::query("SELECT * FROM api_tokens ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(token_from_row)
            .collect()
    }

    /// Revokes a token by name; it stops working at once.
    pub async fn revoke_token(&self, name: &str) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(name)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "live token",
                id: name.to_owned(),
            });
        }
        Ok(())
    }

    /// Appends to the audit log.
    pub async fn audit(
        &self,
        actor: &str,
        role: &str,
        action: &str,
        subject: Option<&str>,
        outcome: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, role, action, subject, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(now())
        .bind(actor)
        .bind(role)
        .bind(action)
        .bind(subject)
        .bind(outcome)
        .bind(detail.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest audit entries first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        sqlx::query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.get("id"),
                    at: row.get("at"),
                    actor: row.get("actor"),
                    role: row.get("role"),
                    action: row.get("action"),
                    subject: row.get("subject"),
                    outcome: row.get("outcome"),
                    detail: crate::runs::json_column(row, "detail"),
                })
            })
            .collect()
    }
}

fn token_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: row.get("id"),
        name: row.get("name"),
        role: Role::parse(row.get("role"))?,
        created_at: row.get("created_at"),
        created_by: row.get("created_by"),
        revoked_at: row.get("revoked_at"),
    })
}
