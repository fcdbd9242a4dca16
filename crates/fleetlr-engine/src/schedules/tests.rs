use super::*;

use fleetlr_store::{NewRun, Priority, RunState, ScheduleDef, TriggerKind};
use std::time::Duration;
use tokio::sync::mpsc;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test time")
        .with_timezone(&Utc)
}

fn daily_at_two() -> Timing {
    Timing::parse("0 2 * * *", "UTC").expect("valid")
}

fn state(cursor: &str) -> SlotState {
    SlotState {
        cursor: utc(cursor),
        queued: None,
        previous_open: false,
    }
}

#[test]
fn bad_expressions_and_zones_are_refused_with_a_hint() {
    let err = Timing::parse("0 2 * *", "UTC").expect_err("four fields");
    assert!(err.contains("five-field"), "{err}");
    let err = Timing::parse("0 25 * * *", "UTC").expect_err("hour 25");
    assert!(err.contains("not a valid cron expression"), "{err}");
    let err = Timing::parse("0 2 * * *", "Mars/Olympus").expect_err("zone");
    assert!(err.contains("IANA"), "{err}");
    assert!(Timing::parse("30 1 * * MON-FRI", "Europe/Paris").is_ok());
}

#[test]
fn a_fire_time_fires_on_time_and_the_next_one_is_the_wake_up() {
    let plan = decide(
        &daily_at_two(),
        MissedPolicy::Skip,
        OverlapPolicy::Skip,
        state("2026-01-01T00:00:00Z"),
        utc("2026-01-01T02:00:01Z"),
    );
    assert_eq!(
        plan.fire,
        Some((utc("2026-01-01T02:00:00Z"), FireReason::OnTime))
    );
    assert!(plan.skipped.is_empty());
    assert_eq!(plan.cursor, utc("2026-01-01T02:00:00Z"));
    assert_eq!(plan.next_wake, Some(utc("2026-01-02T02:00:00Z")));
    // Nothing is due before the fire time.
    let early = decide(
        &daily_at_two(),
        MissedPolicy::RunOnce,
        OverlapPolicy::Skip,
        state("2026-01-01T00:00:00Z"),
        utc("2026-01-01T01:59:59Z"),
    );
    assert_eq!(early.fire, None);
    assert_eq!(early.cursor, utc("2026-01-01T00:00:00Z"));
    assert_eq!(early.next_wake, Some(utc("2026-01-01T02:00:00Z")));
}

#[test]
fn missed_run_once_fires_only_the_latest_missed_time() {
    // Down from Jan 1 00:00 to Jan 4 10:00: four fire times passed.
    let plan = decide(
        &daily_at_two(),
        MissedPolicy::RunOnce,
        OverlapPolicy::Skip,
        state("2026-01-01T00:00:00Z"),
        utc("2026-01-04T10:00:00Z"),
    );
    assert_eq!(
        plan.fire,
        Some((utc("2026-01-04T02:00:00Z"), FireReason::CatchUp))
    );
    assert_eq!(plan.skipped.len(), 1);
    let record = &plan.skipped[0];
    assert_eq!(record.outcome, FiringOutcome::SkippedMissed);
    assert_eq!(record.slot_at, utc("2026-01-03T02:00:00Z"));
    assert_eq!(record.detail["fire_times"], 3);
    assert_eq!(plan.cursor, utc("2026-01-04T02:00:00Z"));
    assert_eq!(plan.next_wake, Some(utc("2026-01-05T02:00:00Z")));
}

#[test]
fn missed_skip_fires_nothing_late_but_a_fire_time_within_the_grace_still_fires() {
    let plan = decide(
        &daily_at_two(),
        MissedPolicy::Skip,
        OverlapPolicy::Skip,
        state("2026-01-01T00:00:00Z"),
        utc("2026-01-04T10:00:00Z"),
    );
    assert_eq!(plan.fire, None);
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!(plan.skipped[0].slot_at, utc("2026-01-04T02:00:00Z"));
    assert_eq!(plan.skipped[0].detail["fire_times"], 4);
    assert_eq!(plan.cursor, utc("2026-01-04T02:00:00Z"));
    // A restart that took a minute is not an outage.
    let plan = decide(
        &daily_at_two(),
        MissedPolicy::Skip,
        OverlapPolicy::Skip,
        state("2026-01-01T00:00:00Z"),
        utc("2026-01-01T02:01:00Z"),
    );
    assert_eq!(
        plan.fire,
        Some((utc("2026-01-01T02:00:00Z"), FireReason::OnTime))
    );
}

