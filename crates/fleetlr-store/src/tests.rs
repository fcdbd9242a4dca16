use super::*;

fn new_run() -> NewRun {
    NewRun {
        playbook_name: "triage".into(),
        playbook_sha256: "ab".repeat(32),
        playbook_source: "name: triage\n".into(),
        parameters: serde_json::json!({"days": 7}),
        started_by: "alice".into(),
        trigger_kind: TriggerKind::Cli,
        trigger_ref: None,
        priority: Priority::Collection,
        expires_at: chrono::Utc::now() + chrono::TimeDelta::days(3),
        max_failure_percent: Some(20),
        canary: None,
        tenant: "lab".into(),
        library: serde_json::json!({}),
        alert: None,
        target_spec: serde_json::json!({"devices": ["dev0"]}),
        alert_claim: None,
    }
}

fn targets(n: usize) -> Vec<NewTarget> {
    (0..n)
        .map(|i| NewTarget {
            device_id: format!("dev{i}"),
            device_name: Some(format!("ws-{i}")),
            inactive_recheck_at: None,
        })
        .collect()
}

async fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("fleetlr.db"))
        .await
        .expect("store opens")
}

#[tokio::test]
async fn an_accepted_run_survives_reopening_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = {
        let store = open(&dir).await;
        store
            .create_run(&new_run(), &targets(3))
            .await
            .expect("create")
    };
    let store = open(&dir).await;
    let run = store.run(&id).await.expect("run is there");
    assert_eq!(
        (run.state, run.priority, run.started_by.as_str()),
        (RunState::Queued, Priority::Collection, "alice")
    );
    assert_eq!(run.parameters["days"], 7);
    assert_eq!(store.targets(&id).await.expect("targets").len(), 3);
    let summaries = store.list_runs(10).await.expect("list");
    assert_eq!(
        summaries[0].targets_by_state,
        vec![(TargetState::Pending, 3)]
    );
    store.integrity_check().await.expect("sound");
}

#[tokio::test]
async fn duplicate_devices_in_a_run_become_one_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let mut list = targets(2);
    list.push(list[0].clone());
    let id = store.create_run(&new_run(), &list).await.expect("create");
    assert_eq!(store.targets(&id).await.expect("targets").len(), 2);
}

#[tokio::test]
async fn an_intent_is_durable_before_the_post_and_resolves_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (run_id, submission) = {
        let store = open(&dir).await;
        let run_id = store
            .create_run(&new_run(), &targets(1))
            .await
            .expect("create");
        let target = store.targets(&run_id).await.expect("targets")[0].id;
        (
            run_id.clone(),
            store.record_intent(target, 0).await.expect("intent"),
        )
    };
    // A crash here: the reopened store knows the POST may have happened.
    let store = open(&dir).await;
    let open_intents = store.open_intents("lab").await.expect("open intents");
    assert_eq!(open_intents, vec![submission.clone()]);
    assert_eq!(
        submission.marker,
        format!("fleetlr:{run_id}:{}:0:1", submission.target_id)
    );
    assert_eq!(submission.device_id, "dev0");

    store
        .record_accepted(submission.id, "action-1")
        .await
        .expect("accepted");
    assert!(store.open_intents("lab").await.expect("open").is_empty());
    let again = store.record_refused(submission.id, "late", None).await;
    assert!(
        matches!(again, Err(StoreError::AlreadyResolved { .. })),
        "{again:?}"
    );
    let target = &store.targets(&run_id).await.expect("targets")[0];
    assert_eq!((target.state, target.attempts), (TargetState::InFlight, 1));
}

#[tokio::test]
async fn a_refused_submission_is_retried_with_a_new_marker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let run_id = store
        .create_run(&new_run(), &targets(1))
        .await
        .expect("create");
    let target = store.targets(&run_id).await.expect("targets")[0].id;
    let first = store.record_intent(target, 0).await.expect("intent");
    store
        .record_refused(first.id, "429 TooManyRequests", None)
        .await
        .expect("refused");
    let second = store.record_intent(target, 0).await.expect("intent");
    assert_eq!(second.attempt, 2);
    assert_ne!(first.marker, second.marker);
    let target = &store.targets(&run_id).await.expect("targets")[0];
    assert_eq!(target.last_error.as_deref(), Some("429 TooManyRequests"));
}

