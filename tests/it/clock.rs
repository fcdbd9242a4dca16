//! Clock jumps. The daemon runs under libfaketime (`LD_PRELOAD`, the offset read from a file the
//! test rewrites, the monotonic clock left alone), so only its wall clock moves, while the
//! simulator (in the test process) keeps real time. During a multi-device run with actions in
//! flight, devices waiting offline and answers lost (uncertain submissions), the wall clock
//! jumps 2 hours ahead (past the run's expiry and a token's life) and then 3 hours back (an hour
//! before the start): the run neither expires nor stalls, every target succeeds, no step runs
//! twice, the token the backward jump makes look valid is refused (401) and replaced, health and
//! reads answer throughout, and the database is intact. A second test sets the service's clock
//! (`Date`) and the daemon's apart by hours for a whole run. Without libfaketime (Debian package
//! `faketime`) the tests say they were skipped, except under `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use fleetlr_tests::{eventually, start_sim};
use serde_json::{Value, json};

use crate::busy::assert_every_target_succeeded;
use crate::crash_loop::assert_no_step_ran_twice_in_any_run;
use crate::daemon::{
    Daemon, Launch, SPEEDUP, assert_database_intact, device_ids, start_daemon_with, write_config_at,
};
use crate::disk::prerequisite;
use crate::engine::assert_limits_kept;

