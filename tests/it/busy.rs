//! SQLite busy: another process (the `sqlite3` shell) holds the daemon's database write lock
//! longer than the daemon's busy timeout (5 s) in the middle of a run. Meanwhile the daemon
//! answers writes with a 503 that says why and when to retry (never a 500), keeps serving
//! reads and health, and records nothing half; once the lock is released, the run completes
//! with every outcome and no step sent twice (the simulator's record), and the refused
//! request's audit entry is written after all.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use fleetlr_tests::{eventually, start_sim};
use serde_json::Value;

use crate::crash_loop::assert_no_step_ran_twice_in_any_run;
use crate::daemon::{
    Daemon, SPEEDUP, assert_database_intact, device_ids, run_body, start_daemon, wait_for_run,
    write_config,
};
use crate::disk::require_tool;
use crate::engine::assert_limits_kept;

/// The write lock on a database, held by a `sqlite3` process until dropped (or released).
struct WriteLock {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl WriteLock {
    /// Returns once the lock is taken.
    fn take(database: &Path) -> Self {
        let mut child = Command::new("sqlite3")
            .arg(database)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sqlite3 starts");
        let mut stdin = child.stdin.take().expect("stdin");
        // In WAL mode an exclusive transaction blocks writers only; readers go on.
        writeln!(
            stdin,
            ".timeout 30000\nBEGIN EXCLUSIVE;\nSELECT count(*) FROM runs;\nSELECT 'locked';"
        )
        .expect("sqlite3 takes commands");
        stdin.flush().expect("flushed");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        assert!(
            lines.any(|l| l.is_ok_and(|l| l == "locked")),
            "sqlite3 took the write lock"
        );
        Self {
            child,
            stdin: Some(stdin),
        }
    }

    fn release(mut self) {
        let mut stdin = self.stdin.take().expect("held");
        writeln!(stdin, "COMMIT;\n.quit").expect("commit");
        drop(stdin);
        assert!(self.child.wait().expect("sqlite3 ends").success());
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A run that does not expire while the test holds it up (a simulated day is about five
/// minutes at the daemon tests' speed-up).
pub(crate) fn long_run_body(devices: &[String]) -> Value {
    let mut body = run_body(devices);
    body["expires_after"] = "1d".into();
    body
}

/// Until one of the run's targets has an action in flight.
pub(crate) async fn wait_for_in_flight(daemon: &Daemon, run: &str) {
    eventually(Duration::from_secs(30), "a target in flight", || async {
        let (_, targets) = daemon.get(&format!("/api/v1/runs/{run}/targets")).await;
        targets
            .as_array()?
            .iter()
            .any(|t| t["state"] == "in_flight")
            .then_some(())
    })
    .await;
}

/// The run (of the e2e-triage playbook) ends within 90 s with every target succeeded and each
/// of its three commands completed, recorded once, and its result captured.
pub(crate) async fn assert_every_target_succeeded(daemon: &Daemon, id: &str, devices: &[String]) {
    let run = wait_for_run(daemon, id, Duration::from_secs(90)).await;
    assert_eq!(run["state"], "finished", "{run}");
    assert_eq!(run["targets"]["succeeded"], devices.len(), "{run}");
    let (_, outcomes) = daemon.get(&format!("/api/v1/runs/{id}/outcomes")).await;
    let outcomes = outcomes.as_array().expect("outcomes");
    assert_eq!(outcomes.len(), devices.len() * 3, "every command recorded");
    for o in outcomes {
        assert_eq!(o["outcome"], "completed", "{o}");
        if o["command_type"] != "PutFile" {
            assert!(o["artifact"]["sha256"].is_string(), "captured: {o}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_by_another_process_gets_503s_and_the_run_resumes_without_duplicates() {
    if !require_tool("sqlite3", "the SQLite busy test") {
        return;
    }
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.devices = 8;
            a.seed = 8;
        },
        // Scripts of a few wall-clock seconds, so actions are in flight across the lock.
        "scripts:\n  triage.ps1: {duration: 5m..9m, output: \"triage done\"}\n  cleanup.ps1: {duration: 5m}\nfiles:\n  default: {size: 4KiB}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), &sim);
    let devices = device_ids(&sim).await;
    let daemon = start_daemon(&config, sim.sim.client_secret()).await;
    let (status, run) = daemon.post("/api/v1/runs", &long_run_body(&devices)).await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_str().expect("run id").to_owned();
    wait_for_in_flight(&daemon, &id).await;

    let lock = WriteLock::take(&root.path().join("data/fleetlr.db"));
    let locked_at = std::time::Instant::now();
    // A write: the run cannot be stored, and the caller is told so, with when to retry.
    let response = daemon
        .http
        .post(daemon.url("/api/v1/runs"))
        .bearer_auth(&daemon.token)
        .json(&run_body(&devices[..1]))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let refused: Value = response.json().await.expect("JSON error");
    assert_eq!(refused["error"]["code"], "storage_unavailable", "{refused}");
    let message = refused["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("locked") && message.contains("retry"),
        "{message}"
    );
    // Reads and health go on under the lock.
    let (status, _) = daemon.get("/healthz").await;
    assert_eq!(status, 200);
    let (status, during) = daemon.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, 200, "{during}");
    let (status, runs) = daemon.get("/api/v1/runs").await;
    assert_eq!(status, 200, "{runs}");
    // Held past a few engine steps and result recordings, then released.
    let held = Duration::from_secs(16).saturating_sub(locked_at.elapsed());
    tokio::time::sleep(held).await;
    lock.release();

    assert_every_target_succeeded(&daemon, &id, &devices).await;
    let (_, runs) = daemon.get("/api/v1/runs").await;
    assert_eq!(
        runs.as_array().expect("runs").len(),
        1,
        "the refused run was not stored: {runs}"
    );
    // The refusal is audited once the database takes writes again.
    eventually(
        Duration::from_secs(20),
        "the deferred audit entry",
        || async {
            let (_, audit) = daemon.get("/api/v1/audit").await;
            audit
                .as_array()?
                .iter()
                .any(|e| e["outcome"] == "refused" && e["detail"]["status"] == 503)
                .then_some(())
        },
    )
    .await;
    let stats = sim.stats().await;
    assert_no_step_ran_twice_in_any_run(&stats, &[id]);
    assert_limits_kept(&stats);
    drop(daemon);
    assert_database_intact(&root.path().join("data/fleetlr.db")).await;
}
