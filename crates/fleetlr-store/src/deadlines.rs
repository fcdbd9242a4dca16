//! Deadlines the scheduler keeps as wall-clock times: a run's expiry, a target's next attempt,
//! a result's next capture try. Each was set as "now + a period"; when the wall clock jumps,
//! the scheduler moves them all by the jump, so every period keeps its length in real time (a
//! clock set 2 hours ahead expires no run early; one set back stalls nothing for an hour).

use chrono::TimeDelta;
use sqlx::Row;

use crate::runs::append_event;
use crate::{Result, Store, parse_stamp, stamp};

/// Open runs' expiry: `(id, at)` of a tenant's runs, and the update of one.
const RUN_EXPIRY: (&str, &str) = (
    "SELECT id, expires_at AS at FROM runs
     WHERE tenant = ? AND state IN ('queued', 'running', 'paused', 'cancelling')",
    "UPDATE runs SET expires_at = ? WHERE id = ?",
);
/// Targets' next attempts. Ids are read as text: SQLite compares a text parameter with an
/// integer key as a number.
const NEXT_ATTEMPT: (&str, &str) = (
    "SELECT CAST(t.id AS TEXT) AS id, t.next_attempt_at AS at
     FROM targets t JOIN runs r ON r.id = t.run_id
     WHERE r.tenant = ? AND t.next_attempt_at IS NOT NULL",
    "UPDATE targets SET next_attempt_at = ? WHERE id = ?",
);
/// Results to fetch again (of ended runs too).
const CAPTURE_RETRY: (&str, &str) = (
    "SELECT CAST(o.id AS TEXT) AS id, o.capture_retry_at AS at FROM command_outcomes o
     JOIN targets t ON t.id = o.target_id JOIN runs r ON r.id = t.run_id
     WHERE r.tenant = ? AND o.capture_retry_at IS NOT NULL",
    "UPDATE command_outcomes SET capture_retry_at = ? WHERE id = ?",
);

impl Store {
    /// Moves every deadline of `tenant` by `jump` (how far the wall clock jumped), in one
    /// transaction, and notes it in each open run's events; returns how many moved.
    pub async fn shift_deadlines(&self, tenant: &str, jump: TimeDelta) -> Result<usize> {
        let mut tx = self.write().await?;
        let runs = shift(&mut tx, RUN_EXPIRY, tenant, jump).await?;
        let targets = shift(&mut tx, NEXT_ATTEMPT, tenant, jump).await?;
        let captures = shift(&mut tx, CAPTURE_RETRY, tenant, jump).await?;
        let detail = serde_json::json!({ "jump_seconds": jump.num_seconds() });
        for run in &runs {
            append_event(&mut tx, run, None, "wall_clock_jumped", &detail).await?;
        }
        tx.commit().await?;
        Ok(runs.len() + targets.len() + captures.len())
    }
}

/// Moves one kind of deadline; returns the ids of the rows moved.
async fn shift(
    conn: &mut sqlx::SqliteConnection,
    (select, update): (&'static str, &'static str),
    tenant: &str,
    jump: TimeDelta,
) -> Result<Vec<String>> {
    let rows = sqlx::query(select)
        .bind(tenant)
        .fetch_all(&mut *conn)
        .await?;
    let mut moved = Vec::new();
    for row in rows {
        let Some(at) = parse_stamp(row.get("at")) else {
            continue;
        };
        let id: String = row.get("id");
        sqlx::query(update)
            .bind(stamp(at + jump))
            .bind(&id)
            .execute(&mut *conn)
            .await?;
        moved.push(id);
    }
    Ok(moved)
}