#[tokio::test]
async fn events_are_append_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let run_id = store
        .create_run(&new_run(), &targets(1))
        .await
        .expect("create");
    store
        .append_event(&run_id, None, "note", &serde_json::json!({"by": "bob"}))
        .await
        .expect("append");
    let events = store.events(&run_id).await.expect("events");
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["run_created", "note"]
    );
    let tampered = sqlx::query("UPDATE run_events SET kind = 'x'")
        .execute(&store.pool)
        .await;
    assert!(tampered.is_err(), "the trigger refuses updates");
}

fn outcome(call_index: u32, command_index: u32, kind: OutcomeKind) -> NewOutcome {
    NewOutcome {
        call_index,
        command_index,
        step_id: format!("s{call_index}{command_index}"),
        command_type: CommandType::RunScript,
        outcome: kind,
        started_at: None,
        ended_at: None,
        errors: vec![],
        exit_code: None,
        output_preview: None,
        artifact_path: None,
        artifact_sha256: None,
        artifact_bytes: None,
        capture_retry: None,
    }
}

#[tokio::test]
async fn a_failed_target_is_retried_inside_its_run_from_the_call_that_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let id = store
        .create_run(&new_run(), &targets(1))
        .await
        .expect("create");
    let target = store.targets(&id).await.expect("targets")[0].clone();
    let first = store.record_intent(target.id, 0).await.expect("intent");
    store
        .record_accepted(first.id, "a1")
        .await
        .expect("accepted");
    store
        .finish_call(
            first.id,
            "Succeeded",
            &[outcome(0, 0, OutcomeKind::Completed)],
            &CallEnd::Continue { next_call: 1 },
        )
        .await
        .expect("first call");
    let second = store.record_intent(target.id, 1).await.expect("intent");
    store
        .record_accepted(second.id, "a2")
        .await
        .expect("accepted");
    let failed = [
        outcome(1, 0, OutcomeKind::Failed),
        outcome(1, 1, OutcomeKind::NotExecuted),
    ];
    store
        .finish_call(
            second.id,
            "Failed",
            &failed,
            &CallEnd::Ends(TargetState::Failed),
        )
        .await
        .expect("second call");
    store
        .set_run_state(&id, RunState::Finished, "done")
        .await
        .expect("finished");
    assert_eq!(store.outcomes(&id).await.expect("outcomes").len(), 3);

    assert_eq!(store.retry_targets(&id, "bob").await.expect("retry"), 1);
    let retried = store.target(target.id).await.expect("target");
    assert_eq!(
        (retried.state, retried.call_index),
        (TargetState::Pending, 1)
    );
    assert_eq!(store.run(&id).await.expect("run").state, RunState::Running);
    // The retry is a new attempt with its own marker; the old outcomes stay as history.
    let again = store.record_intent(target.id, 1).await.expect("intent");
    assert_eq!(again.attempt, 2);
    assert_ne!(again.marker, second.marker);
    assert!(store.in_flight("lab").await.expect("in flight").is_empty());
}

#[tokio::test]
async fn ending_a_queued_target_records_its_unrun_commands_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let id = store
        .create_run(&new_run(), &targets(1))
        .await
        .expect("create");
    let target = store.targets(&id).await.expect("targets")[0].clone();
    let unrun = [
        outcome(0, 0, OutcomeKind::Expired),
        outcome(0, 1, OutcomeKind::Expired),
    ];
    store
        .end_target(target.id, TargetState::Expired, "never online", &unrun)
        .await
        .expect("end");
    store
        .end_target(target.id, TargetState::Expired, "never online", &unrun)
        .await
        .expect("again is a no-op");
    assert_eq!(store.outcomes(&id).await.expect("outcomes").len(), 2);
    assert_eq!(
        store.target(target.id).await.expect("target").state,
        TargetState::Expired
    );
}

#[tokio::test]
async fn the_audit_log_can_be_appended_to_but_never_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    store
        .audit(
            "alice",
            "operator",
            "run.cancel",
            Some("r1"),
            "ok",
            &serde_json::json!({}),
        )
        .await
        .expect("audit");
    let tampering = sqlx::query("UPDATE audit_log SET actor = 'mallory'")
        .execute(&store.pool)
        .await;
    assert!(tampering.is_err());
    let erasing = sqlx::query("DELETE FROM audit_log")
        .execute(&store.pool)
        .await;
    assert!(erasing.is_err());
    let entries = store.audit_log(10).await.expect("log");
    assert_eq!(
        (entries[0].actor.as_str(), entries[0].action.as_str()),
        ("alice", "run.cancel")
    );
}

