//! Cron schedules and what became of each of their fire times. The store keeps a cursor per
//! schedule (every fire time up to it is decided) and one row per decided fire time; a fired
//! time is written in the same transaction as its run, so no fire time can start two runs.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::runs::{NewRun, NewTarget, Priority, insert_run, json_column, text_enum};
use crate::{Result, Store, StoreError, now, parse_stamp, stamp};

text_enum!(
    /// Where a schedule is defined: the configuration file (rewritten at every start) or the API.
    ScheduleSource, "schedules.source" { Config = "config", Api = "api" }
);
text_enum!(
    /// What to do with fire times that passed while the daemon was down: fire the latest one
    /// once, or skip them all.
    MissedPolicy, "schedules.missed" { RunOnce = "run_once", Skip = "skip" }
);
text_enum!(
    /// What to do when a fire time comes while the schedule's previous run is still open: skip
    /// it, or fire it as soon as that run ends.
    OverlapPolicy, "schedules.overlap" { Skip = "skip", Queue = "queue" }
);
text_enum!(
    /// What became of one fire time.
    FiringOutcome, "schedule_firings.outcome" {
        Fired = "fired", SkippedOverlap = "skipped_overlap", SkippedMissed = "skipped_missed",
        Failed = "failed",
    }
);

/// What a schedule says: when, what and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleDef {
    pub name: String,
    /// Five fields: minute, hour, day of month, month, day of week.
    pub cron: String,
    /// An IANA time zone name (`Europe/Paris`), `UTC` by default.
    pub timezone: String,
    pub playbook: String,
    pub tenant: Option<String>,
    /// Devices, tags, RBAC groups and filter, as a run's `target_spec`.
    pub targets: serde_json::Value,
    /// Parameter values by name (text).
    pub parameters: serde_json::Value,
    pub priority: Option<Priority>,
    pub missed: MissedPolicy,
    pub overlap: OverlapPolicy,
}

/// A schedule with its state.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub def: ScheduleDef,
    pub source: ScheduleSource,
    pub paused: bool,
    /// Every fire time up to and including this one has been decided.
    pub cursor: DateTime<Utc>,
    /// A fire time waiting for the previous run to end.
    pub queued_slot: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// One decided fire time.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub schedule: String,
    pub slot_at: DateTime<Utc>,
    pub outcome: FiringOutcome,
    pub run_id: Option<String>,
    pub detail: serde_json::Value,
    pub decided_at: String,
}

/// A fire time decided without a run (skipped or failed), to record.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotDecision {
    pub slot_at: DateTime<Utc>,
    pub outcome: FiringOutcome,
    pub detail: serde_json::Value,
}