#[test]
fn overlap_skip_records_the_fire_time_and_fires_nothing() {
    let plan = decide(
        &daily_at_two(),
        MissedPolicy::Skip,
        OverlapPolicy::Skip,
        SlotState {
            previous_open: true,
            ..state("2026-01-01T00:00:00Z")
        },
        utc("2026-01-01T02:00:00Z"),
    );
    assert_eq!(plan.fire, None);
    assert_eq!(plan.queued, None);
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!(plan.skipped[0].outcome, FiringOutcome::SkippedOverlap);
    assert_eq!(plan.cursor, utc("2026-01-01T02:00:00Z"));
}

#[test]
fn overlap_queue_waits_for_the_previous_run_and_keeps_one_fire_time_at_most() {
    let timing = daily_at_two();
    let open = SlotState {
        previous_open: true,
        ..state("2026-01-01T00:00:00Z")
    };
    let plan = decide(
        &timing,
        MissedPolicy::Skip,
        OverlapPolicy::Queue,
        open,
        utc("2026-01-01T02:00:00Z"),
    );
    assert_eq!(plan.fire, None);
    assert_eq!(plan.queued, Some(utc("2026-01-01T02:00:00Z")));
    // Still open a day later: the newer fire time takes the queue, the older is recorded.
    let open = SlotState {
        cursor: plan.cursor,
        queued: plan.queued,
        previous_open: true,
    };
    let plan = decide(
        &timing,
        MissedPolicy::Skip,
        OverlapPolicy::Queue,
        open,
        utc("2026-01-02T02:00:00Z"),
    );
    assert_eq!(plan.queued, Some(utc("2026-01-02T02:00:00Z")));
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!(plan.skipped[0].slot_at, utc("2026-01-01T02:00:00Z"));
    assert_eq!(plan.skipped[0].outcome, FiringOutcome::SkippedOverlap);
    // The run ended: the queued fire time fires, late as it is.
    let closed = SlotState {
        cursor: plan.cursor,
        queued: plan.queued,
        previous_open: false,
    };
    let plan = decide(
        &timing,
        MissedPolicy::Skip,
        OverlapPolicy::Queue,
        closed,
        utc("2026-01-02T09:00:00Z"),
    );
    assert_eq!(
        plan.fire,
        Some((utc("2026-01-02T02:00:00Z"), FireReason::Queued))
    );
    assert_eq!(plan.queued, None);
    assert!(plan.skipped.is_empty());
}

#[test]
fn daylight_saving_changes_fire_once_at_the_local_time_or_right_after_the_gap() {
    let timing = Timing::parse("30 2 * * *", "Europe/Paris").expect("valid");
    // 29 March 2026: Paris clocks jump from 02:00 to 03:00, so 02:30 does not exist; the job
    // runs at the first instant after the gap (03:00 CEST = 01:00 UTC).
    assert_eq!(
        timing.next_after(utc("2026-03-28T12:00:00Z")),
        Some(utc("2026-03-29T01:00:00Z"))
    );
    assert_eq!(
        timing.next_after(utc("2026-03-29T01:00:00Z")),
        Some(utc("2026-03-30T00:30:00Z"))
    );
    // 25 October 2026: 02:30 happens twice (CEST then CET); the job runs once, the first time.
    let first = timing.next_after(utc("2026-10-24T12:00:00Z"));
    assert_eq!(first, Some(utc("2026-10-25T00:30:00Z")));
    assert_eq!(
        timing.next_after(utc("2026-10-25T00:30:00Z")),
        Some(utc("2026-10-26T01:30:00Z"))
    );
    // The same expression in another zone is another instant.
    let new_york = Timing::parse("30 2 * * *", "America/New_York").expect("valid");
    assert_eq!(
        new_york.next_after(utc("2026-01-10T00:00:00Z")),
        Some(utc("2026-01-10T07:30:00Z"))
    );
}

#[test]
fn a_fire_time_reads_on_the_clocks_of_its_zone() {
    let timing = Timing::parse("30 2 * * *", "Europe/Paris").expect("valid");
    // Winter (CET, +01:00) then summer (CEST, +02:00): the same local 02:30.
    let winter = timing.in_zone(utc("2026-01-10T01:30:00Z"));
    assert_eq!(winter.to_rfc3339(), "2026-01-10T02:30:00+01:00");
    let summer = timing.in_zone(utc("2026-07-10T00:30:00Z"));
    assert_eq!(summer.to_rfc3339(), "2026-07-10T02:30:00+02:00");
}