/// libfaketime's preload library, as the Debian package `libfaketime` installs it.
fn faketime_library(test: &str) -> Option<PathBuf> {
    let listed = Command::new("dpkg")
        .args(["-L", "libfaketime"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let library = listed
        .lines()
        .find(|l| l.ends_with("/libfaketime.so.1"))
        .map(PathBuf::from)
        .filter(|p| p.exists());
    prerequisite(
        library.is_some(),
        &format!("{test} needs libfaketime (Debian package faketime)"),
    )
    .then_some(library)
    .flatten()
}

/// The daemon's wall clock: an offset from the real one, in a file libfaketime reads at every
/// clock call (`FAKETIME_NO_CACHE`), so rewriting it makes the daemon's clock jump at once.
struct FakeClock {
    file: PathBuf,
    library: PathBuf,
}

impl FakeClock {
    fn new(dir: &Path, library: PathBuf, offset: &str) -> Self {
        let clock = Self {
            file: dir.join("faketime.rc"),
            library,
        };
        clock.set(offset);
        clock
    }

    /// `offset` in libfaketime's syntax: `+2h`, `-1h`, `+0`.
    fn set(&self, offset: &str) {
        // Written whole, then renamed: the daemon must never read half a line.
        let partial = self.file.with_extension("partial");
        std::fs::write(&partial, format!("{offset}\n")).expect("clock file written");
        std::fs::rename(&partial, &self.file).expect("clock file replaced");
    }

    /// The daemon's environment; what it prints goes to `logs/` beside the clock file.
    fn launch(&self) -> Launch {
        let logs = self.file.with_file_name("logs");
        std::fs::create_dir_all(&logs).expect("log dir");
        Launch {
            env: vec![
                ("LD_PRELOAD", self.library.display().to_string()),
                ("FAKETIME_TIMESTAMP_FILE", self.file.display().to_string()),
                ("FAKETIME_NO_CACHE", "1".into()),
                // Only the wall clock moves, as when NTP or an operator sets it.
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
                ("RUST_LOG", "warn,fleetlr_engine=info".into()),
            ],
            capture_to: Some(logs),
        }
    }
}

/// The daemon's wall clock, as it dates what it stores: the audit entry of a refused request
/// (the `Date` of its answers would not do: hyper refreshes it only once its own clock passes
/// the next second it expects, hours away after a backward jump). Asserts health on the way.
async fn daemon_clock(daemon: &Daemon) -> DateTime<Utc> {
    let (status, _) = daemon.get("/healthz").await;
    assert_eq!(status, 200, "the daemon keeps serving");
    static PROBES: AtomicUsize = AtomicUsize::new(0);
    let probe = format!("clock-probe-{}", PROBES.fetch_add(1, Ordering::Relaxed));
    let (status, _) = daemon
        .post(&format!("/api/v1/runs/{probe}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 404);
    let (_, audit) = daemon.get("/api/v1/audit?limit=20").await;
    let at = audit
        .as_array()
        .expect("audit entries")
        .iter()
        .find(|e| e["subject"] == probe.as_str())
        .and_then(|e| e["at"].as_str())
        .expect("the probe is audited");
    DateTime::parse_from_rfc3339(at)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

/// Until the daemon's clock reads `offset` from the real one (within a few seconds).
async fn wait_for_clock(daemon: &Daemon, offset: TimeDelta) {
    eventually(
        Duration::from_secs(10),
        "the daemon's clock to jump",
        || async {
            let skew = daemon_clock(daemon).await - Utc::now();
            ((skew - offset).num_seconds().abs() <= 3).then_some(())
        },
    )
    .await;
}

/// Until the run's events say its deadlines moved by `jump`.
async fn wait_for_deadlines_moved(daemon: &Daemon, id: &str, jump: TimeDelta) {
    eventually(
        Duration::from_secs(10),
        "the run's deadlines to follow the jump",
        || async {
            let (_, events) = daemon.get(&format!("/api/v1/runs/{id}/events")).await;
            events
                .as_array()?
                .iter()
                .filter(|e| e["kind"] == "wall_clock_jumped")
                .filter_map(|e| e["detail"]["jump_seconds"].as_i64())
                .any(|moved| (moved - jump.num_seconds()).abs() <= 3)
                .then_some(())
        },
    )
    .await;
}

async fn run(daemon: &Daemon, id: &str) -> Value {
    let (status, run) = daemon.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, 200, "reads keep answering: {run}");
    run
}

async fn targets(daemon: &Daemon, id: &str) -> Vec<Value> {
    let (status, targets) = daemon.get(&format!("/api/v1/runs/{id}/targets")).await;
    assert_eq!(status, 200, "reads keep answering: {targets}");
    targets.as_array().expect("targets").clone()
}

/// No target was ended by the jump: none expired, none failed.
async fn assert_nothing_ended_wrongly(daemon: &Daemon, id: &str, after: &str) {
    let run = run(daemon, id).await;
    assert_eq!(run["state"], "running", "{after}: {run}");
    for target in targets(daemon, id).await {
        assert!(
            !matches!(target["state"].as_str(), Some("expired" | "failed")),
            "{after}, a target ended wrongly: {target}"
        );
    }
}

/// Scripts of one to two wall-clock seconds; three devices offline until 20-25 s after the
/// simulator starts, so they wait in fleetlr's queue across both jumps.
const SCENARIO: &str = r#"
fleet:
  count: 6
scripts:
  triage.ps1: {duration: 5m..9m, output: "triage done"}
  cleanup.ps1: {duration: 5m}
files:
  default: {size: 4KiB}
devices:
  - {name: late-0.lab, offline: [{until: 100m..125m}]}
  - {name: late-1.lab, offline: [{until: 100m..125m}]}
  - {name: late-2.lab, offline: [{until: 100m..125m}]}
"#;

/// A tenant whose lost answers stay uncertain for 2 wall-clock seconds (10 simulated minutes),
/// long enough for the test to jump the clock while one is.
fn config(root: &Path, sim: &fleetlr_tests::TestSim) -> PathBuf {
    let path = write_config_at(root, sim, SPEEDUP);
    let text = std::fs::read_to_string(&path).expect("config");
    let text = text.replace(
        "pacing_margin: 0.5}",
        "pacing_margin: 0.5, reconcile_settle: 10m}",
    );
    std::fs::write(&path, text).expect("config written");
    path
}

fn body(devices: &[String]) -> Value {
    // A simulated day is under 5 wall-clock minutes: the forward jump (2 h) passes it.
    json!({"playbook": "e2e-triage", "targets": {"devices": devices}, "expires_after": "1d", "started_by": "clock-test"})
}

fn statuses(stats: &Value, status: &str) -> u64 {
    stats["stats"]["endpoints"]
        .as_object()
        .into_iter()
        .flat_map(|endpoints| endpoints.values())
        .filter_map(|e| e["statuses"][status].as_u64())
        .sum()
}

/// Actions the daemon withdrew (cancelled) were all on devices that were offline.
fn assert_only_offline_devices_withdrawn(stats: &Value) {
    for device in stats["devices"].as_array().expect("devices") {
        let name = device["name"].as_str().unwrap_or_default();
        for action in device["actions"].as_array().expect("actions") {
            if action["status"] == "Cancelled" {
                assert!(
                    name.starts_with("late-"),
                    "{name} was online but its action was withdrawn: {action}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_clock_jumps_forward_and_back_neither_expire_nor_stall_the_run() {
    let Some(library) = faketime_library("the clock-jump test") else {
        return;
    };
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.seed = 31;
            // Shorter than a test phase: a token the daemon holds across the backward jump
            // looks valid to it for hours but the service refuses it after 5 s.
            a.token_lifetime = Duration::from_secs(5);
        },
        SCENARIO,
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = config(root.path(), &sim);
    let devices = device_ids(&sim).await;
    let clock = FakeClock::new(root.path(), library, "+0");
    let launch = clock.launch();
    let mut daemon = start_daemon_with(&config, sim.sim.client_secret(), &launch).await;
    wait_for_clock(&daemon, TimeDelta::zero()).await;
    let (status, created) = daemon.post("/api/v1/runs", &body(&devices)).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().expect("run id").to_owned();
    // Actions in flight, and the offline devices waiting in fleetlr's queue.
    eventually(
        Duration::from_secs(30),
        "actions in flight and devices waiting offline",
        || async {
            let targets = targets(&daemon, &id).await;
            let in_state = |s: &str| targets.iter().any(|t| t["state"] == s);
            (in_state("in_flight") && in_state("waiting_offline")).then_some(())
        },
    )
    .await;

    // Forward, far past the run's expiry (a simulated day is 288 s here) and any token's life.
    clock.set("+2h");
    wait_for_clock(&daemon, TimeDelta::hours(2)).await;
    wait_for_deadlines_moved(&daemon, &id, TimeDelta::hours(2)).await;
    let succeeded_before = run(&daemon, &id).await["targets"]["succeeded"]
        .as_u64()
        .unwrap_or(0);
    // Work goes on after it: a target succeeds, and one more step of the engine has run.
    eventually(
        Duration::from_secs(30),
        "a target to succeed after the jump",
        || async {
            let done = run(&daemon, &id).await["targets"]["succeeded"]
                .as_u64()
                .unwrap_or(0);
            (done > succeeded_before).then_some(())
        },
    )
    .await;
    assert_nothing_ended_wrongly(&daemon, &id, "after the forward jump").await;

    // An answer lost just before the backward jump: its submission is settled after it.
    sim.add_fault(&json!({"endpoint": "runliveresponse", "kind": "drop_after", "count": 1}))
        .await;
    eventually(
        Duration::from_secs(30),
        "a submission's answer to be lost",
        || async {
            let stats = sim.stats().await;
            stats["stats"]["faults_injected"]["drop_after"]
                .as_u64()
                .filter(|n| *n >= 1)
        },
    )
    .await;
    // No token is issued across the backward jump (the token endpoint is down for 2 wall-clock
    // seconds around it), so the daemon goes on with one taken before: to the daemon it looks
    // valid for hours, the service refuses it once its 5 s are up.
    sim.add_fault(&json!({"endpoint": "token", "kind": "status", "status": 503, "lasting": "10m"}))
        .await;
    eventually(
        Duration::from_secs(10),
        "the token endpoint to be down",
        || async { (statuses(&sim.stats().await, "503") >= 1).then_some(()) },
    )
    .await;
    // Back, to an hour before the run began.
    clock.set("-1h");
    wait_for_clock(&daemon, TimeDelta::hours(-1)).await;
    wait_for_deadlines_moved(&daemon, &id, TimeDelta::hours(-3)).await;
    assert_nothing_ended_wrongly(&daemon, &id, "after the backward jump").await;
    let (status, runs) = daemon.get("/api/v1/runs").await;
    assert_eq!(status, 200, "{runs}");
    // The daemon takes a fresh token when the old one is refused.
    eventually(
        Duration::from_secs(30),
        "a 401 for the token held across the jump",
        || async { (statuses(&sim.stats().await, "401") >= 1).then_some(()) },
    )
    .await;
    // A new process knows nothing of the jumps: the stored deadlines must already agree with
    // the clock it starts with.
    daemon.kill_9();
    daemon = start_daemon_with(&config, sim.sim.client_secret(), &launch).await;

    // The run ends on its own pace: no wait is stretched by the hour the clock went back.
    assert_every_target_succeeded(&daemon, &id, &devices).await;
    let stats = sim.stats().await;
    assert_no_step_ran_twice_in_any_run(&stats, std::slice::from_ref(&id));
    assert_limits_kept(&stats);
    assert_only_offline_devices_withdrawn(&stats);
    let events = daemon.get(&format!("/api/v1/runs/{id}/events")).await.1;
    println!(
        "clock jumps: {} 401s answered with a fresh token, {} tokens issued, {} events",
        statuses(&stats, "401"),
        stats["stats"]["tokens_issued"]
            .as_array()
            .map_or(0, Vec::len),
        events.as_array().map_or(0, Vec::len)
    );
    drop(daemon);
    assert_database_intact(&root.path().join("data/fleetlr.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_clock_hours_apart_from_the_daemons_changes_nothing() {
    let Some(library) = faketime_library("the clock-skew test") else {
        return;
    };
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.devices = 4;
            a.seed = 32;
            // The service's clock (its `Date`) runs 2 h ahead of the real one.
            a.clock_skew_secs = 2 * 3600;
            a.token_lifetime = Duration::from_secs(3);
        },
        "scripts:\n  triage.ps1: {duration: 5m, output: \"triage done\"}\n  cleanup.ps1: {duration: 5m}\nfiles:\n  default: {size: 4KiB}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = config(root.path(), &sim);
    let devices = device_ids(&sim).await;
    // The daemon's runs 3 h behind: 5 h apart from the service.
    let clock = FakeClock::new(root.path(), library, "-3h");
    let daemon = start_daemon_with(&config, sim.sim.client_secret(), &clock.launch()).await;
    wait_for_clock(&daemon, TimeDelta::hours(-3)).await;
    let service = sim
        .http
        .get(sim.url("/_sim/stats"))
        .send()
        .await
        .expect("the service answers");
    let date = service
        .headers()
        .get("date")
        .and_then(|v| v.to_str().ok())
        .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
        .expect("the service dates its answers");
    let ahead = date.with_timezone(&Utc) - Utc::now();
    assert!(
        (ahead - TimeDelta::hours(2)).num_seconds().abs() <= 3,
        "{ahead}"
    );
    let (status, created) = daemon.post("/api/v1/runs", &body(&devices)).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().expect("run id").to_owned();
    assert_every_target_succeeded(&daemon, &id, &devices).await;
    let stats = sim.stats().await;
    assert_no_step_ran_twice_in_any_run(&stats, std::slice::from_ref(&id));
    assert_limits_kept(&stats);
    // Token expiry is counted from `expires_in` on the daemon's own clock, so clocks set apart
    // make no token look valid when the service has let it expire.
    assert_eq!(
        statuses(&stats, "401"),
        0,
        "{}",
        stats["stats"]["endpoints"]
    );
    drop(daemon);
    assert_database_intact(&root.path().join("data/fleetlr.db")).await;
}
