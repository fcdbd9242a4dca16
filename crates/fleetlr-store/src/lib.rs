//! fleetlr's durable state in SQLite (WAL): runs, their targets, the exactly-once submission
//! ledger, per-command outcomes, the append-only event log, the alert webhooks' dedup claims
//! and delivery log, and cron schedules with the record of each fire time. Migrations live in
//! the top-level
//! `migrations/` and run when the store opens.
//!
//! This is the only crate that contains SQL or exposes sqlx; callers see plain types, so a
//! second backend (PostgreSQL) can be added behind the same API. It never calls the Defender
//! API and holds no scheduling policy.

mod access;
mod alerts;
mod captures;
mod deadlines;
mod error;
mod ledger;
mod outcomes;
mod retention;
mod runs;
mod schedule;
mod schedules;

pub use access::{ApiToken, AuditEntry, Role};
pub use alerts::{
    AlertDelivery, AlertKey, Blocked, Claim, ClaimToken, DeliveryOutcome, NewDelivery,
};
pub use captures::{Captured, NOT_CAPTURED, PendingCapture};
pub use error::{Result, StoreError, Unavailable};
pub use ledger::{Submission, SubmissionState};
pub use outcomes::{CommandOutcome, CommandType, NewOutcome, OutcomeKind};
pub use runs::{
    NewRun, NewTarget, Page, Priority, Run, RunEvent, RunState, RunSummary, Target, TargetState,
    TriggerKind,
};
pub use schedule::CallEnd;
pub use schedules::{
    Firing, FiringOutcome, MissedPolicy, OverlapPolicy, Schedule, ScheduleDef, ScheduleSource,
    SlotDecision,
};

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

/// The schema migrations, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: sqlx::SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged run survives power loss, not only a killed process.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_release(|conn, _| {
                Box::pin(async move {
                    // SQLite rolls a transaction back by itself on some errors (a full disk, an
                    // I/O error), after which sqlx still counts it open and every later BEGIN on
                    // the connection fails. Once the pending rollback has run (the ping waits
                    // for it), such a connection is closed rather than pooled.
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock up front (waiting up to the
    /// busy timeout), so a transaction that reads before it writes can never fail to upgrade
    /// its lock with `database is locked` when writers run concurrently.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Runs SQLite's own consistency check; `Ok(())` when the file is sound.
    pub async fn integrity_check(&self) -> Result<()> {
        let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&self.pool)
            .await?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(verdict))
        }
    }
}

/// Current time as stored: RFC 3339 UTC with microseconds, which sorts as text.
fn now() -> String {
    stamp(chrono::Utc::now())
}

/// A time as stored.
fn stamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Reads back a stored time; fleetlr only writes valid ones.
pub fn parse_stamp(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests;
