//! Results fetched again: a completed command whose result fleetlr could not write (its
//! artifact directory read-only or full) keeps the file name to write in its outcome and a time
//! to try again, until the result is captured or given up on with the reason.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::outcomes::CommandType;
use crate::runs::append_event;
use crate::{Result, Store, now, stamp};

/// Prefix of the error recorded while a result could not be written; removed once captured.
pub const NOT_CAPTURED: &str = "result not captured: ";

/// A result to fetch again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCapture {
    pub outcome_id: i64,
    pub run_id: String,
    pub target_id: i64,
    pub device_id: String,
    pub machine_action_id: String,
    pub call_index: u32,
    pub command_index: u32,
    pub command_type: CommandType,
    /// The artifact file name, as the first attempt computed it.
    pub name: String,
    /// Attempts after the first one so far.
    pub attempts: u32,
}

/// What a captured result adds to its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub artifact_path: String,
    pub sha256: String,
    pub bytes: u64,
    pub exit_code: Option<i64>,
    pub output_preview: Option<String>,
}

impl Store {
    /// Results of `tenant`'s runs due to be fetched again at `now`, oldest first.
    pub async fn due_captures(
        &self,
        tenant: &str,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingCapture>> {
        sqlx::query(
            "SELECT o.id, o.call_index, o.command_index, o.command_type, o.capture_name,
                    o.capture_attempts, t.id AS target_id, t.run_id, t.device_id,
                    s.machine_action_id
             FROM command_outcomes o
             JOIN targets t ON t.id = o.target_id
             JOIN runs r ON r.id = t.run_id
             JOIN submissions s ON s.id = o.submission_id
             WHERE o.capture_retry_at IS NOT NULL AND o.capture_retry_at <= ? AND r.tenant = ?
               AND s.machine_action_id IS NOT NULL AND o.capture_name IS NOT NULL
             ORDER BY o.capture_retry_at, o.id LIMIT ?",
        )
        .bind(stamp(now))
        .bind(tenant)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(PendingCapture {
                outcome_id: row.get("id"),
                run_id: row.get("run_id"),
                target_id: row.get("target_id"),
                device_id: row.get("device_id"),
                machine_action_id: row.get("machine_action_id"),
                call_index: row.get::<i64, _>("call_index").max(0) as u32,
                command_index: row.get::<i64, _>("command_index").max(0) as u32,
                command_type: CommandType::parse(row.get("command_type"))?,
                name: row.get("capture_name"),
                attempts: row.get::<i64, _>("capture_attempts").max(0) as u32,
            })
        })
        .collect()
    }

    /// The result was fetched again and written: the outcome gets its artifact, the error of
    /// the failed attempts goes, and the run's events say so.
    pub async fn record_capture(
        &self,
        pending: &PendingCapture,
        captured: &Captured,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let errors: String = sqlx::query_scalar("SELECT errors FROM command_outcomes WHERE id = ?")
            .bind(pending.outcome_id)
            .fetch_one(&mut *tx)
            .await?;
        let kept: Vec<String> = serde_json::from_str::<Vec<String>>(&errors)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| !e.starts_with(NOT_CAPTURED))
            .collect();
        sqlx::query(
            "UPDATE command_outcomes SET artifact_path = ?, artifact_sha256 = ?, artifact_bytes = ?,
                 exit_code = coalesce(?, exit_code), output_preview = coalesce(?, output_preview),
                 errors = ?, capture_retry_at = NULL, capture_attempts = capture_attempts + 1
             WHERE id = ?",
        )
        .bind(&captured.artifact_path)
        .bind(&captured.sha256)
        .bind(i64::try_from(captured.bytes).unwrap_or(i64::MAX))
        .bind(captured.exit_code)
        .bind(&captured.output_preview)
        .bind(serde_json::Value::from(kept).to_string())
        .bind(pending.outcome_id)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            &pending.run_id,
            Some(pending.target_id),
            "result_captured_later",
            &serde_json::json!({"outcome": pending.outcome_id, "attempts": pending.attempts + 1}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Another attempt failed: try again at `retry_at`, or, with `None`, give up and record
    /// the result as lost with `reason`.
    pub async fn capture_failed(
        &self,
        pending: &PendingCapture,
        reason: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        match retry_at {
            Some(at) => {
                sqlx::query(
                    "UPDATE command_outcomes SET capture_retry_at = ?,
                         capture_attempts = capture_attempts + 1 WHERE id = ?",
                )
                .bind(stamp(at))
                .bind(pending.outcome_id)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                let lost = format!("result lost: {reason}");
                sqlx::query(
                    "UPDATE command_outcomes SET capture_retry_at = NULL,
                         capture_attempts = capture_attempts + 1,
                         errors = json_insert(errors, '$[#]', ?) WHERE id = ?",
                )
                .bind(&lost)
                .bind(pending.outcome_id)
                .execute(&mut *tx)
                .await?;
                append_event(
                    &mut tx,
                    &pending.run_id,
                    Some(pending.target_id),
                    "result_lost",
                    &serde_json::json!({"outcome": pending.outcome_id, "reason": reason, "at": now()}),
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
