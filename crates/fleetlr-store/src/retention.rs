//! Retention: removing old runs with everything recorded under them. Open runs are never
//! removed, whatever their age; the audit log is never removed (its trigger forbids it).

use chrono::{DateTime, Utc};

use crate::{Result, Store, stamp};

impl Store {
    /// Removes every finished or cancelled run that ended before `before`, with its targets,
    /// submissions, outcomes and events; returns their ids (their artifacts are the caller's).
    pub async fn prune_runs(&self, before: DateTime<Utc>) -> Result<Vec<String>> {
        let mut tx = self.write().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM runs WHERE state IN ('finished', 'cancelled')
                 AND COALESCE(finished_at, updated_at) < ? ORDER BY id",
        )
        .bind(stamp(before))
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            // Foreign keys cascade to targets, submissions, outcomes and events.
            sqlx::query("DELETE FROM runs WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }
}
