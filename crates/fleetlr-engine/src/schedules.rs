//! Cron schedules: when a schedule fires (`Timing`: a five-field cron expression in an IANA time
//! zone, daylight-saving changes handled the way cron users expect), what is due at a moment
//! under the missed-run and overlap policies (`decide`, pure), and the loop that fires what is
//! due through the engine and records every decision in the store.
//!
//! Exactly once: a fire time's run and the record that it fired are one transaction
//! (`Store::create_scheduled_run`), so a restart or a retry can never start a second run for it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use fleetlr_store::{
    FiringOutcome, MissedPolicy, OverlapPolicy, Schedule, SlotDecision, Store, StoreError,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A fire time decided this much after it passed still counts as on time: the loop wakes at
/// each fire time, so only a daemon that was down (or a tick stalled behind a slow target
/// resolution) is later than this.
pub const ON_TIME_GRACE: TimeDelta = TimeDelta::minutes(5);

/// The loop looks again at least this often: a queued fire time waits for a run to end, and
/// the wall clock may jump (NTP, a suspended VM).
pub const RECHECK: Duration = Duration::from_secs(30);

/// Most fire times enumerated in one decision; a longer outage is decided over several ticks.
const MAX_DUE: usize = 10_000;

/// When a schedule fires: a cron expression read in a time zone.
#[derive(Debug, Clone)]
pub struct Timing {
    cron: croner::Cron,
    zone: chrono_tz::Tz,
}

impl Timing {
    /// `cron` has five fields (minute, hour, day of month, month, day of week; names like `MON`
    /// and `JAN` allowed); `timezone` is an IANA name such as `Europe/Paris` or `UTC`.
    pub fn parse(cron: &str, timezone: &str) -> Result<Self, String> {
        let zone: chrono_tz::Tz = timezone.parse().map_err(|_| {
            format!("`{timezone}` is not an IANA time zone; write e.g. UTC, Europe/Paris or America/New_York")
        })?;
        if cron.split_whitespace().count() != 5 {
            return Err(format!(
                "`{cron}` is not a five-field cron expression (minute hour day-of-month month day-of-week), e.g. `0 2 * * *` for 02:00 every day"
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build()
            .parse(cron)
            .map_err(|err| format!("`{cron}` is not a valid cron expression: {err}"))?;
        Ok(Self { cron, zone })
    }

    /// The first fire time strictly after `after`. A local time skipped by a daylight-saving
    /// change fires at the first instant after the gap; a local time that occurs twice fires
    /// once (at its first occurrence) for a fixed-time expression.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.zone), false)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    }

    /// `at` on the clocks of the schedule's time zone.
    pub fn in_zone(&self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        at.with_timezone(&self.zone).fixed_offset()
    }
}

/// What the store says about a schedule at the moment of deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotState {
    /// Every fire time up to this one is decided.
    pub cursor: DateTime<Utc>,
    /// A fire time waiting for the previous run to end.
    pub queued: Option<DateTime<Utc>>,
    /// Whether the schedule's previous run is still open.
    pub previous_open: bool,
}

/// Why a fire time fires now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FireReason {
    OnTime,
    /// The latest of fire times missed while the daemon was down (`missed: run_once`).
    CatchUp,
    /// It waited for the previous run to end (`overlap: queue`).
    Queued,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub fire: Option<(DateTime<Utc>, FireReason)>,
    /// Fire times decided without a run, to record.
    pub skipped: Vec<SlotDecision>,
    /// The fire time to keep waiting for the previous run, if any.
    pub queued: Option<DateTime<Utc>>,
    pub cursor: DateTime<Utc>,
    /// When there may be something to do next (the next fire time).
    pub next_wake: Option<DateTime<Utc>>,
}

/// Decides a schedule's fire times in `(cursor, now]` and its queued one. At most one run
/// fires per decision; fire times that will never fire are recorded with the reason.
pub fn decide(
    timing: &Timing,
    missed: MissedPolicy,
    overlap: OverlapPolicy,
    state: SlotState,
    now: DateTime<Utc>,
) -> Plan {
    let mut due = Vec::new();
    let mut at = state.cursor;
    while due.len() < MAX_DUE {
        match timing.next_after(at) {
            Some(next) if next <= now => {
                due.push(next);
                at = next;
            }
            _ => break,
        }
    }
    let cursor = due.last().copied().unwrap_or(state.cursor);
    let late = due
        .iter()
        .take_while(|slot| now - **slot > ON_TIME_GRACE)
        .count();
    let candidate = match (due.last(), late == due.len()) {
        (None, _) => None,
        (Some(last), false) => Some((*last, FireReason::OnTime)),
        (Some(last), true) => {
            (missed == MissedPolicy::RunOnce).then_some((*last, FireReason::CatchUp))
        }
    };
    let mut skipped = Vec::new();
    let passed_over = if candidate.is_some() {
        &due[..due.len() - 1]
    } else {
        &due[..]
    };
    if let (Some(first), Some(last)) = (passed_over.first(), passed_over.last()) {
        // One record for the lot: an outage can pass over thousands of fire times.
        skipped.push(SlotDecision {
            slot_at: *last,
            outcome: FiringOutcome::SkippedMissed,
            detail: serde_json::json!({
                "fire_times": passed_over.len(),
                "first": first.to_rfc3339(),
                "reason": match missed {
                    MissedPolicy::Skip if candidate.is_none() => "missed while the daemon was down (missed: skip)",
                    _ => "superseded by a later fire time",
                },
            }),
        });
    }
    let overlapped = |slot: DateTime<Utc>, why: &str| SlotDecision {
        slot_at: slot,
        outcome: FiringOutcome::SkippedOverlap,
        detail: serde_json::json!({"reason": why}),
    };
    let (fire, queued) = match (candidate, state.queued) {
        (Some(slot), queued) if !state.previous_open => {
            if let Some(older) = queued {
                skipped.push(overlapped(older, "superseded by a later fire time"));
            }
            (Some(slot), None)
        }
        (None, Some(queued)) if !state.previous_open => (Some((queued, FireReason::Queued)), None),
        (Some((slot, _)), queued) => match overlap {
            OverlapPolicy::Skip => {
                skipped.push(overlapped(
                    slot,
                    "the previous run was still open (overlap: skip)",
                ));
                (None, queued)
            }
            OverlapPolicy::Queue => {
                if let Some(older) = queued {
                    skipped.push(overlapped(
                        older,
                        "a later fire time took its place in the queue (one waits at most)",
                    ));
                }
                (None, Some(slot))
            }
        },
        (None, queued) => (None, queued),
    };
    let next_wake = if due.len() == MAX_DUE {
        Some(now)
    } else {
        timing.next_after(cursor.max(now))
    };
    Plan {
        fire,
        skipped,
        queued,
        cursor,
        next_wake,
    }
}

/// The next time a schedule fires, as far as the clock alone tells (a paused schedule has none),
/// in the schedule's time zone.
pub fn next_fire_at(schedule: &Schedule, now: DateTime<Utc>) -> Option<DateTime<FixedOffset>> {
    if schedule.paused {
        return None;
    }
    let timing = Timing::parse(&schedule.def.cron, &schedule.def.timezone).ok()?;
    let next = timing.next_after(schedule.cursor.max(now))?;
    Some(timing.in_zone(next))
}

/// The wall clock schedules are read against.
pub trait WallClock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Why a fire time did not start a run.
#[derive(Debug, thiserror::Error)]
pub enum FireError {
    /// A previous process already decided it (it fired, or was skipped) before it stopped.
    #[error("the fire time was already decided")]
    AlreadyDecided,
    #[error("{0}")]
    Refused(String),
}

/// Starts the run of a fire time (the engine; a recorder in tests).
pub trait Firer: Send + Sync + 'static {
    fn fire(
        &self,
        schedule: &Schedule,
        slot: DateTime<Utc>,
    ) -> impl Future<Output = Result<String, FireError>> + Send;
}

