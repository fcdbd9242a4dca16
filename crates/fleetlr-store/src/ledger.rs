//! The exactly-once submission ledger.
//!
//! Protocol: `record_intent` commits a row (and the marker for the action's Comment) *before*
//! the runliveresponse POST; the answer resolves it with `record_accepted` or `record_refused`.
//! A crash in between leaves the row `intended`: `open_intents` lists those for reconciliation
//! against the API, which finds the marker or proves the POST never landed.

use crate::runs::{TargetState, append_event, text_enum};
use crate::{Result, Store, StoreError, now, parse_stamp, stamp};
use chrono::{DateTime, Utc};
use sqlx::Row;

text_enum!(
    SubmissionState, "submissions.state" { Intended = "intended", Accepted = "accepted", Refused = "refused" }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub id: i64,
    pub tenant: String,
    pub run_id: String,
    pub target_id: i64,
    pub device_id: String,
    pub call_index: u32,
    pub attempt: u32,
    /// Goes into the MDE `Comment`; unique across all submissions ever made.
    pub marker: String,
    pub state: SubmissionState,
    pub machine_action_id: Option<String>,
    pub intended_at: String,
}

/// The submission columns joined with their target; `$tail` adds the WHERE clause. A macro so
/// the statement stays a compile-time constant, as sqlx requires.
macro_rules! select_submissions {
    ($tail:literal) => {
        concat!("SELECT s.id, r.tenant, t.run_id, s.target_id, t.device_id, s.call_index, s.attempt, s.marker, s.state, s.machine_action_id, s.intended_at FROM submissions s JOIN targets t ON t.id = s.target_id JOIN runs r ON r.id = t.run_id", " ", $tail)
    };
}