impl Store {
    /// Makes the configuration's schedules the `config` schedules: new ones start deciding fire
    /// times from `now`, changed ones keep their cursor and pause state, and those no longer in
    /// the file are removed. A name already used by an API schedule is refused.
    pub async fn sync_config_schedules(
        &self,
        defs: &[ScheduleDef],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        for def in defs {
            let source: Option<String> =
                sqlx::query_scalar("SELECT source FROM schedules WHERE name = ?")
                    .bind(&def.name)
                    .fetch_optional(&mut *tx)
                    .await?;
            match source.as_deref() {
                None => insert_schedule(&mut tx, def, ScheduleSource::Config, "config", at).await?,
                Some("config") => update_schedule(&mut tx, def).await?,
                Some(_) => {
                    return Err(StoreError::Conflict(format!(
                        "schedule `{}` in the configuration has the name of a schedule added through the API: rename one, or remove the API one (`fleetlr schedules remove {}`)",
                        def.name, def.name
                    )));
                }
            }
        }
        let configured: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT name FROM schedules WHERE source = 'config'")
                .fetch_all(&mut *tx)
                .await?;
        for name in stored.iter().filter(|n| !configured.contains(&n.as_str())) {
            sqlx::query("DELETE FROM schedules WHERE name = ?")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds an API schedule, deciding fire times from `at` on. Names are unique.
    pub async fn add_schedule(
        &self,
        def: &ScheduleDef,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Result<Schedule> {
        let mut tx = self.write().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM schedules WHERE name = ?")
                .bind(&def.name)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "a schedule named `{}` exists",
                def.name
            )));
        }
        insert_schedule(&mut tx, def, ScheduleSource::Api, created_by, at).await?;
        tx.commit().await?;
        self.schedule(&def.name).await
    }

    /// Removes a schedule; its runs stay (they name it in `trigger_ref`).
    pub async fn remove_schedule(&self, name: &str) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM schedules WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// Pauses or resumes a schedule. Pausing drops a queued fire time; resuming decides fire
    /// times from `at` on, so the ones that passed while paused never fire.
    pub async fn set_schedule_paused(
        &self,
        name: &str,
        paused: bool,
        at: DateTime<Utc>,
    ) -> Result<Schedule> {
        let sql = if paused {
            "UPDATE schedules SET paused = 1, queued_slot = NULL, updated_at = ? WHERE name = ?"
        } else {
            "UPDATE schedules SET paused = 0, cursor = MAX(cursor, ?), queued_slot = NULL, updated_at = ? WHERE name = ?"
        };
        let mut query = sqlx::query(sql);
        if !paused {
            query = query.bind(stamp(at));
        }
        let updated = query.bind(now()).bind(name).execute(&self.pool).await?;
        if updated.rows_affected() == 0 {
            return Err(not_found(name));
        }
        self.schedule(name).await
    }

    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        sqlx::query("SELECT * FROM schedules ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(schedule_from_row)
            .collect()
    }

    pub async fn schedule(&self, name: &str) -> Result<Schedule> {
        sqlx::query("SELECT * FROM schedules WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| schedule_from_row(&row))
            .transpose()?
            .ok_or_else(|| not_found(name))
    }

    /// Moves a schedule's cursor forward to `cursor` (never back), sets its queued fire time,
    /// and records fire times decided without a run. Recording a fire time twice keeps the first.
    pub async fn advance_schedule(
        &self,
        name: &str,
        cursor: DateTime<Utc>,
        queued_slot: Option<DateTime<Utc>>,
        decisions: &[SlotDecision],
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE schedules SET cursor = MAX(cursor, ?), queued_slot = ? WHERE name = ?",
        )
        .bind(stamp(cursor))
        .bind(queued_slot.map(stamp))
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(not_found(name));
        }
        let decided_at = now();
        for decision in decisions {
            sqlx::query(
                "INSERT INTO schedule_firings (schedule, slot_at, outcome, detail, decided_at)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (schedule, slot_at) DO NOTHING",
            )
            .bind(name)
            .bind(stamp(decision.slot_at))
            .bind(decision.outcome.as_str())
            .bind(decision.detail.to_string())
            .bind(&decided_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores the run of a fire time together with the record that the time fired, in one
    /// transaction: a time that already has a record is refused with `Conflict`, so a restart
    /// (or a race) can never start a second run for it.
    pub async fn create_scheduled_run(
        &self,
        schedule: &str,
        slot_at: DateTime<Utc>,
        run: &NewRun,
        targets: &[NewTarget],
    ) -> Result<String> {
        let mut tx = self.write().await?;
        let slot = stamp(slot_at);
        let decided: Option<String> = sqlx::query_scalar(
            "SELECT outcome FROM schedule_firings WHERE schedule = ? AND slot_at = ?",
        )
        .bind(schedule)
        .bind(&slot)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(outcome) = decided {
            return Err(StoreError::Conflict(format!(
                "fire time {slot} of schedule `{schedule}` is already decided ({outcome})"
            )));
        }
        let id = insert_run(&mut tx, run, targets).await?;
        sqlx::query(
            "INSERT INTO schedule_firings (schedule, slot_at, outcome, run_id, decided_at)
             VALUES (?, ?, 'fired', ?, ?)",
        )
        .bind(schedule)
        .bind(&slot)
        .bind(&id)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE schedules SET cursor = MAX(cursor, ?),
                 queued_slot = CASE WHEN queued_slot = ? THEN NULL ELSE queued_slot END
             WHERE name = ?",
        )
        .bind(&slot)
        .bind(&slot)
        .bind(schedule)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Whether a run the schedule started is still open (queued, running, paused or cancelling).
    pub async fn schedule_has_open_run(&self, name: &str) -> Result<bool> {
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM runs WHERE trigger_kind = 'schedule' AND trigger_ref = ?
                 AND state IN ('queued', 'running', 'paused', 'cancelling') LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(open.is_some())
    }

    /// The newest decided fire times of a schedule first.
    pub async fn firings(&self, name: &str, limit: u32) -> Result<Vec<Firing>> {
        sqlx::query(
            "SELECT * FROM schedule_firings WHERE schedule = ? ORDER BY slot_at DESC LIMIT ?",
        )
        .bind(name)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Firing {
                schedule: row.get("schedule"),
                slot_at: time_column(row, "schedule_firings.slot_at", "slot_at")?,
                outcome: FiringOutcome::parse(row.get("outcome"))?,
                run_id: row.get("run_id"),
                detail: json_column(row, "detail"),
                decided_at: row.get("decided_at"),
            })
        })
        .collect()
    }
}