/// Decides every active schedule at `now`, fires what is due, records the rest, and says when
/// to look again.
pub(crate) async fn tick(
    store: &Store,
    firer: &impl Firer,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, StoreError> {
    let mut wake = now + TimeDelta::from_std(RECHECK).unwrap_or(TimeDelta::MAX);
    for schedule in store.schedules().await? {
        if schedule.paused {
            continue;
        }
        let name = &schedule.def.name;
        let timing = match Timing::parse(&schedule.def.cron, &schedule.def.timezone) {
            Ok(timing) => timing,
            Err(problem) => {
                // Checked when added or configured; only a database edited by hand gets here.
                tracing::warn!(schedule = %name, %problem, "schedule skipped");
                continue;
            }
        };
        let state = SlotState {
            cursor: schedule.cursor,
            queued: schedule.queued_slot,
            previous_open: store.schedule_has_open_run(name).await?,
        };
        let plan = decide(
            &timing,
            schedule.def.missed,
            schedule.def.overlap,
            state,
            now,
        );
        let mut decisions = plan.skipped;
        if let Some((slot, reason)) = plan.fire {
            match firer.fire(&schedule, slot).await {
                Ok(run) => {
                    tracing::info!(schedule = %name, %slot, ?reason, %run, "schedule fired")
                }
                Err(FireError::AlreadyDecided) => {}
                Err(FireError::Refused(error)) => {
                    tracing::warn!(schedule = %name, %slot, %error, "schedule could not start its run");
                    decisions.push(SlotDecision {
                        slot_at: slot,
                        outcome: FiringOutcome::Failed,
                        detail: serde_json::json!({"error": error}),
                    });
                }
            }
        }
        store
            .advance_schedule(name, plan.cursor, plan.queued, &decisions)
            .await?;
        if let Some(next) = plan.next_wake {
            wake = wake.min(next);
        }
    }
    Ok(wake)
}

/// Calls `tick` until `stop`: at once, then at the wake-up time it returns, at least every
/// `RECHECK`, and whenever schedules changed. `tick` decides and fires (see [`tick`]); the loop
/// only keeps time, so it is tested on tokio's paused clock.
pub(crate) async fn run_loop<F, Fut>(
    clock: Arc<dyn WallClock>,
    changed: Arc<Notify>,
    stop: CancellationToken,
    mut tick: F,
) where
    F: FnMut(DateTime<Utc>) -> Fut,
    Fut: Future<Output = Result<DateTime<Utc>, StoreError>>,
{
    while !stop.is_cancelled() {
        let now = clock.now();
        let wake = match tick(now).await {
            Ok(wake) => wake,
            Err(err) => {
                tracing::error!(error = %err, "deciding schedules failed; trying again shortly");
                now + TimeDelta::from_std(RECHECK).unwrap_or(TimeDelta::MAX)
            }
        };
        let pause = (wake - clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(RECHECK);
        tokio::select! {
            () = stop.cancelled() => {}
            () = changed.notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

#[cfg(test)]
mod tests;
