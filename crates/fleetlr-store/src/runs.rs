//! Runs, their targets and their event log.

use crate::{Result, Store, StoreError, now, stamp};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Declares an enum stored as text, with its column name for error messages.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $column:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value as stored, in declaration order.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(value: &str) -> Result<Self> {
                match value {
                    $($text => Ok(Self::$variant),)+
                    other => Err($crate::StoreError::UnknownValue { column: $column, value: other.to_owned() }),
                }
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(
    /// Who or what started a run.
    TriggerKind, "runs.trigger_kind" { Cli = "cli", Api = "api", Webhook = "webhook", Schedule = "schedule" }
);
text_enum!(
    /// Response runs always go before collection runs.
    Priority, "runs.priority" { Response = "response", Collection = "collection" }
);
text_enum!(
    RunState, "runs.state" {
        Queued = "queued", Running = "running", Paused = "paused", Cancelling = "cancelling",
        Finished = "finished", Cancelled = "cancelled",
    }
);
text_enum!(
    TargetState, "targets.state" {
        Pending = "pending", WaitingOffline = "waiting_offline", Submitting = "submitting",
        InFlight = "in_flight", Succeeded = "succeeded", Failed = "failed", TimedOut = "timed_out",
        Expired = "expired", Cancelled = "cancelled",
    }
);

/// A run as the caller asks for it.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub tenant: String,
    pub playbook_name: String,
    pub playbook_sha256: String,
    pub playbook_source: String,
    pub parameters: serde_json::Value,
    pub started_by: String,
    pub trigger_kind: TriggerKind,
    pub trigger_ref: Option<String>,
    pub priority: Priority,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub max_failure_percent: Option<u8>,
    pub canary: Option<u32>,
    /// Library file facts the playbook was compiled against, to recompile it identically.
    pub library: serde_json::Value,
    /// Alert fields of an alert-started run.
    pub alert: Option<serde_json::Value>,
    /// What the caller targeted (devices, tags, groups, filter), as asked.
    pub target_spec: serde_json::Value,
    /// The alert claim this run fulfils; stored in the run's transaction (see `alerts`).
    pub alert_claim: Option<crate::ClaimToken>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTarget {
    pub device_id: String,
    pub device_name: Option<String>,
    /// Set when MDE reports the device inactive: the target starts out waiting offline, and is
    /// looked at again at this time, rather than taking a session slot to find out.
    pub inactive_recheck_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub tenant: String,
    pub playbook_name: String,
    pub playbook_sha256: String,
    pub playbook_source: String,
    pub parameters: serde_json::Value,
    pub started_by: String,
    pub trigger_kind: TriggerKind,
    pub trigger_ref: Option<String>,
    pub priority: Priority,
    pub state: RunState,
    pub expires_at: String,
    pub max_failure_percent: Option<u8>,
    pub canary: Option<u32>,
    pub library: serde_json::Value,
    pub alert: Option<serde_json::Value>,
    pub target_spec: serde_json::Value,
    pub pause_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

impl RunState {
    /// Finished and cancelled runs never change again (except a retry re-opening a finished run).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Cancelled)
    }
}

impl TargetState {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::TimedOut | Self::Expired | Self::Cancelled
        )
    }
}

