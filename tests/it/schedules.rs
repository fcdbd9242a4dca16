//! Schedules end to end: the engine fires a schedule's run against the simulator exactly once
//! per fire time; the daemon lists configured schedules with their next fire times and manages
//! API ones with roles and audit, through the REST API and the CLI.

use std::time::Duration;

use fleetlr_engine::ScheduleError;
use fleetlr_engine::schedules::{FireError, Firer};
use fleetlr_store::{MissedPolicy, OverlapPolicy, RunState, ScheduleDef, TriggerKind};
use fleetlr_tests::start_sim;
use serde_json::json;

use crate::daemon::{cli, device_ids, start_daemon, write_config};
use crate::engine::{limits, start_engine, wait_for_end};

fn nightly(devices: Vec<String>) -> ScheduleDef {
    ScheduleDef {
        name: "nightly".into(),
        cron: "0 2 * * *".into(),
        timezone: "Europe/Paris".into(),
        playbook: "e2e-triage".into(),
        tenant: None,
        targets: json!({"devices": devices}),
        parameters: json!({}),
        priority: None,
        missed: MissedPolicy::RunOnce,
        overlap: OverlapPolicy::Skip,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_time_starts_one_run_linked_to_its_schedule() {
    let sim = start_sim(
        |a| {
            a.speedup = 300.0;
            a.devices = 2;
        },
        "scripts:\n  triage.ps1: {duration: 10s}\n  cleanup.ps1: {duration: 5s}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(&sim, root.path(), limits()).await;
    let devices = crate::engine::all_device_ids(&sim).await;
    engine
        .configure_schedules(&[nightly(devices.clone())])
        .await
        .expect("configured");
    let listed = engine.schedules().await.expect("listed");
    let next = listed[0]
        .next_fire_at
        .expect("a next fire time")
        .with_timezone(&chrono::Utc);
    assert!(next > chrono::Utc::now());
    // What the loop does at 02:00, done now (the loop's timing is tested on a paused clock).
    let schedule = listed[0].schedule.clone();
    let run_id = engine.fire(&schedule, next).await.expect("fired");
    let run = engine.store().run(&run_id).await.expect("run");
    assert_eq!(run.trigger_kind, TriggerKind::Schedule);
    assert_eq!(run.trigger_ref.as_deref(), Some("nightly"));
    assert_eq!(run.started_by, "schedule:nightly");
    assert!(matches!(
        engine.fire(&schedule, next).await,
        Err(FireError::AlreadyDecided)
    ));
    assert_eq!(
        wait_for_end(&engine, &run_id, Duration::from_secs(60)).await,
        RunState::Finished
    );
    // Checked like a run request before it is stored; a configured one is not removed here.
    let mut bad = nightly(devices);
    bad.name = "bad".into();
    bad.parameters = json!({"nope": "1"});
    assert!(matches!(
        engine.add_schedule(&bad, "test").await,
        Err(ScheduleError::Invalid { .. })
    ));
    assert!(matches!(
        engine.remove_schedule("nightly").await,
        Err(ScheduleError::FromConfig(_))
    ));
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_lists_configured_schedules_and_manages_api_ones_with_roles_and_audit() {
    let sim = start_sim(|a| a.devices = 2, "").await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), &sim);
    let devices = device_ids(&sim).await;
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!(
        "schedules:\n  - name: nightly\n    cron: '0 2 * * *'\n    timezone: Europe/Paris\n    playbook: e2e-triage\n    targets: {{devices: [{}]}}\n    overlap: queue\n",
        devices[0]
    ));
    std::fs::write(&config, text).expect("config written");
    let daemon = start_daemon(&config, sim.sim.client_secret()).await;

    let (status, listed) = daemon.get("/api/v1/schedules").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed[0]["name"], "nightly");
    assert_eq!(listed[0]["source"], "config");
    assert_eq!(listed[0]["missed"], "run_once");
    assert_eq!(listed[0]["overlap"], "queue");
    assert!(listed[0]["next_fire_at"].is_string(), "{listed}");

    let (_, created) = daemon
        .post("/api/v1/tokens", &json!({"name": "vera", "role": "viewer"}))
        .await;
    let viewer = created["token"].as_str().expect("token").to_owned();
    let body = json!({"name": "weekly", "cron": "30 3 * * MON", "playbook": "e2e-triage",
                      "targets": {"devices": [devices[1]]}, "missed": "skip"});
    let (status, refused) = daemon.post_as("/api/v1/schedules", &body, &viewer).await;
    assert_eq!(status, 403, "{refused}");
    let (status, listed_by_viewer) = daemon.get_as("/api/v1/schedules", &viewer).await;
    assert_eq!(status, 200);
    assert_eq!(listed_by_viewer.as_array().map(Vec::len), Some(1));
    let (status, added) = daemon.post("/api/v1/schedules", &body).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["timezone"], "UTC");
    assert!(added["next_fire_at"].is_string(), "{added}");
    let bad = json!({"name": "bad", "cron": "0 25 * * *", "playbook": "e2e-triage",
                     "targets": {"devices": [devices[1]]}});
    let (status, refused) = daemon.post("/api/v1/schedules", &bad).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cron")),
        "{refused}"
    );

    // The CLI: pause shows it paused, list shows both, a configured one cannot be removed.
    let output = cli(&daemon, &["schedules", "pause", "weekly"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "schedule weekly: paused\n"
    );
    let output = cli(&daemon, &["schedules", "list"]);
    let table = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        table.contains("nightly") && table.contains("weekly"),
        "{table}"
    );
    assert!(table.contains("paused"), "{table}");
    let output = cli(&daemon, &["schedules", "resume", "weekly"]);
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("schedule weekly: next "),
        "{output:?}"
    );
    let output = cli(&daemon, &["schedules", "remove", "nightly"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("configuration file"),
        "{output:?}"
    );
    let output = cli(&daemon, &["schedules", "remove", "weekly"]);
    assert!(output.status.success(), "{output:?}");

    let (_, audit) = daemon.get("/api/v1/audit?limit=20").await;
    let actions: Vec<(String, String)> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("schedule."))
        })
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("schedule.remove", "ok"),
        ("schedule.remove", "refused"),
        ("schedule.resume", "ok"),
        ("schedule.pause", "ok"),
        ("schedule.add", "refused"),
        ("schedule.add", "ok"),
        ("schedule.add", "refused"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, o)| ((*a).to_owned(), (*o).to_owned()))
        .collect();
    assert_eq!(actions, expected);
}