impl Store {
    /// Durably records the intent to submit call `call_index` for a target, before the POST.
    pub async fn record_intent(&self, target_id: i64, call_index: u32) -> Result<Submission> {
        let mut tx = self.write().await?;
        let run_id: Option<String> = sqlx::query_scalar("SELECT run_id FROM targets WHERE id = ?")
            .bind(target_id)
            .fetch_optional(&mut *tx)
            .await?;
        let run_id = run_id.ok_or_else(|| StoreError::NotFound {
            what: "target",
            id: target_id.to_string(),
        })?;
        let attempt: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(attempt), 0) + 1 FROM submissions WHERE target_id = ? AND call_index = ?",
        )
        .bind(target_id)
        .bind(i64::from(call_index))
        .fetch_one(&mut *tx)
        .await?;
        let marker = format!("fleetlr:{run_id}:{target_id}:{call_index}:{attempt}");
        let at = now();
        sqlx::query(
            "INSERT INTO submissions (target_id, call_index, attempt, marker, state, intended_at)
             VALUES (?, ?, ?, ?, 'intended', ?)",
        )
        .bind(target_id)
        .bind(i64::from(call_index))
        .bind(attempt)
        .bind(&marker)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE targets SET state = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
        )
        .bind(TargetState::Submitting.as_str())
        .bind(&at)
        .bind(target_id)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            &run_id,
            Some(target_id),
            "submission_intended",
            &serde_json::json!({"marker": marker}),
        )
        .await?;
        let submission = fetch(&mut tx, &marker).await?;
        tx.commit().await?;
        Ok(submission)
    }

    /// The API created the action: the target is in flight under `machine_action_id`.
    pub async fn record_accepted(&self, submission_id: i64, machine_action_id: &str) -> Result<()> {
        self.resolve(
            submission_id,
            SubmissionState::Accepted,
            Some(machine_action_id),
            None,
            (TargetState::InFlight, None),
        )
        .await
    }

    /// The API refused the call, or reconciliation proved it never landed: nothing ran, and the
    /// target is due again at `retry_at` (at once when `None`).
    pub async fn record_refused(
        &self,
        submission_id: i64,
        refusal: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        self.resolve(
            submission_id,
            SubmissionState::Refused,
            None,
            Some(refusal),
            (TargetState::Pending, retry_at.map(stamp)),
        )
        .await
    }

    async fn resolve(
        &self,
        submission_id: i64,
        state: SubmissionState,
        machine_action_id: Option<&str>,
        refusal: Option<&str>,
        (target_state, next_attempt_at): (TargetState, Option<String>),
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let at = now();
        let updated = sqlx::query(
            "UPDATE submissions SET state = ?, machine_action_id = ?, refusal = ?, resolved_at = ?
             WHERE id = ? AND state = 'intended'",
        )
        .bind(state.as_str())
        .bind(machine_action_id)
        .bind(refusal)
        .bind(&at)
        .bind(submission_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            let current: Option<String> =
                sqlx::query_scalar("SELECT state FROM submissions WHERE id = ?")
                    .bind(submission_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match current {
                Some(state) => StoreError::AlreadyResolved {
                    id: submission_id,
                    state,
                },
                None => StoreError::NotFound {
                    what: "submission",
                    id: submission_id.to_string(),
                },
            });
        }
        let row = sqlx::query("SELECT t.id, t.run_id FROM submissions s JOIN targets t ON t.id = s.target_id WHERE s.id = ?")
            .bind(submission_id)
            .fetch_one(&mut *tx)
            .await?;
        let (target_id, run_id): (i64, String) = (row.get("id"), row.get("run_id"));
        sqlx::query("UPDATE targets SET state = ?, next_attempt_at = ?, last_error = COALESCE(?, last_error), updated_at = ? WHERE id = ?")
            .bind(target_state.as_str())
            .bind(next_attempt_at)
            .bind(refusal)
            .bind(&at)
            .bind(target_id)
            .execute(&mut *tx)
            .await?;
        let detail = serde_json::json!({"submission": submission_id, "machine_action_id": machine_action_id, "refusal": refusal});
        append_event(
            &mut tx,
            &run_id,
            Some(target_id),
            &format!("submission_{}", state.as_str()),
            &detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A tenant's submissions whose POST may or may not have reached the API (a crash or a
    /// lost answer came in between).
    pub async fn open_intents(&self, tenant: &str) -> Result<Vec<Submission>> {
        sqlx::query(select_submissions!(
            "WHERE s.state = 'intended' AND r.tenant = ? ORDER BY s.id"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(submission_from_row)
        .collect()
    }

    /// When the answers to a tenant's last `limit` submissions were recorded, newest first
    /// (`None`: no answer yet): each POST still counts against the service's call window after
    /// a restart, at the latest from its answer.
    pub async fn recent_call_answers(
        &self,
        tenant: &str,
        limit: u32,
    ) -> Result<Vec<Option<DateTime<Utc>>>> {
        let stamps: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT s.resolved_at FROM submissions s JOIN targets t ON t.id = s.target_id \
             JOIN runs r ON r.id = t.run_id WHERE r.tenant = ? ORDER BY s.id DESC LIMIT ?",
        )
        .bind(tenant)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(stamps
            .iter()
            .map(|s| s.as_deref().and_then(parse_stamp))
            .collect())
    }

    /// A tenant's accepted submissions whose target still waits for the action to end.
    pub async fn in_flight(&self, tenant: &str) -> Result<Vec<Submission>> {
        sqlx::query(select_submissions!(
            "WHERE s.state = 'accepted' AND s.action_status IS NULL AND t.state = 'in_flight' AND r.tenant = ? ORDER BY s.id"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(submission_from_row)
        .collect()
    }
}

async fn fetch(conn: &mut sqlx::SqliteConnection, marker: &str) -> Result<Submission> {
    let row = sqlx::query(select_submissions!("WHERE s.marker = ?"))
        .bind(marker)
        .fetch_one(conn)
        .await?;
    submission_from_row(&row)
}

fn submission_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Submission> {
    Ok(Submission {
        id: row.get("id"),
        run_id: row.get("run_id"),
        target_id: row.get("target_id"),
        device_id: row.get("device_id"),
        call_index: row.get::<i64, _>("call_index").max(0) as u32,
        attempt: row.get::<i64, _>("attempt").max(0) as u32,
        marker: row.get("marker"),
        state: SubmissionState::parse(row.get("state"))?,
        machine_action_id: row.get("machine_action_id"),
        intended_at: row.get("intended_at"),
        tenant: row.get("tenant"),
    })
}
