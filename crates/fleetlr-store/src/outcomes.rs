//! What each command of a target ended as, with the evidence (exit code, output, artifact).

use crate::runs::Page;
use crate::runs::text_enum;
use crate::{Result, Store, now};
use sqlx::Row;

text_enum!(
    /// How a command ended.
    OutcomeKind, "command_outcomes.outcome" {
        Completed = "completed", Failed = "failed", NotExecuted = "not_executed",
        TimedOut = "timed_out", Cancelled = "cancelled", Expired = "expired",
    }
);
text_enum!(
    CommandType, "command_outcomes.command_type" {
        PutFile = "PutFile", RunScript = "RunScript", GetFile = "GetFile",
    }
);

/// An outcome to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutcome {
    pub call_index: u32,
    pub command_index: u32,
    pub step_id: String,
    pub command_type: CommandType,
    pub outcome: OutcomeKind,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub errors: Vec<String>,
    pub exit_code: Option<i64>,
    pub output_preview: Option<String>,
    /// Relative to the artifact directory.
    pub artifact_path: Option<String>,
    pub artifact_sha256: Option<String>,
    pub artifact_bytes: Option<u64>,
    /// The artifact file name of a result that could not be written locally: it is fetched
    /// again (`Store::due_captures`) until captured or given up on.
    pub capture_retry: Option<String>,
}

/// A recorded outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    pub id: i64,
    pub target_id: i64,
    pub device_id: String,
    pub machine_action_id: Option<String>,
    pub attempt: Option<u32>,
    pub recorded_at: String,
    pub outcome: NewOutcome,
}

macro_rules! select_outcomes {
    ($tail:literal) => {
        concat!(
            "SELECT o.*, t.device_id, s.machine_action_id, s.attempt FROM command_outcomes o
             JOIN targets t ON t.id = o.target_id LEFT JOIN submissions s ON s.id = o.submission_id",
            " ",
            $tail
        )
    };
}

impl Store {
    /// Every outcome of a run, by target and then oldest first (a retried step has one per
    /// attempt). Only for runs known to be small (tests); what an operator asks for is read
    /// with `outcomes_page` or `outcomes_of_targets`.
    pub async fn outcomes(&self, run_id: &str) -> Result<Vec<CommandOutcome>> {
        self.outcomes_page(run_id, None, Page::first(u32::MAX))
            .await
    }