/// A wall clock that follows tokio's (paused) clock from a fixed start.
struct PausedClock {
    start: DateTime<Utc>,
    origin: tokio::time::Instant,
}

impl WallClock for PausedClock {
    fn now(&self) -> DateTime<Utc> {
        self.start + TimeDelta::from_std(self.origin.elapsed()).expect("test durations fit")
    }
}

/// One schedule's state kept in memory, as the store keeps it, so the loop's timekeeping runs
/// on the paused clock with nothing but timers to wait for.
struct Book {
    timing: Timing,
    missed: MissedPolicy,
    overlap: OverlapPolicy,
    state: SlotState,
    /// Whether a fired run stays open (until the test ends it).
    runs_stay_open: bool,
}

type Fired = (DateTime<Utc>, FireReason, DateTime<Utc>);

struct Running {
    fired: mpsc::UnboundedReceiver<Fired>,
    changed: Arc<Notify>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// The loop on a paused clock reading `start` now, deciding `book` at each tick and reporting
/// each fire time with the clock's time when it fired.
fn start_loop(book: &Arc<std::sync::Mutex<Book>>, start: DateTime<Utc>) -> Running {
    let clock = Arc::new(PausedClock {
        start,
        origin: tokio::time::Instant::now(),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let changed = Arc::new(Notify::new());
    let stop = CancellationToken::new();
    let book = book.clone();
    let task = tokio::spawn(run_loop(clock, changed.clone(), stop.clone(), move |now| {
        let mut book = book.lock().expect("book");
        let plan = decide(&book.timing, book.missed, book.overlap, book.state, now);
        book.state.cursor = plan.cursor;
        book.state.queued = plan.queued;
        if let Some((slot, reason)) = plan.fire {
            book.state.previous_open = book.runs_stay_open;
            tx.send((slot, reason, now)).expect("test listening");
        }
        std::future::ready(Ok(plan.next_wake.unwrap_or(now + TimeDelta::days(1))))
    }));
    Running {
        fired: rx,
        changed,
        stop,
        task,
    }
}

impl Running {
    async fn next(&mut self) -> Fired {
        self.fired.recv().await.expect("the loop fires")
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("loop ends");
    }
}

fn book(
    missed: MissedPolicy,
    overlap: OverlapPolicy,
    cursor: DateTime<Utc>,
    runs_stay_open: bool,
) -> Arc<std::sync::Mutex<Book>> {
    Arc::new(std::sync::Mutex::new(Book {
        timing: Timing::parse("*/10 * * * *", "UTC").expect("valid"),
        missed,
        overlap,
        state: SlotState {
            cursor,
            queued: None,
            previous_open: false,
        },
        runs_stay_open,
    }))
}

#[tokio::test(start_paused = true)]
async fn the_loop_wakes_at_each_fire_time_and_a_restart_catches_up_once() {
    let start = utc("2026-01-01T00:00:00Z");
    let minutes = |n: i64| start + TimeDelta::minutes(n);
    let book = book(MissedPolicy::RunOnce, OverlapPolicy::Skip, start, false);
    let mut running = start_loop(&book, start);
    for n in [10, 20, 30] {
        assert_eq!(
            running.next().await,
            (minutes(n), FireReason::OnTime, minutes(n))
        );
    }
    running.stop().await;
    // Down from 00:30 to 03:08: 03:00 fires once at start-up, then 03:10 on time.
    let mut running = start_loop(&book, minutes(188));
    assert_eq!(
        running.next().await,
        (minutes(180), FireReason::CatchUp, minutes(188))
    );
    assert_eq!(
        running.next().await,
        (minutes(190), FireReason::OnTime, minutes(190))
    );
    running.stop().await;
    // With `missed: skip` the same outage fires nothing until the next fire time.
    book.lock().expect("book").missed = MissedPolicy::Skip;
    let mut running = start_loop(&book, minutes(408));
    assert_eq!(
        running.next().await,
        (minutes(410), FireReason::OnTime, minutes(410))
    );
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_queued_fire_time_fires_when_the_previous_run_ends() {
    let start = utc("2026-01-01T00:00:00Z");
    let minutes = |n: i64| start + TimeDelta::minutes(n);
    let book = book(MissedPolicy::Skip, OverlapPolicy::Queue, start, true);
    let mut running = start_loop(&book, start);
    assert_eq!(
        running.next().await,
        (minutes(10), FireReason::OnTime, minutes(10))
    );
    // 00:20 comes while that run is open: it waits. The run ends at 00:25.
    tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_secs(15 * 60)).await;
    assert_eq!(book.lock().expect("book").state.queued, Some(minutes(20)));
    book.lock().expect("book").state.previous_open = false;
    running.changed.notify_one();
    assert_eq!(
        running.next().await,
        (minutes(20), FireReason::Queued, minutes(25))
    );
    running.stop().await;
}

/// Stores each fired run as the engine does (with its fire time, in one transaction) and
/// reports the fire time; the runs stay open until the test ends them.
struct RecordingFirer {
    store: Store,
    fired: mpsc::UnboundedSender<DateTime<Utc>>,
}

impl Firer for RecordingFirer {
    async fn fire(&self, schedule: &Schedule, slot: DateTime<Utc>) -> Result<String, FireError> {
        let run = NewRun {
            tenant: "lab".into(),
            playbook_name: schedule.def.playbook.clone(),
            playbook_sha256: "00".repeat(32),
            playbook_source: String::new(),
            parameters: serde_json::json!({}),
            started_by: format!("schedule:{}", schedule.def.name),
            trigger_kind: TriggerKind::Schedule,
            trigger_ref: Some(schedule.def.name.clone()),
            priority: Priority::Collection,
            expires_at: slot + TimeDelta::days(1),
            max_failure_percent: None,
            canary: None,
            library: serde_json::json!({}),
            alert: None,
            target_spec: serde_json::json!({}),
            alert_claim: None,
        };
        let id = self
            .store
            .create_scheduled_run(&schedule.def.name, slot, &run, &[])
            .await
            .map_err(|err| match err {
                StoreError::Conflict(_) => FireError::AlreadyDecided,
                other => FireError::Refused(other.to_string()),
            })?;
        self.fired.send(slot).expect("test listening");
        Ok(id)
    }
}

#[tokio::test]
async fn a_fire_time_is_fired_once_across_a_crash_and_the_store_keeps_the_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("fleetlr.db"))
        .await
        .expect("store");
    let start = utc("2026-01-01T00:00:00Z");
    let minutes = |n: i64| start + TimeDelta::minutes(n);
    let def = ScheduleDef {
        name: "sweep".into(),
        cron: "*/10 * * * *".into(),
        timezone: "UTC".into(),
        playbook: "triage".into(),
        tenant: None,
        targets: serde_json::json!({"tags": ["prod"]}),
        parameters: serde_json::json!({}),
        priority: None,
        missed: MissedPolicy::RunOnce,
        overlap: OverlapPolicy::Queue,
    };
    store
        .add_schedule(&def, "test", start)
        .await
        .expect("added");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let firer = RecordingFirer {
        store: store.clone(),
        fired: tx,
    };
    tick(&store, &firer, minutes(10)).await.expect("tick");
    assert_eq!(rx.try_recv().ok(), Some(minutes(10)));
    // A process that stopped right after storing the run, before anything else: the next one
    // decides 00:10 again and the store refuses it.
    let schedule = store.schedule("sweep").await.expect("schedule");
    assert!(matches!(
        firer.fire(&schedule, minutes(10)).await,
        Err(FireError::AlreadyDecided)
    ));
    tick(&store, &firer, minutes(10)).await.expect("tick");
    assert!(rx.try_recv().is_err(), "00:10 fired once");
    // 00:20 comes while the 00:10 run is open: queued, durably.
    tick(&store, &firer, minutes(20)).await.expect("tick");
    assert!(
        rx.try_recv().is_err(),
        "nothing fires while the run is open"
    );
    assert_eq!(
        store.schedule("sweep").await.expect("schedule").queued_slot,
        Some(minutes(20))
    );
    let run = store.firings("sweep", 1).await.expect("firings")[0]
        .run_id
        .clone()
        .expect("the fired time names its run");
    assert_eq!(
        store.run(&run).await.expect("run").trigger_ref.as_deref(),
        Some("sweep")
    );
    store
        .set_run_state(&run, RunState::Finished, "done")
        .await
        .expect("ends");
    tick(&store, &firer, minutes(25)).await.expect("tick");
    assert_eq!(rx.try_recv().ok(), Some(minutes(20)));
    assert_eq!(
        store.schedule("sweep").await.expect("schedule").queued_slot,
        None
    );
    let outcomes: Vec<FiringOutcome> = store
        .firings("sweep", 10)
        .await
        .expect("firings")
        .iter()
        .map(|f| f.outcome)
        .collect();
    assert_eq!(outcomes, [FiringOutcome::Fired, FiringOutcome::Fired]);
}
