//! The engine against the simulator over real HTTPS with a real SQLite file: a fleet-wide run
//! with offline devices, failing scripts and a multi-call playbook ends with the right record for
//! every command, inside the platform's limits.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use fleetlr_engine::{
    Engine, EngineSetup, Limits, PlaybookDir, PlaybookRef, RunRequest, TargetSpec, TenantSetup,
};
use fleetlr_store::{OutcomeKind, RunState, Store, TargetState};
use fleetlr_tests::{TestSim, eventually, start_sim};
use serde_json::Value;

/// Simulated seconds per wall second: 40 simulated minutes of pacing take 8 s.
const SPEEDUP: f64 = 300.0;

/// Two calls: RunScript then GetFile, and a RunScript that must come after the GetFile.
pub(crate) const PLAYBOOK: &str = r#"
name: e2e-triage
description: triage, collect the bundle, clean up
policy:
  priority: collection
steps:
  - id: triage
    run_script: triage.ps1
  - id: collect
    get_file: 'C:\Windows\Temp\triage.zip'
  - id: cleanup
    run_script: cleanup.ps1
"#;

pub(crate) fn playbook_dir(root: &Path, playbooks: &[(&str, &str)]) -> PlaybookDir {
    let dir = root.join("playbooks");
    std::fs::create_dir_all(dir.join("scripts")).expect("playbook dir");
    for (name, yaml) in playbooks {
        std::fs::write(dir.join(format!("{name}.yaml")), yaml).expect("playbook written");
    }
    for script in ["triage.ps1", "cleanup.ps1", "contain.ps1"] {
        std::fs::write(dir.join("scripts").join(script), format!("# {script}\n"))
            .expect("script written");
    }
    PlaybookDir::new(dir, 20_000_000)
}

pub(crate) fn limits() -> Limits {
    Limits {
        time_scale: SPEEDUP,
        // At this speed a window is 200 ms; a wide margin keeps localhost jitter harmless.
        pacing_margin: 0.5,
        ..Limits::default()
    }
}

pub(crate) async fn start_engine(sim: &TestSim, root: &Path, limits: Limits) -> Engine {
    let store = Store::open(&root.join("fleetlr.db"))
        .await
        .expect("store opens");
    let engine = Engine::start(
        store,
        EngineSetup {
            tenants: vec![TenantSetup {
                name: "lab".into(),
                client: sim.client(),
                limits,
            }],
            playbooks: playbook_dir(root, &[("e2e-triage", PLAYBOOK)]),
            artifacts_dir: root.join("artifacts"),
        },
    );
    eventually(Duration::from_secs(10), "engine ready", || async {
        engine.is_ready().then_some(())
    })
    .await;
    engine
}

pub(crate) async fn all_device_ids(sim: &TestSim) -> Vec<String> {
    let query = fleetlr_defender::odata::ODataQuery::new();
    let mut ids: Vec<String> = sim
        .client()
        .list_all_machines(&query)
        .await
        .expect("machines")
        .into_iter()
        .map(|m| m.id)
        .collect();
    ids.sort();
    ids
}

pub(crate) async fn wait_for_end(engine: &Engine, run_id: &str, timeout: Duration) -> RunState {
    let started = std::time::Instant::now();
    let mut last_report = 0;
    eventually(timeout, "the run to end", || {
        let elapsed = started.elapsed().as_secs();
        let report = elapsed / 5 > last_report;
        if report {
            last_report = elapsed / 5;
        }
        async move {
            let run = engine.store().run(run_id).await.expect("run");
            if report {
                let counts = engine.store().target_counts(run_id).await.expect("counts");
                eprintln!("{elapsed}s: {:?} {counts:?}", run.state);
            }
            run.state.is_terminal().then_some(run.state)
        }
    })
    .await
}

/// Every command the simulator *executed* (started on the device), per device; a step sent
/// twice would show up twice here.
pub(crate) fn executed_commands(stats: &Value) -> BTreeMap<String, Vec<String>> {
    let mut executed = BTreeMap::new();
    for device in stats["devices"].as_array().into_iter().flatten() {
        let name = device["name"].as_str().unwrap_or_default().to_owned();
        let mut commands = Vec::new();
        for action in device["actions"].as_array().into_iter().flatten() {
            for command in action["commands"].as_array().into_iter().flatten() {
                if command["status"] != "Created" {
                    commands.push(format!("{}{}", command["type"], command["params"]));
                }
            }
        }
        executed.insert(name, commands);
    }
    executed
}

pub(crate) fn assert_no_step_ran_twice(stats: &Value) {
    for (device, commands) in executed_commands(stats) {
        let mut seen = std::collections::HashSet::new();
        for command in &commands {
            assert!(seen.insert(command), "{device} ran {command} twice");
        }
    }
}