/// A run with how many of its targets are in each state.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run: Run,
    pub targets_by_state: Vec<(TargetState, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: i64,
    pub run_id: String,
    pub device_id: String,
    pub device_name: Option<String>,
    pub state: TargetState,
    pub call_index: u32,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub offline_count: u32,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RunEvent {
    pub id: i64,
    pub target_id: Option<i64>,
    pub at: String,
    pub kind: String,
    pub detail: serde_json::Value,
}

impl Store {
    /// Stores a run and all its targets in one transaction; once this returns, the run is durable.
    pub async fn create_run(&self, run: &NewRun, targets: &[NewTarget]) -> Result<String> {
        let mut tx = self.write().await?;
        let id = insert_run(&mut tx, run, targets).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn run(&self, id: &str) -> Result<Run> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| run_from_row(&row))
            .transpose()?
            .ok_or_else(|| StoreError::NotFound {
                what: "run",
                id: id.to_owned(),
            })
    }

    /// The newest runs first, each with its target counts.
    pub async fn list_runs(&self, limit: u32) -> Result<Vec<RunSummary>> {
        let rows = sqlx::query("SELECT * FROM runs ORDER BY created_at DESC, id LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut summaries = Vec::with_capacity(rows.len());
        for row in rows {
            let run = run_from_row(&row)?;
            let targets_by_state = self.target_counts(&run.id).await?;
            summaries.push(RunSummary {
                run,
                targets_by_state,
            });
        }
        Ok(summaries)
    }

    /// How many of a run's targets are in each state (states with none are left out).
    pub async fn target_counts(&self, run_id: &str) -> Result<Vec<(TargetState, u64)>> {
        sqlx::query("SELECT state, COUNT(*) AS n FROM targets WHERE run_id = ? GROUP BY state ORDER BY state")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok((TargetState::parse(row.get("state"))?, row.get::<i64, _>("n").max(0) as u64)))
            .collect()
    }

    /// Every target of a run, in id order. Only for runs known to be small (tests, a run
    /// just created); what an operator asks for is read with `targets_page`.
    pub async fn targets(&self, run_id: &str) -> Result<Vec<Target>> {
        self.targets_page(run_id, None, Page::first(u32::MAX)).await
    }

    pub async fn append_event(
        &self,
        run_id: &str,
        target_id: Option<i64>,
        kind: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        append_event(&mut conn, run_id, target_id, kind, detail).await
    }

    /// One page of a run's targets in id order; only those in `state` when given.
    pub async fn targets_page(
        &self,
        run_id: &str,
        state: Option<TargetState>,
        page: Page,
    ) -> Result<Vec<Target>> {
        // Two statements rather than `(? IS NULL OR state = ?)`, so each reads its own index:
        // (run_id, state, id) with a state, (run_id, id) without.
        let query = match state {
            Some(state) => sqlx::query(
                "SELECT * FROM targets WHERE run_id = ? AND state = ? AND id > ?
                 ORDER BY id LIMIT ? OFFSET ?",
            )
            .bind(run_id)
            .bind(state.as_str()),
            None => sqlx::query(
                "SELECT * FROM targets WHERE run_id = ? AND id > ? ORDER BY id LIMIT ? OFFSET ?",
            )
            .bind(run_id),
        };
        page.bind_bounds(query.bind(page.after_id()))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(target_from_row)
            .collect()
    }

    /// A run's targets on one device, named by its id or by its name (names may repeat), in id
    /// order.
    pub async fn targets_of_device(&self, run_id: &str, device: &str) -> Result<Vec<Target>> {
        sqlx::query(
            "SELECT * FROM targets WHERE run_id = ? AND (device_id = ? OR device_name = ?)
             ORDER BY id",
        )
        .bind(run_id)
        .bind(device)
        .bind(device)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(target_from_row)
        .collect()
    }

    /// Every event of a run, oldest first. Only for runs known to be small (tests); what an
    /// operator asks for is read with `events_page` or `newest_events`.
    pub async fn events(&self, run_id: &str) -> Result<Vec<RunEvent>> {
        self.events_page(run_id, Page::first(u32::MAX)).await
    }

    /// One page of a run's events, oldest first.
    pub async fn events_page(&self, run_id: &str, page: Page) -> Result<Vec<RunEvent>> {
        let query = sqlx::query(
            "SELECT id, target_id, at, kind, detail FROM run_events WHERE run_id = ? AND id > ?
             ORDER BY id LIMIT ? OFFSET ?",
        )
        .bind(run_id)
        .bind(page.after_id());
        page.bind_bounds(query)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(event_from_row)
            .collect()
    }

    /// A run's newest `limit` events, newest first.
    pub async fn newest_events(&self, run_id: &str, limit: u32) -> Result<Vec<RunEvent>> {
        sqlx::query(
            "SELECT id, target_id, at, kind, detail FROM run_events WHERE run_id = ?
             ORDER BY id DESC LIMIT ?",
        )
        .bind(run_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
    }
}

/// Which rows of a run one read returns, in id order: those after the row `after` (from the
/// first when `None`), less the first `skip` of them, at most `limit`. A run of 100,000 targets
/// is read a page at a time, never whole, for anything an operator asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub after: Option<i64>,
    pub skip: u64,
    pub limit: u32,
}

impl Page {
    /// The first `limit` rows.
    pub fn first(limit: u32) -> Self {
        Self {
            after: None,
            skip: 0,
            limit,
        }
    }

    /// The `limit` rows after the row `after`.
    pub fn after(after: i64, limit: u32) -> Self {
        Self {
            after: Some(after),
            skip: 0,
            limit,
        }
    }

    /// The id rows come after: `i64::MIN` from the first row.
    pub fn after_id(self) -> i64 {
        self.after.unwrap_or(i64::MIN)
    }

    /// Binds the `LIMIT ? OFFSET ?` that ends a page's statement.
    pub(crate) fn bind_bounds<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
        query
            .bind(i64::from(self.limit))
            .bind(i64::try_from(self.skip).unwrap_or(i64::MAX))
    }

    /// Page number `number` (from 0) of pages `limit` long.
    pub fn numbered(number: u64, limit: u32) -> Self {
        Self {
            after: None,
            skip: number.saturating_mul(u64::from(limit)),
            limit,
        }
    }
}

fn event_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<RunEvent> {
    Ok(RunEvent {
        id: row.get("id"),
        target_id: row.get("target_id"),
        at: row.get("at"),
        kind: row.get("kind"),
        detail: json_column(row, "detail"),
    })
}

/// Inserts a run and its targets (with its `run_created` event) inside the caller's transaction.
/// Targets stored per INSERT statement: 8 values each, inside the 999 variables even an old
/// SQLite build allows.
const TARGETS_PER_INSERT: usize = 120;
/// Why a target starts out waiting offline.
const INACTIVE_AT_CREATION: &str = "MDE reports the device inactive";