fn key<'a>(alert_id: &'a str, device_id: &'a str) -> AlertKey<'a> {
    AlertKey {
        hook: "mde",
        alert_id,
        device_id,
        rule: "contain",
    }
}

const LEASE: std::time::Duration = std::time::Duration::from_secs(300);

async fn run_for(store: &Store, token: ClaimToken) -> Result<String> {
    let run = NewRun {
        alert_claim: Some(token),
        ..new_run()
    };
    store.create_run(&run, &targets(1)).await
}

#[tokio::test]
async fn an_alert_claimed_twice_starts_one_run_and_the_second_sees_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let Claim::Won(token) = store
        .claim_alert(&key("a1", "dev0"), None, LEASE)
        .await
        .expect("claim")
    else {
        panic!("the first delivery wins")
    };
    // While the first delivery is still creating its run, a second one is a duplicate.
    let pending = store
        .claim_alert(&key("a1", "dev0"), None, LEASE)
        .await
        .expect("claim");
    assert_eq!(
        pending,
        Claim::Blocked(Blocked::Duplicate {
            claim_id: token.id,
            run_id: None
        })
    );
    let run = run_for(&store, token).await.expect("run stored");
    let again = store
        .claim_alert(&key("a1", "dev0"), None, LEASE)
        .await
        .expect("claim");
    assert_eq!(
        again,
        Claim::Blocked(Blocked::Duplicate {
            claim_id: token.id,
            run_id: Some(run.clone())
        })
    );
    // Concurrent claims of one new key: exactly one wins.
    let claims = futures_join(&store, "a2").await;
    assert_eq!(
        claims.iter().filter(|c| matches!(c, Claim::Won(_))).count(),
        1,
        "{claims:?}"
    );
}

async fn futures_join(store: &Store, alert: &str) -> Vec<Claim> {
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        let alert = alert.to_owned();
        tasks.push(tokio::spawn(async move {
            store
                .claim_alert(&key(&alert, "dev0"), None, LEASE)
                .await
                .expect("claim")
        }));
    }
    let mut claims = Vec::new();
    for task in tasks {
        claims.push(task.await.expect("task"));
    }
    claims
}

#[tokio::test]
async fn a_claim_left_by_a_crash_is_taken_over_and_the_late_attempt_cannot_store_a_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let Claim::Won(first) = store
        .claim_alert(&key("a1", "dev0"), None, LEASE)
        .await
        .expect("claim")
    else {
        panic!("won")
    };
    // The daemon restarts: no earlier request can still be creating the run.
    drop(store);
    let store = open(&dir).await;
    assert_eq!(store.expire_claim_leases().await.expect("expire"), 1);
    let Claim::Won(second) = store
        .claim_alert(&key("a1", "dev0"), None, LEASE)
        .await
        .expect("claim")
    else {
        panic!("an expired claim is taken over")
    };
    assert_eq!((second.id, second.attempt), (first.id, 2));
    // The first attempt, had it survived, can no longer store its run: one run per alert.
    assert!(matches!(
        run_for(&store, first).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.list_runs(10).await.expect("runs").is_empty());
    let run = run_for(&store, second).await.expect("run stored");
    // A released claim (its run could not be created) is claimed again at once.
    let Claim::Won(other) = store
        .claim_alert(&key("a9", "dev5"), None, LEASE)
        .await
        .expect("claim")
    else {
        panic!("won")
    };
    store.release_claim(other).await.expect("release");
    assert!(matches!(
        store
            .claim_alert(&key("a9", "dev5"), None, LEASE)
            .await
            .expect("claim"),
        Claim::Won(ClaimToken { attempt: 2, .. })
    ));
    assert_eq!(store.run(&run).await.expect("run").id, run);
}