async fn insert_schedule(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    def: &ScheduleDef,
    source: ScheduleSource,
    created_by: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let created = now();
    sqlx::query(
        "INSERT INTO schedules (name, source, cron, timezone, playbook, tenant, targets, parameters,
             priority, missed, overlap, cursor, created_by, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&def.name)
    .bind(source.as_str())
    .bind(&def.cron)
    .bind(&def.timezone)
    .bind(&def.playbook)
    .bind(&def.tenant)
    .bind(def.targets.to_string())
    .bind(def.parameters.to_string())
    .bind(def.priority.map(Priority::as_str))
    .bind(def.missed.as_str())
    .bind(def.overlap.as_str())
    .bind(stamp(at))
    .bind(created_by)
    .bind(&created)
    .bind(&created)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn update_schedule(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    def: &ScheduleDef,
) -> Result<()> {
    sqlx::query(
        "UPDATE schedules SET cron = ?, timezone = ?, playbook = ?, tenant = ?, targets = ?,
             parameters = ?, priority = ?, missed = ?, overlap = ?,
             updated_at = CASE WHEN cron = ? AND timezone = ? AND playbook = ? AND tenant IS ?
                 AND targets = ? AND parameters = ? AND priority IS ? AND missed = ? AND overlap = ?
                 THEN updated_at ELSE ? END
         WHERE name = ?",
    )
    .bind(&def.cron)
    .bind(&def.timezone)
    .bind(&def.playbook)
    .bind(&def.tenant)
    .bind(def.targets.to_string())
    .bind(def.parameters.to_string())
    .bind(def.priority.map(Priority::as_str))
    .bind(def.missed.as_str())
    .bind(def.overlap.as_str())
    .bind(&def.cron)
    .bind(&def.timezone)
    .bind(&def.playbook)
    .bind(&def.tenant)
    .bind(def.targets.to_string())
    .bind(def.parameters.to_string())
    .bind(def.priority.map(Priority::as_str))
    .bind(def.missed.as_str())
    .bind(def.overlap.as_str())
    .bind(now())
    .bind(&def.name)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        what: "schedule",
        id: name.to_owned(),
    }
}

fn time_column(
    row: &sqlx::sqlite::SqliteRow,
    label: &'static str,
    column: &str,
) -> Result<DateTime<Utc>> {
    let text: String = row.get(column);
    parse_stamp(&text).ok_or(StoreError::UnknownValue {
        column: label,
        value: text,
    })
}

fn schedule_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Schedule> {
    Ok(Schedule {
        def: ScheduleDef {
            name: row.get("name"),
            cron: row.get("cron"),
            timezone: row.get("timezone"),
            playbook: row.get("playbook"),
            tenant: row.get("tenant"),
            targets: json_column(row, "targets"),
            parameters: json_column(row, "parameters"),
            priority: row
                .get::<Option<&str>, _>("priority")
                .map(Priority::parse)
                .transpose()?,
            missed: MissedPolicy::parse(row.get("missed"))?,
            overlap: OverlapPolicy::parse(row.get("overlap"))?,
        },
        source: ScheduleSource::parse(row.get("source"))?,
        paused: row.get::<i64, _>("paused") != 0,
        cursor: time_column(row, "schedules.cursor", "cursor")?,
        queued_slot: row
            .get::<Option<String>, _>("queued_slot")
            .map(|text| {
                parse_stamp(&text).ok_or(StoreError::UnknownValue {
                    column: "schedules.queued_slot",
                    value: text,
                })
            })
            .transpose()?,
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}