pub(crate) fn assert_limits_kept(stats: &Value) {
    let s = &stats["stats"];
    assert_eq!(s["throttled_429"], 0, "fleetlr caused a 429: {s}");
    assert!(
        s["peak_sessions"].as_u64().expect("peak") <= 25,
        "more sessions than the cap: {s}"
    );
    for limit in ["rate_limit", "session_cap", "active_request_exists"] {
        assert!(
            s["limits_enforced"][limit].is_null(),
            "the simulator had to enforce {limit}: {s}"
        );
    }
}

fn request(playbook: &str, devices: Vec<String>) -> RunRequest {
    RunRequest {
        playbook: PlaybookRef::Named(playbook.into()),
        targets: TargetSpec {
            devices,
            ..TargetSpec::default()
        },
        started_by: "e2e".into(),
        ..RunRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_429s_and_5xx_and_lost_answers_fails_nothing() {
    fleetlr_tests::init_logging();
    let scenario = r#"
fleet: {count: 30}
scripts:
  triage.ps1: {duration: 10s..30s}
  cleanup.ps1: {duration: 5s}
files:
  default: {size: 4KiB}
"#;
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.seed = 11;
        },
        scenario,
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(&sim, root.path(), limits()).await;
    let devices = all_device_ids(&sim).await;
    // The storm starts once the test knows its devices; the engine meets all of it.
    for fault in [
        serde_json::json!({"endpoint": "runliveresponse", "kind": "status", "status": 429, "probability": 0.3}),
        serde_json::json!({"endpoint": "runliveresponse", "kind": "status", "status": 503, "probability": 0.1}),
        serde_json::json!({"endpoint": "runliveresponse", "kind": "drop_after", "count": 3}),
        serde_json::json!({"endpoint": "machineactions.list", "kind": "status", "status": 503, "probability": 0.2}),
        serde_json::json!({"endpoint": "machineactions.list", "kind": "status", "status": 429, "probability": 0.1}),
        serde_json::json!({"endpoint": "machineactions.resultlink", "kind": "status", "status": 500, "probability": 0.2}),
        serde_json::json!({"endpoint": "machines.list", "kind": "status", "status": 502, "probability": 0.2}),
        serde_json::json!({"endpoint": "blob", "kind": "drop_before", "probability": 0.1}),
    ] {
        sim.add_fault(&fault).await;
    }
    let run_id = engine
        .create_run(request("e2e-triage", devices))
        .await
        .expect("run accepted despite the storm");
    let state = wait_for_end(&engine, &run_id, Duration::from_secs(120)).await;
    assert_eq!(state, RunState::Finished);
    let targets = engine.store().targets(&run_id).await.expect("targets");
    for target in &targets {
        assert_eq!(target.state, TargetState::Succeeded, "{target:?}");
    }
    let outcomes = engine.store().outcomes(&run_id).await.expect("outcomes");
    assert_eq!(outcomes.len(), 30 * 3);
    assert!(
        outcomes
            .iter()
            .all(|o| o.outcome.outcome == OutcomeKind::Completed)
    );
    let stats = sim.stats().await;
    let s = &stats["stats"];
    assert!(
        s["faults_injected"]["status_429"].as_u64().unwrap_or(0) > 0,
        "{s}"
    );
    assert!(
        s["faults_injected"]["drop_after"].as_u64().unwrap_or(0) > 0,
        "{s}"
    );
    assert!(s["limits_enforced"]["rate_limit"].is_null(), "{s}");
    assert!(s["limits_enforced"]["session_cap"].is_null(), "{s}");
    assert_no_step_ran_twice(&stats);
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_run_starts_at_once_while_a_collection_holds_the_sessions() {
    fleetlr_tests::init_logging();
    // Slower time here: the measurement is in pacing intervals, which must dwarf jitter.
    let speedup = 60.0;
    let scenario = r#"
fleet: {count: 30}
devices:
  - {name: alerted.lab, tags: [alert]}
scripts:
  triage.ps1: {duration: 8m..10m}
  cleanup.ps1: {duration: 5s}
  contain.ps1: {duration: 10s}
files:
  default: {size: 4KiB}
"#;
    let sim = start_sim(
        |a| {
            a.speedup = speedup;
            a.seed = 5;
        },
        scenario,
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&root.path().join("fleetlr.db"))
        .await
        .expect("store");
    let limits = Limits {
        time_scale: speedup,
        pacing_margin: 0.5,
        sessions_reserved_for_response: 3,
        ..Limits::default()
    };
    let respond = "name: contain\ndescription: respond to an alert\npolicy:\n  priority: response\nsteps:\n  - run_script: contain.ps1\n";
    let engine = Engine::start(
        store,
        EngineSetup {
            tenants: vec![TenantSetup {
                name: "lab".into(),
                client: sim.client(),
                limits,
            }],
            playbooks: playbook_dir(
                root.path(),
                &[("e2e-triage", PLAYBOOK), ("contain", respond)],
            ),
            artifacts_dir: root.path().join("artifacts"),
        },
    );
    let machines = sim
        .client()
        .list_all_machines(&fleetlr_defender::odata::ODataQuery::new())
        .await
        .expect("machines");
    let (alerted, bulk): (Vec<_>, Vec<_>) = machines
        .into_iter()
        .partition(|m| m.machine_tags.iter().any(|t| t == "alert"));
    let alerted = alerted.first().expect("a device tagged alert").id.clone();
    let bulk: Vec<String> = bulk.into_iter().map(|m| m.id).collect();
    assert!(bulk.len() > 25, "more collection targets than sessions");
    let collection = engine
        .create_run(request("e2e-triage", bulk))
        .await
        .expect("collection accepted");
    // Wait until the collection holds every session it may (cap 25 minus the reserve of 3).
    eventually(
        Duration::from_secs(30),
        "the collection to fill its sessions",
        || async {
            let counts = engine
                .store()
                .target_counts(&collection)
                .await
                .expect("counts");
            counts
                .iter()
                .any(|(state, n)| *state == TargetState::InFlight && *n == 22)
                .then_some(())
        },
    )
    .await;
    let asked_at = sim_now(&sim).await;
    let response = engine
        .create_run(request("contain", vec![alerted.clone()]))
        .await
        .expect("response accepted");
    let action = eventually(Duration::from_secs(30), "the response action", || async {
        let stats = sim.stats().await;
        let device = stats["devices"]
            .as_array()?
            .iter()
            .find(|d| d["id"] == alerted.as_str())?
            .clone();
        device["actions"].as_array()?.first().cloned()
    })
    .await;
    let sent_at = sim
        .client()
        .get_machine_action(action["id"].as_str().expect("action id"))
        .await
        .expect("action")
        .creation_date_time_utc
        .expect("creation time");
    // One pacing interval is 6 simulated seconds (plus the margin); allow two.
    let waited = (sent_at - asked_at).num_milliseconds();
    assert!(
        waited <= 2 * 9_000,
        "the response waited {waited} ms of simulated time"
    );
    let still_held = engine
        .store()
        .target_counts(&collection)
        .await
        .expect("counts");
    assert!(
        still_held
            .iter()
            .any(|(s, n)| *s == TargetState::InFlight && *n >= 20),
        "the response used the reserve, not a freed collection slot: {still_held:?}"
    );
    assert_eq!(
        wait_for_end(&engine, &response, Duration::from_secs(30)).await,
        RunState::Finished
    );
    assert_eq!(
        wait_for_end(&engine, &collection, Duration::from_secs(120)).await,
        RunState::Finished
    );
    assert_limits_kept(&sim.stats().await);
    engine.shutdown(Duration::from_secs(5)).await;
}

async fn sim_now(sim: &TestSim) -> chrono::DateTime<chrono::Utc> {
    let stats = sim.stats().await;
    let now = stats["now"].as_str().expect("sim now");
    chrono::DateTime::parse_from_rfc3339(now)
        .expect("sim time parses")
        .with_timezone(&chrono::Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_canary_or_a_tripped_breaker_pauses_the_run_until_an_operator_decides() {
    fleetlr_tests::init_logging();
    let scenario = "fleet: {count: 30}\nscripts:\n  triage.ps1:\n    duration: 10s\n    rules:\n      - {when: {fraction: 1.0}, outcome: fail, errors: \"Access is denied\"}\n  cleanup.ps1: {duration: 5s}\n";
    let sim = start_sim(|a| a.speedup = SPEEDUP, scenario).await;
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(&sim, root.path(), limits()).await;
    let devices = all_device_ids(&sim).await;
    let canary_run = engine
        .create_run(RunRequest {
            canary: Some(2),
            ..request("e2e-triage", devices[..10].to_vec())
        })
        .await
        .expect("canary run");
    let breaker_run = engine
        .create_run(RunRequest {
            max_failure_percent: Some(50),
            ..request("e2e-triage", devices[10..].to_vec())
        })
        .await
        .expect("breaker run");
    let paused = |id: String| {
        let engine = engine.clone();
        async move {
            eventually(Duration::from_secs(60), "the run to pause", || async {
                let run = engine.store().run(&id).await.expect("run");
                (run.state == RunState::Paused).then_some(run)
            })
            .await
        }
    };
    let canary = paused(canary_run.clone()).await;
    assert!(
        canary
            .pause_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("canary: 2 of the first 2")),
        "{canary:?}"
    );
    // Every canary ran, nothing else did.
    let counts = eventually(Duration::from_secs(30), "the canaries to end", || async {
        let counts = engine
            .store()
            .target_counts(&canary_run)
            .await
            .expect("counts");
        (!counts.iter().any(|(s, _)| *s == TargetState::InFlight)).then_some(counts)
    })
    .await;
    let counts: BTreeMap<TargetState, u64> = counts.into_iter().collect();
    let expected: BTreeMap<TargetState, u64> =
        [(TargetState::Pending, 8), (TargetState::Failed, 2)]
            .into_iter()
            .collect();
    assert_eq!(counts, expected, "only the canaries ran");
    let breaker = paused(breaker_run.clone()).await;
    assert!(
        breaker
            .pause_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("circuit breaker")),
        "{breaker:?}"
    );
    let pending = engine
        .store()
        .target_counts(&breaker_run)
        .await
        .expect("counts")
        .into_iter()
        .find(|(s, _)| *s == TargetState::Pending)
        .map_or(0, |(_, n)| n);
    assert!(
        pending > 0,
        "the breaker stopped the run before it reached every device"
    );

    // The operator resumes the canary run: it runs to the end without its canary.
    engine
        .resume_run(&canary_run, "alice")
        .await
        .expect("resume");
    assert_eq!(
        wait_for_end(&engine, &canary_run, Duration::from_secs(60)).await,
        RunState::Finished
    );
    let counts = engine
        .store()
        .target_counts(&canary_run)
        .await
        .expect("counts");
    assert_eq!(counts, vec![(TargetState::Failed, 10)]);
    // And cancels the other: its queued devices end cancelled, each command recorded so.
    engine
        .cancel_run(&breaker_run, "alice")
        .await
        .expect("cancel");
    assert_eq!(
        wait_for_end(&engine, &breaker_run, Duration::from_secs(60)).await,
        RunState::Cancelled
    );
    let outcomes = engine
        .store()
        .outcomes(&breaker_run)
        .await
        .expect("outcomes");
    let cancelled = outcomes
        .iter()
        .filter(|o| o.outcome.outcome == OutcomeKind::Cancelled)
        .count();
    assert_eq!(cancelled as u64, pending * 3);
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_bigger_than_a_batch_ends_every_device_with_every_command_recorded() {
    fleetlr_tests::init_logging();
    // More devices than the engine ends in one batch (500), so the ending spans several ticks.
    let scenario = "fleet: {count: 1100}\nscripts:\n  triage.ps1: {duration: 8m..10m}\n  cleanup.ps1: {duration: 5s}\n";
    let sim = start_sim(|a| a.speedup = SPEEDUP, scenario).await;
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(&sim, root.path(), limits()).await;
    let devices = all_device_ids(&sim).await;
    let run = engine
        .create_run(request("e2e-triage", devices.clone()))
        .await
        .expect("run");
    eventually(
        Duration::from_secs(30),
        "a first device in flight",
        || async {
            let counts = engine.store().target_counts(&run).await.expect("counts");
            counts
                .iter()
                .any(|(s, _)| *s == TargetState::InFlight)
                .then_some(())
        },
    )
    .await;
    engine.cancel_run(&run, "alice").await.expect("cancel");
    assert_eq!(
        wait_for_end(&engine, &run, Duration::from_secs(120)).await,
        RunState::Cancelled
    );
    let counts = engine.store().target_counts(&run).await.expect("counts");
    let cancelled = counts
        .iter()
        .find(|(s, _)| *s == TargetState::Cancelled)
        .map_or(0, |(_, n)| *n);
    assert!(
        cancelled >= 1100 - 25 && counts.iter().all(|(s, _)| s.is_final()),
        "{counts:?}"
    );
    // Every command of every device has its one outcome (a retried step would have more).
    let mut per_target: BTreeMap<i64, usize> = BTreeMap::new();
    for outcome in engine.store().outcomes(&run).await.expect("outcomes") {
        *per_target.entry(outcome.target_id).or_default() += 1;
    }
    assert_eq!(per_target.len(), 1100);
    assert!(
        per_target.values().all(|n| *n == 3),
        "{:?}",
        per_target.iter().find(|(_, n)| **n != 3)
    );
    assert_limits_kept(&sim.stats().await);
    engine.shutdown(Duration::from_secs(5)).await;
}