    /// One page of a run's outcomes, by target and then oldest first; only one device's when
    /// `device` is given. `page.after` is the id of the last outcome of the page before.
    pub async fn outcomes_page(
        &self,
        run_id: &str,
        device: Option<&str>,
        page: Page,
    ) -> Result<Vec<CommandOutcome>> {
        // Outcomes go by (target, id), so the page after outcome X starts at X's target: its
        // later outcomes, then every later target's. `t.id >= ?` lets the read start there.
        let after = match page.after {
            None => (i64::MIN, i64::MIN),
            Some(id) => match sqlx::query("SELECT target_id FROM command_outcomes WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
            {
                Some(row) => (row.get::<i64, _>("target_id"), id),
                // Gone with its run (retention): nothing of that run is left to page through.
                None => return Ok(Vec::new()),
            },
        };
        // Ordered by t.id (the same as o.target_id) so SQLite walks the run's targets in index
        // order and stops after the page, instead of sorting every outcome of the run first.
        // A device's own statement reads it by (run_id, device_id).
        let query = match device {
            Some(device) => sqlx::query(select_outcomes!(
                "WHERE t.run_id = ? AND t.device_id = ?
                   AND t.id >= ? AND (o.target_id > ? OR o.id > ?)
                 ORDER BY t.id, o.id LIMIT ? OFFSET ?"
            ))
            .bind(run_id)
            .bind(device),
            None => sqlx::query(select_outcomes!(
                "WHERE t.run_id = ? AND t.id >= ? AND (o.target_id > ? OR o.id > ?)
                 ORDER BY t.id, o.id LIMIT ? OFFSET ?"
            ))
            .bind(run_id),
        };
        page.bind_bounds(query.bind(after.0).bind(after.0).bind(after.1))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(outcome_from_row)
            .collect()
    }

    /// The outcomes of some of a run's targets (one page of them), by target and then oldest
    /// first.
    pub async fn outcomes_of_targets(
        &self,
        run_id: &str,
        targets: &[i64],
    ) -> Result<Vec<CommandOutcome>> {
        let ids = serde_json::Value::from(targets.to_vec()).to_string();
        sqlx::query(select_outcomes!(
            "WHERE t.run_id = ? AND o.target_id IN (SELECT value FROM json_each(?))
             ORDER BY t.id, o.id"
        ))
        .bind(run_id)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(outcome_from_row)
        .collect()
    }

    /// One outcome of a run, e.g. to serve its artifact.
    pub async fn outcome(&self, run_id: &str, outcome_id: i64) -> Result<CommandOutcome> {
        sqlx::query(select_outcomes!("WHERE t.run_id = ? AND o.id = ?"))
            .bind(run_id)
            .bind(outcome_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| outcome_from_row(&row))
            .transpose()?
            .ok_or_else(|| crate::StoreError::NotFound {
                what: "outcome",
                id: outcome_id.to_string(),
            })
    }
}

pub(crate) async fn insert(
    conn: &mut sqlx::SqliteConnection,
    target_id: i64,
    submission_id: Option<i64>,
    outcome: &NewOutcome,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO command_outcomes (target_id, submission_id, call_index, command_index, step_id,
             command_type, outcome, started_at, ended_at, errors, exit_code, output_preview,
             artifact_path, artifact_sha256, artifact_bytes, recorded_at, capture_name,
             capture_retry_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (submission_id, call_index, command_index) DO NOTHING",
    )
    .bind(target_id)
    .bind(submission_id)
    .bind(i64::from(outcome.call_index))
    .bind(i64::from(outcome.command_index))
    .bind(&outcome.step_id)
    .bind(outcome.command_type.as_str())
    .bind(outcome.outcome.as_str())
    .bind(&outcome.started_at)
    .bind(&outcome.ended_at)
    .bind(serde_json::Value::from(outcome.errors.clone()).to_string())
    .bind(outcome.exit_code)
    .bind(&outcome.output_preview)
    .bind(&outcome.artifact_path)
    .bind(&outcome.artifact_sha256)
    .bind(outcome.artifact_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)))
    .bind(now())
    .bind(&outcome.capture_retry)
    .bind(outcome.capture_retry.as_ref().map(|_| now()))
    .execute(conn)
    .await?;
    Ok(())
}

fn outcome_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<CommandOutcome> {
    let errors = serde_json::from_str::<Vec<String>>(row.get("errors")).unwrap_or_default();
    Ok(CommandOutcome {
        id: row.get("id"),
        target_id: row.get("target_id"),
        device_id: row.get("device_id"),
        machine_action_id: row.get("machine_action_id"),
        attempt: row
            .get::<Option<i64>, _>("attempt")
            .map(|a| a.max(0) as u32),
        recorded_at: row.get("recorded_at"),
        outcome: NewOutcome {
            call_index: row.get::<i64, _>("call_index").max(0) as u32,
            command_index: row.get::<i64, _>("command_index").max(0) as u32,
            step_id: row.get("step_id"),
            command_type: CommandType::parse(row.get("command_type"))?,
            outcome: OutcomeKind::parse(row.get("outcome"))?,
            started_at: row.get("started_at"),
            ended_at: row.get("ended_at"),
            errors,
            exit_code: row.get("exit_code"),
            output_preview: row.get("output_preview"),
            artifact_path: row.get("artifact_path"),
            artifact_sha256: row.get("artifact_sha256"),
            artifact_bytes: row
                .get::<Option<i64>, _>("artifact_bytes")
                .map(|b| b.max(0) as u64),
            capture_retry: row
                .get::<Option<String>, _>("capture_retry_at")
                .and(row.get("capture_name")),
        },
    })
}
