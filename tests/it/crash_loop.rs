//! Crash loop: the real daemon killed with SIGKILL again and again at random moments of a run,
//! many of them while a `runliveresponse` POST is held up by the simulator (a `slow` fault), so
//! the kill lands between the intent and its answer. Afterwards: no device ran a step twice,
//! every outcome the API ever reported is still recorded, every target ended, and SQLite's
//! `PRAGMA integrity_check` passes. 20 kills by default (about a minute);
//! `FLEETLR_LONG_TESTS=1` makes it 100.

use std::collections::BTreeMap;
use std::time::Duration;

use fleetlr_tests::start_sim;
use serde_json::{Value, json};

use crate::daemon::{
    Daemon, assert_database_intact, device_ids, run_body, start_daemon, wait_for_run,
    write_config_at,
};
use crate::engine::{assert_limits_kept, assert_no_step_ran_twice};

/// Slower than the other daemon tests, so a run lasts long enough to be killed many times.
const SPEEDUP: f64 = 60.0;

pub(crate) fn long_tests() -> bool {
    std::env::var("FLEETLR_LONG_TESTS").is_ok_and(|v| v == "1")
}

/// A small deterministic generator (xorshift64*): the kill moments differ from kill to kill and
/// are the same from run to run, so a failure can be reproduced.
pub(crate) struct Moments(u64);

impl Moments {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A whole number in `range`.
    pub(crate) fn between(&mut self, range: std::ops::Range<u64>) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        range.start + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (range.end - range.start)
    }
}

/// Every outcome the API reports now, by outcome id.
async fn reported(daemon: &Daemon, runs: &[String], into: &mut BTreeMap<String, Value>) {
    for run in runs {
        let (status, outcomes) = daemon.get(&format!("/api/v1/runs/{run}/outcomes")).await;
        assert_eq!(status, 200, "{outcomes}");
        for o in outcomes.as_array().expect("outcomes") {
            let record = json!([
                o["device_id"],
                o["step_id"],
                o["outcome"],
                o["exit_code"],
                o["artifact"]["sha256"]
            ]);
            let key = format!("{run}/{}", o["id"]);
            if let Some(earlier) = into.insert(key.clone(), record.clone()) {
                assert_eq!(
                    earlier, record,
                    "outcome {key} changed after it was reported"
                );
            }
        }
    }
}

/// A device rightly runs each step once per run: each run is judged on its own actions, which
/// its marker in the Comment names.
pub(crate) fn assert_no_step_ran_twice_in_any_run(stats: &Value, runs: &[String]) {
    for id in runs {
        let mut of_run = stats.clone();
        for device in of_run["devices"].as_array_mut().expect("devices") {
            device["actions"]
                .as_array_mut()
                .expect("actions")
                .retain(|a| {
                    a["comment"]
                        .as_str()
                        .is_some_and(|c| c.contains(id.as_str()))
                });
        }
        assert_no_step_ran_twice(&of_run);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_20_times_mid_run_no_step_runs_twice_and_nothing_reported_is_lost() {
    let kills_wanted = if long_tests() { 100 } else { 20 };
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.seed = 11;
        },
        r#"
fleet:
  count: 60
  tags: [{tag: fails, fraction: 0.1}]
  offline: [{fraction: 0.1, until: 1m..5m}]
scripts:
  triage.ps1:
    duration: 20s..1m
    rules: [{when: {tags: [fails]}, outcome: fail, errors: "Access is denied"}]
  cleanup.ps1: {duration: 5s..10s}
files:
  default: {size: 8KiB}
faults:
  - {endpoint: runliveresponse, kind: slow, delay_ms: 700, probability: 0.5}
"#,
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config_at(root.path(), &sim, SPEEDUP);
    let devices = device_ids(&sim).await;
    let mut moments = Moments::new(0x5eed_0008);
    let mut daemon = start_daemon(&config, sim.sim.client_secret()).await;
    let mut runs = Vec::new();
    let mut seen = BTreeMap::new();
    let mut kills = 0;
    let mut kills_mid_post = 0;
    let database = root.path().join("data/fleetlr.db");
    while kills < kills_wanted {
        // A run is always going on: when one ends, the next starts.
        let open = match runs.last() {
            Some(id) => {
                let (_, run) = daemon.get(&format!("/api/v1/runs/{id}")).await;
                !matches!(run["state"].as_str(), Some("finished" | "cancelled"))
            }
            None => false,
        };
        if !open {
            let (status, run) = daemon.post("/api/v1/runs", &run_body(&devices)).await;
            assert_eq!(status, 202, "{run}");
            runs.push(run["id"].as_str().expect("run id").to_owned());
        }
        tokio::time::sleep(Duration::from_millis(moments.between(50..1500))).await;
        reported(&daemon, &runs, &mut seen).await;
        daemon.kill_9();
        kills += 1;
        // Intents whose POST had been sent but whose answer was not yet recorded.
        let store = fleetlr_store::Store::open(&database)
            .await
            .expect("the store opens after a kill");
        if !store.open_intents("lab").await.expect("intents").is_empty() {
            kills_mid_post += 1;
        }
        drop(store);
        daemon = start_daemon(&config, sim.sim.client_secret()).await;
    }
    for id in &runs {
        let run = wait_for_run(&daemon, id, Duration::from_secs(300)).await;
        assert_eq!(run["state"], "finished", "{run}");
        let (_, targets) = daemon.get(&format!("/api/v1/runs/{id}/targets")).await;
        let unended: Vec<&Value> = targets
            .as_array()
            .expect("targets")
            .iter()
            .filter(|t| {
                !matches!(
                    t["state"].as_str(),
                    Some("succeeded" | "failed" | "timed_out" | "expired" | "cancelled")
                )
            })
            .collect();
        assert!(unended.is_empty(), "targets that never ended: {unended:?}");
    }
    let before_end = seen.clone();
    reported(&daemon, &runs, &mut seen).await;
    let lost: Vec<&String> = before_end
        .keys()
        .filter(|k| !seen.contains_key(*k))
        .collect();
    assert!(lost.is_empty(), "reported outcomes lost: {lost:?}");

    let stats = sim.stats().await;
    assert_no_step_ran_twice_in_any_run(&stats, &runs);
    assert_limits_kept(&stats);
    assert!(
        kills_mid_post >= kills / 4,
        "only {kills_mid_post} of {kills} kills landed between a POST and its answer"
    );
    let slowed = stats["stats"]["faults_injected"].to_string();
    daemon.kill_9();
    assert_database_intact(&database).await;
    println!(
        "crash loop: {kills} kills ({kills_mid_post} between a POST and its answer) over {} runs, {} outcomes reported before the end and all kept, faults injected {slowed}",
        runs.len(),
        before_end.len()
    );
}