#[tokio::test]
async fn a_cooldown_suppresses_other_alerts_of_the_rule_on_the_device_and_names_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let cooldown = Some(std::time::Duration::from_secs(600));
    let Claim::Won(token) = store
        .claim_alert(&key("a1", "dev0"), cooldown, LEASE)
        .await
        .expect("claim")
    else {
        panic!("won")
    };
    let run = run_for(&store, token).await.expect("run");
    let suppressed = store
        .claim_alert(&key("a2", "dev0"), cooldown, LEASE)
        .await
        .expect("claim");
    assert_eq!(
        suppressed,
        Claim::Blocked(Blocked::Suppressed {
            claim_id: token.id,
            run_id: Some(run.clone())
        })
    );
    // Another device, or no cooldown: not suppressed.
    assert!(matches!(
        store
            .claim_alert(&key("a2", "dev1"), cooldown, LEASE)
            .await
            .expect("claim"),
        Claim::Won(_)
    ));
    assert!(matches!(
        store
            .claim_alert(&key("a3", "dev0"), None, LEASE)
            .await
            .expect("claim"),
        Claim::Won(_)
    ));
    store
        .record_delivery(&NewDelivery {
            delivery: "d1",
            hook: "mde",
            alert_id: Some("a2"),
            device_id: Some("dev0"),
            rule: Some("contain"),
            outcome: DeliveryOutcome::Suppressed,
            reason: "cooldown",
            claim_id: Some(token.id),
        })
        .await
        .expect("recorded");
    let log = store.deliveries(10).await.expect("deliveries");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Suppressed);
    assert_eq!(log[0].run_id.as_deref(), Some(run.as_str()));
}

fn schedule_def(name: &str, cron: &str) -> ScheduleDef {
    ScheduleDef {
        name: name.into(),
        cron: cron.into(),
        timezone: "UTC".into(),
        playbook: "triage".into(),
        tenant: None,
        targets: serde_json::json!({"tags": ["prod"]}),
        parameters: serde_json::json!({}),
        priority: None,
        missed: MissedPolicy::Skip,
        overlap: OverlapPolicy::Skip,
    }
}