pub(crate) async fn insert_run(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    run: &NewRun,
    targets: &[NewTarget],
) -> Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let at = now();
    sqlx::query(
        "INSERT INTO runs (id, tenant, playbook_name, playbook_sha256, playbook_source, parameters,
             started_by, trigger_kind, trigger_ref, priority, state, expires_at, max_failure_percent,
             canary, library, alert, target_spec, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(&run.tenant)
    .bind(&run.playbook_name)
    .bind(&run.playbook_sha256)
    .bind(&run.playbook_source)
    .bind(run.parameters.to_string())
    .bind(&run.started_by)
    .bind(run.trigger_kind.as_str())
    .bind(&run.trigger_ref)
    .bind(run.priority.as_str())
    .bind(run.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    .bind(run.max_failure_percent.map(i64::from))
    .bind(run.canary.map(i64::from))
    .bind(run.library.to_string())
    .bind(run.alert.as_ref().map(|alert| alert.to_string()))
    .bind(run.target_spec.to_string())
    .bind(&at)
    .bind(&at)
    .execute(&mut **tx)
    .await?;
    // Many rows per statement: a 100,000-device run is stored in about a second instead of five,
    // and the write lock every other writer waits for is held that much shorter.
    for chunk in targets.chunks(TARGETS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO targets (run_id, device_id, device_name, state, next_attempt_at, last_error,
                 created_at, updated_at) ",
        );
        insert.push_values(chunk, |mut row, target| {
            let (state, error) = match target.inactive_recheck_at {
                Some(_) => (TargetState::WaitingOffline, Some(INACTIVE_AT_CREATION)),
                None => (TargetState::Pending, None),
            };
            row.push_bind(id.clone())
                .push_bind(target.device_id.clone())
                .push_bind(target.device_name.clone())
                .push_bind(state.as_str())
                .push_bind(target.inactive_recheck_at.map(stamp))
                .push_bind(error)
                .push_bind(at.clone())
                .push_bind(at.clone());
        });
        insert.push(" ON CONFLICT (run_id, device_id) DO NOTHING");
        insert.build().execute(&mut **tx).await?;
    }
    // An alert-started run completes its dedup claim in the same transaction: the claim is
    // `started` exactly when the run exists.
    if let Some(token) = run.alert_claim {
        crate::alerts::complete_claim(tx, token, &id).await?;
    }
    append_event(
        tx,
        &id,
        None,
        "run_created",
        &serde_json::json!({
            "targets": targets.len(),
            "inactive": targets.iter().filter(|t| t.inactive_recheck_at.is_some()).count(),
        }),
    )
    .await?;
    Ok(id)
}

pub(crate) async fn append_event(
    conn: &mut sqlx::SqliteConnection,
    run_id: &str,
    target_id: Option<i64>,
    kind: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO run_events (run_id, target_id, at, kind, detail) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(run_id)
    .bind(target_id)
    .bind(now())
    .bind(kind)
    .bind(detail.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) fn run_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Run> {
    Ok(Run {
        id: row.get("id"),
        tenant: row.get("tenant"),
        playbook_name: row.get("playbook_name"),
        playbook_sha256: row.get("playbook_sha256"),
        playbook_source: row.get("playbook_source"),
        parameters: json_column(row, "parameters"),
        started_by: row.get("started_by"),
        trigger_kind: TriggerKind::parse(row.get("trigger_kind"))?,
        trigger_ref: row.get("trigger_ref"),
        priority: Priority::parse(row.get("priority"))?,
        state: RunState::parse(row.get("state"))?,
        expires_at: row.get("expires_at"),
        max_failure_percent: row
            .get::<Option<i64>, _>("max_failure_percent")
            .map(|v| v.clamp(0, 100) as u8),
        canary: row.get::<Option<i64>, _>("canary").map(|v| v.max(0) as u32),
        library: json_column(row, "library"),
        alert: row
            .get::<Option<String>, _>("alert")
            .and_then(|text| serde_json::from_str(&text).ok()),
        target_spec: json_column(row, "target_spec"),
        pause_reason: row.get("pause_reason"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        finished_at: row.get("finished_at"),
    })
}

pub(crate) fn target_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Target> {
    Ok(Target {
        id: row.get("id"),
        run_id: row.get("run_id"),
        device_id: row.get("device_id"),
        device_name: row.get("device_name"),
        state: TargetState::parse(row.get("state"))?,
        call_index: row.get::<i64, _>("call_index").max(0) as u32,
        attempts: row.get::<i64, _>("attempts").max(0) as u32,
        next_attempt_at: row.get("next_attempt_at"),
        last_error: row.get("last_error"),
        offline_count: row.get::<i64, _>("offline_count").max(0) as u32,
        updated_at: row.get("updated_at"),
        finished_at: row.get("finished_at"),
    })
}

/// A JSON column; fleetlr only ever writes valid JSON there, so anything else reads as null.
pub(crate) fn json_column(row: &sqlx::sqlite::SqliteRow, column: &str) -> serde_json::Value {
    serde_json::from_str(row.get(column)).unwrap_or(serde_json::Value::Null)
}
