//! The transitions the scheduler makes, each one transaction with its event, so a crash at any
//! moment leaves every target in a state the scheduler can resume from.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::outcomes::{self, NewOutcome};
use crate::runs::{
    Run, RunState, Target, TargetState, append_event, run_from_row, target_from_row,
};
use crate::{Result, Store, StoreError, now, stamp};

/// How a target goes on after one of its calls ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnd {
    /// The target continues with call `next_call` (its commands completed, or a failure the
    /// playbook lets pass).
    Continue { next_call: u32 },
    /// The target is done, in this final state.
    Ends(TargetState),
    /// The device never picked the action up and it was withdrawn before any command started:
    /// the same call is tried again at `retry_at`.
    DeviceOffline { retry_at: DateTime<Utc> },
}

impl Store {
    /// A tenant's runs that still have work or may get some (queued, running, paused, cancelling).
    pub async fn open_runs(&self, tenant: &str) -> Result<Vec<Run>> {
        sqlx::query(
            "SELECT * FROM runs WHERE tenant = ? AND state IN ('queued', 'running', 'paused', 'cancelling')
             ORDER BY created_at, id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(run_from_row)
        .collect()
    }

    /// Up to `limit` targets of a run in `state` whose next attempt is due at `at`, in the order
    /// they should go out: next calls of devices that finished one first (they were online a
    /// moment ago, and each shortens a device's chain), then first calls of devices not tried
    /// yet, and first calls of devices whose action was withdrawn as offline last, so probing
    /// for their return only uses capacity the rest of the run leaves free; within each,
    /// earliest due first.
    pub async fn due_targets(
        &self,
        run_id: &str,
        state: TargetState,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Target>> {
        sqlx::query(
            "SELECT * FROM targets WHERE run_id = ? AND state = ?
               AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
             ORDER BY call_index = 0, offline_count > 0, next_attempt_at IS NOT NULL,
                      next_attempt_at, id LIMIT ?",
        )
        .bind(run_id)
        .bind(state.as_str())
        .bind(stamp(at))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(target_from_row)
        .collect()
    }

    /// Whether any submission was ever recorded for the run.
    pub async fn run_has_submissions(&self, run_id: &str) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM submissions s JOIN targets t ON t.id = s.target_id WHERE t.run_id = ?)",
        )
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Targets of open runs per tenant and state, for metrics.
    pub async fn open_target_counts(&self) -> Result<Vec<(String, TargetState, u64)>> {
        sqlx::query(
            "SELECT r.tenant, t.state, COUNT(*) AS n FROM targets t JOIN runs r ON r.id = t.run_id
             WHERE r.state IN ('queued', 'running', 'paused', 'cancelling')
             GROUP BY r.tenant, t.state ORDER BY r.tenant, t.state",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.get("tenant"),
                TargetState::parse(row.get("state"))?,
                row.get::<i64, _>("n").max(0) as u64,
            ))
        })
        .collect()
    }

    /// The first `n` targets of a run (its canaries).
    pub async fn first_targets(&self, run_id: &str, n: u32) -> Result<Vec<Target>> {
        sqlx::query("SELECT * FROM targets WHERE run_id = ? ORDER BY id LIMIT ?")
            .bind(run_id)
            .bind(i64::from(n))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(target_from_row)
            .collect()
    }

    /// Lifts a run's canary and circuit breaker: an operator resumed it after they tripped.
    pub async fn clear_guards(&self, run_id: &str) -> Result<()> {
        sqlx::query("UPDATE runs SET canary = NULL, max_failure_percent = NULL, updated_at = ? WHERE id = ?")
            .bind(now())
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn target(&self, target_id: i64) -> Result<Target> {
        sqlx::query("SELECT * FROM targets WHERE id = ?")
            .bind(target_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| target_from_row(&row))
            .transpose()?
            .ok_or_else(|| StoreError::NotFound {
                what: "target",
                id: target_id.to_string(),
            })
    }

    /// Records how an accepted call ended: its final action status, every command's outcome,
    /// and where the target goes next.
    pub async fn finish_call(
        &self,
        submission_id: i64,
        action_status: &str,
        outcomes: &[NewOutcome],
        end: &CallEnd,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "SELECT t.id, t.run_id FROM submissions s JOIN targets t ON t.id = s.target_id
             WHERE s.id = ? AND s.state = 'accepted'",
        )
        .bind(submission_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "accepted submission",
            id: submission_id.to_string(),
        })?;
        let (target_id, run_id): (i64, String) = (row.get("id"), row.get("run_id"));
        sqlx::query("UPDATE submissions SET action_status = ? WHERE id = ?")
            .bind(action_status)
            .bind(submission_id)
            .execute(&mut *tx)
            .await?;
        for outcome in outcomes {
            outcomes::insert(&mut tx, target_id, Some(submission_id), outcome).await?;
        }
        let at = now();
        let (kind, detail) = match end {
            CallEnd::Continue { next_call } => {
                sqlx::query(
                    "UPDATE targets SET state = 'pending', call_index = ?, next_attempt_at = NULL,
                         updated_at = ? WHERE id = ?",
                )
                .bind(i64::from(*next_call))
                .bind(&at)
                .bind(target_id)
                .execute(&mut *tx)
                .await?;
                (
                    "call_ended",
                    serde_json::json!({"status": action_status, "next_call": next_call}),
                )
            }
            CallEnd::Ends(state) => {
                finish_target(&mut tx, target_id, *state, None, &at).await?;
                (
                    "target_ended",
                    serde_json::json!({"status": action_status, "state": state.as_str()}),
                )
            }
            CallEnd::DeviceOffline { retry_at } => {
                sqlx::query(
                    "UPDATE targets SET state = 'waiting_offline', next_attempt_at = ?,
                         offline_count = offline_count + 1, last_error = ?, updated_at = ? WHERE id = ?",
                )
                .bind(stamp(*retry_at))
                .bind("the device did not pick up the action; it looks offline")
                .bind(&at)
                .bind(target_id)
                .execute(&mut *tx)
                .await?;
                (
                    "device_offline",
                    serde_json::json!({"status": action_status, "retry_at": stamp(*retry_at)}),
                )
            }
        };
        append_event(&mut tx, &run_id, Some(target_id), kind, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts a target (not in flight) back in the queue: `Pending` (due at `retry_at`) or
    /// `WaitingOffline` (MDE reports its device inactive). Only a withdrawn action counts towards
    /// the device's offline back-off (`finish_call`); looking a device up costs no session.
    pub async fn defer_target(
        &self,
        target_id: i64,
        state: TargetState,
        retry_at: Option<DateTime<Utc>>,
        reason: &str,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let run_id: String = sqlx::query_scalar(
            "UPDATE targets SET state = ?, next_attempt_at = ?, last_error = ?, updated_at = ?
             WHERE id = ? AND state IN ('pending', 'waiting_offline') RETURNING run_id",
        )
        .bind(state.as_str())
        .bind(retry_at.map(stamp))
        .bind(reason)
        .bind(now())
        .bind(target_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "queued target",
            id: target_id.to_string(),
        })?;
        let detail = serde_json::json!({"state": state.as_str(), "retry_at": retry_at.map(stamp), "reason": reason});
        append_event(
            &mut tx,
            &run_id,
            Some(target_id),
            "target_deferred",
            &detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a target that has no action in flight (expired, cancelled while queued, or failed
    /// by a refusal), recording an outcome for each command it will now never run.
    pub async fn end_target(
        &self,
        target_id: i64,
        state: TargetState,
        reason: &str,
        outcomes: &[NewOutcome],
    ) -> Result<()> {
        self.end_targets(state, reason, &[(target_id, outcomes.to_vec())])
            .await
    }

    /// Ends many targets as `end_target` does, in one transaction: a cancelled or expired run
    /// of 100,000 queued devices is ended in batches, not with a disk flush per device.
    pub async fn end_targets(
        &self,
        state: TargetState,
        reason: &str,
        ends: &[(i64, Vec<NewOutcome>)],
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let at = now();
        let detail = serde_json::json!({"state": state.as_str(), "reason": reason});
        for (target_id, outcomes) in ends {
            let run_id: Option<String> = sqlx::query_scalar(
                "SELECT run_id FROM targets WHERE id = ? AND state IN ('pending', 'waiting_offline', 'submitting')",
            )
            .bind(target_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(run_id) = run_id else {
                // Already ended (or in flight): nothing to do, which keeps this idempotent.
                continue;
            };
            for outcome in outcomes {
                outcomes::insert(&mut tx, *target_id, None, outcome).await?;
            }
            finish_target(&mut tx, *target_id, state, Some(reason), &at).await?;
            append_event(&mut tx, &run_id, Some(*target_id), "target_ended", &detail).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Moves a run to `state`, with the reason in its event log (and as the pause reason).
    pub async fn set_run_state(&self, run_id: &str, state: RunState, reason: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let at = now();
        let updated = sqlx::query(
            "UPDATE runs SET state = ?, pause_reason = CASE WHEN ? = 'paused' THEN ? ELSE NULL END,
                 updated_at = ?, finished_at = CASE WHEN ? IN ('finished', 'cancelled') THEN ? ELSE NULL END
             WHERE id = ?",
        )
        .bind(state.as_str())
        .bind(state.as_str())
        .bind(reason)
        .bind(&at)
        .bind(state.as_str())
        .bind(&at)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "run",
                id: run_id.to_owned(),
            });
        }
        let detail = serde_json::json!({"state": state.as_str(), "reason": reason});
        append_event(&mut tx, run_id, None, "run_state", &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queues a run's failed, timed-out and expired targets again, from the call that did not
    /// succeed. Returns how many; a finished run is running again when there are any.
    pub async fn retry_targets(&self, run_id: &str, requested_by: &str) -> Result<u64> {
        let mut tx = self.write().await?;
        let at = now();
        let retried = sqlx::query(
            "UPDATE targets SET state = 'pending', next_attempt_at = NULL, offline_count = 0,
                 finished_at = NULL, updated_at = ?
             WHERE run_id = ? AND state IN ('failed', 'timed_out', 'expired')",
        )
        .bind(&at)
        .bind(run_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if retried > 0 {
            sqlx::query(
                "UPDATE runs SET state = 'running', finished_at = NULL, updated_at = ?
                 WHERE id = ? AND state = 'finished'",
            )
            .bind(&at)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        }
        let detail = serde_json::json!({"targets": retried, "by": requested_by});
        append_event(&mut tx, run_id, None, "run_retried", &detail).await?;
        tx.commit().await?;
        Ok(retried)
    }
}

async fn finish_target(
    conn: &mut sqlx::SqliteConnection,
    target_id: i64,
    state: TargetState,
    reason: Option<&str>,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE targets SET state = ?, next_attempt_at = NULL, last_error = COALESCE(?, last_error),
             updated_at = ?, finished_at = ? WHERE id = ?",
    )
    .bind(state.as_str())
    .bind(reason)
    .bind(at)
    .bind(at)
    .bind(target_id)
    .execute(conn)
    .await?;
    Ok(())
}