#[tokio::test]
async fn configured_schedules_keep_their_state_across_starts_and_never_take_an_api_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let first = chrono::Utc::now() - chrono::TimeDelta::days(1);
    let defs = [
        schedule_def("nightly", "0 2 * * *"),
        schedule_def("hourly", "0 * * * *"),
    ];
    store
        .sync_config_schedules(&defs, first)
        .await
        .expect("synced");
    store
        .set_schedule_paused("hourly", true, first)
        .await
        .expect("paused");
    // The next start: `nightly` changed its time, `hourly` left the file.
    let later = chrono::Utc::now();
    let defs = [schedule_def("nightly", "0 3 * * *")];
    store
        .sync_config_schedules(&defs, later)
        .await
        .expect("synced");
    let all = store.schedules().await.expect("listed");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].def.cron, "0 3 * * *");
    assert_eq!(all[0].source, ScheduleSource::Config);
    assert_eq!(
        all[0].cursor,
        parse_stamp(&stamp(first)).expect("stamp"),
        "the cursor is kept"
    );
    store
        .add_schedule(&schedule_def("adhoc", "0 4 * * *"), "alice", later)
        .await
        .expect("added");
    assert!(matches!(
        store
            .add_schedule(&schedule_def("adhoc", "0 5 * * *"), "bob", later)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let clash = [
        schedule_def("nightly", "0 3 * * *"),
        schedule_def("adhoc", "0 4 * * *"),
    ];
    let err = store
        .sync_config_schedules(&clash, later)
        .await
        .expect_err("API name");
    assert!(err.to_string().contains("added through the API"), "{err}");
    store.remove_schedule("adhoc").await.expect("removed");
    assert!(matches!(
        store.remove_schedule("adhoc").await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Takes `target` through one accepted call that ends as `end`.
async fn one_call(store: &Store, target: i64, call: u32, end: CallEnd) {
    let intent = store.record_intent(target, call).await.expect("intent");
    store
        .record_accepted(intent.id, &format!("action-{}", intent.id))
        .await
        .expect("accepted");
    store
        .finish_call(intent.id, "Succeeded", &[], &end)
        .await
        .expect("call ends");
}

#[tokio::test]
async fn due_targets_put_next_calls_first_and_withdrawn_first_calls_last() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let id = store
        .create_run(&new_run(), &targets(5))
        .await
        .expect("create");
    let ids: Vec<i64> = store
        .targets(&id)
        .await
        .expect("targets")
        .iter()
        .map(|t| t.id)
        .collect();
    // dev0 and dev4 were withdrawn as offline and are back in the queue; dev4 then finished
    // its first call, as did dev2.
    let past = chrono::Utc::now() - chrono::TimeDelta::minutes(1);
    for withdrawn in [ids[0], ids[4]] {
        one_call(
            &store,
            withdrawn,
            0,
            CallEnd::DeviceOffline { retry_at: past },
        )
        .await;
        store
            .defer_target(withdrawn, TargetState::Pending, None, "active again")
            .await
            .expect("back in the queue");
    }
    for finished in [ids[4], ids[2]] {
        one_call(&store, finished, 0, CallEnd::Continue { next_call: 1 }).await;
    }

    let due = store
        .due_targets(&id, TargetState::Pending, chrono::Utc::now(), 10)
        .await
        .expect("due");
    let order: Vec<&str> = due.iter().map(|t| t.device_id.as_str()).collect();
    assert_eq!(order, ["dev2", "dev4", "dev1", "dev3", "dev0"]);
}

/// A run of two devices, the second inactive when the run was created: its re-check time.
async fn run_with_an_inactive_device(
    store: &Store,
    run: NewRun,
) -> (String, chrono::DateTime<chrono::Utc>) {
    let recheck = chrono::Utc::now() + chrono::TimeDelta::minutes(2);
    let mut new = targets(2);
    new[1].inactive_recheck_at = Some(recheck);
    let id = store.create_run(&run, &new).await.expect("create");
    (id, recheck)
}

#[tokio::test]
async fn a_device_inactive_at_creation_starts_out_waiting_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let (id, recheck) = run_with_an_inactive_device(&store, new_run()).await;
    let stored = store.targets(&id).await.expect("targets");
    assert_eq!(stored[0].state, TargetState::Pending);
    assert_eq!(stored[1].state, TargetState::WaitingOffline);
    assert_eq!(
        stored[1].next_attempt_at.as_deref(),
        Some(stamp(recheck).as_str())
    );
    let due_now = store
        .due_targets(&id, TargetState::WaitingOffline, chrono::Utc::now(), 10)
        .await
        .expect("due");
    assert!(due_now.is_empty(), "not looked at before its re-check");
}

#[tokio::test]
async fn a_wall_clock_jump_moves_a_tenants_deadlines_by_as_much() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let (id, recheck) = run_with_an_inactive_device(&store, new_run()).await;
    let elsewhere = NewRun {
        tenant: "elsewhere".into(),
        ..new_run()
    };
    let (other, other_recheck) = run_with_an_inactive_device(&store, elsewhere).await;
    let before = store.run(&id).await.expect("run").expires_at;
    // The clock went back an hour: what was due in 2 minutes is due in 2 minutes still.
    let back = chrono::TimeDelta::hours(-1);
    let moved = store.shift_deadlines("lab", back).await.expect("shifted");
    assert_eq!(moved, 2, "the run's expiry and one re-check");
    let after = store.run(&id).await.expect("run").expires_at;
    assert_eq!(
        parse_stamp(&after),
        parse_stamp(&before).map(|at| at + back)
    );
    let stored = store.targets(&id).await.expect("targets");
    assert_eq!(
        stored[1].next_attempt_at.as_deref(),
        Some(stamp(recheck + back).as_str())
    );
    assert_eq!(stored[0].next_attempt_at, None);
    let untouched = store.targets(&other).await.expect("targets");
    assert_eq!(
        untouched[1].next_attempt_at.as_deref(),
        Some(stamp(other_recheck).as_str()),
        "another tenant's deadlines are its own worker's"
    );
    let events = store.events(&id).await.expect("events");
    let noted = events
        .iter()
        .find(|e| e.kind == "wall_clock_jumped")
        .expect("the jump is in the run's events");
    assert_eq!(noted.detail["jump_seconds"], -3600);
}

/// Reads every page of something paged by the last row's id, `limit` rows at a time.
async fn all_pages<T, F, Fut>(limit: u32, id_of: impl Fn(&T) -> i64, mut read: F) -> Vec<T>
where
    F: FnMut(Page) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>>>,
{
    let mut all: Vec<T> = Vec::new();
    let mut page = Page::first(limit);
    loop {
        let rows = read(page).await.expect("page");
        let full = rows.len() == limit as usize;
        all.extend(rows);
        match all.last() {
            Some(last) if full => page = Page::after(id_of(last), limit),
            _ => return all,
        }
    }
}

#[tokio::test]
async fn a_run_is_read_a_page_at_a_time_and_the_pages_add_up_to_the_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let id = store
        .create_run(&new_run(), &targets(7))
        .await
        .expect("create");
    let other = store
        .create_run(&new_run(), &targets(3))
        .await
        .expect("other run");
    let mine = store.targets(&id).await.expect("targets");
    let theirs = store.targets(&other).await.expect("targets");
    // Outcomes of both runs interleaved, as two runs going at once write them.
    for (i, target) in mine.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let unrun = [
            outcome(0, 0, OutcomeKind::Expired),
            outcome(0, 1, OutcomeKind::Expired),
        ];
        store
            .end_target(target.id, TargetState::Expired, "never online", &unrun)
            .await
            .expect("end");
        if let Some(them) = theirs.get(i / 2) {
            store
                .end_target(them.id, TargetState::Expired, "never online", &unrun[..1])
                .await
                .expect("end theirs");
        }
    }

    let whole = store.targets(&id).await.expect("targets");
    let paged = all_pages(
        3,
        |t: &Target| t.id,
        |page| store.targets_page(&id, None, page),
    )
    .await;
    assert_eq!(paged, whole, "targets, 3 at a time");
    let expired = all_pages(
        2,
        |t: &Target| t.id,
        |page| store.targets_page(&id, Some(TargetState::Expired), page),
    )
    .await;
    assert_eq!(
        expired
            .iter()
            .map(|t| t.device_id.as_str())
            .collect::<Vec<_>>(),
        ["dev0", "dev2", "dev4", "dev6"]
    );
    let second_page = store
        .targets_page(&id, Some(TargetState::Pending), Page::numbered(1, 2))
        .await
        .expect("page 2");
    assert_eq!(
        second_page
            .iter()
            .map(|t| t.device_id.as_str())
            .collect::<Vec<_>>(),
        ["dev5"],
        "pending are dev1, dev3, dev5: the second page of two holds the third"
    );

    let by_name = store.targets_of_device(&id, "ws-3").await.expect("by name");
    let by_id = store.targets_of_device(&id, "dev3").await.expect("by id");
    assert_eq!((by_name.len(), &by_name), (1, &by_id));
    assert!(
        store
            .targets_of_device(&other, "dev5")
            .await
            .expect("none")
            .is_empty(),
        "dev5 is not in the other run"
    );

    let whole = store.outcomes(&id).await.expect("outcomes");
    assert_eq!(whole.len(), 8);
    assert!(
        whole
            .iter()
            .all(|o| mine.iter().any(|t| t.id == o.target_id))
    );
    for limit in [1, 3, 8, 100] {
        let paged = all_pages(
            limit,
            |o: &CommandOutcome| o.id,
            |page| store.outcomes_page(&id, None, page),
        )
        .await;
        assert_eq!(paged, whole, "outcomes, {limit} at a time");
    }
    let dev4 = all_pages(
        1,
        |o: &CommandOutcome| o.id,
        |page| store.outcomes_page(&id, Some("dev4"), page),
    )
    .await;
    assert_eq!(
        dev4,
        whole
            .iter()
            .filter(|o| o.device_id == "dev4")
            .cloned()
            .collect::<Vec<_>>()
    );
    let two = store
        .outcomes_of_targets(&id, &[mine[2].id, mine[5].id, theirs[0].id])
        .await
        .expect("outcomes of a page");
    assert_eq!(
        two.iter().map(|o| o.target_id).collect::<Vec<_>>(),
        [mine[2].id, mine[2].id],
        "dev5 has none yet; another run's target is not this run's"
    );

    let events = store.events(&id).await.expect("events");
    let paged = all_pages(2, |e: &RunEvent| e.id, |page| store.events_page(&id, page)).await;
    assert_eq!(
        paged.iter().map(|e| e.id).collect::<Vec<_>>(),
        events.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    let newest = store.newest_events(&id, 2).await.expect("newest");
    assert_eq!(
        newest.iter().map(|e| e.id).collect::<Vec<_>>(),
        events
            .iter()
            .rev()
            .take(2)
            .map(|e| e.id)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_run_bigger_than_one_insert_keeps_every_target_and_its_starting_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let mut list = targets(250);
    for target in list.iter_mut().step_by(7) {
        target.inactive_recheck_at = Some(chrono::Utc::now());
    }
    // A device named twice, in different statements, is still one target.
    list.push(list[3].clone());
    let id = store.create_run(&new_run(), &list).await.expect("create");
    assert_eq!(
        store.target_counts(&id).await.expect("counts"),
        vec![
            (TargetState::Pending, 214),
            (TargetState::WaitingOffline, 36)
        ]
    );
    let stored = store.targets(&id).await.expect("targets");
    assert_eq!(stored[249].device_id, "dev249");
    assert_eq!(stored[7].state, TargetState::WaitingOffline);
}
