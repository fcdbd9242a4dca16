//! Pruning old runs on a live daemon: the real `fleetlr prune` command (a separate process, on
//! the database the daemon has open) removes a finished run with its records and collected
//! files and leaves an open run, the audit log and the daemon alone; then the daemon's own
//! retention policy (`retention: keep_runs_for`) does the same when it starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fleetlr_tests::{eventually, start_sim};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::daemon::{
    Daemon, SPEEDUP, assert_database_intact, start_daemon, wait_for_run, write_config_with,
};

/// The period runs are kept for in this test: short, so that a run that ended counts as old
/// a moment later, as `--older-than` and `keep_runs_for` both accept seconds.
const KEEP: &str = "1s";

fn body(devices: &[&str]) -> Value {
    json!({
        "playbook": "e2e-triage",
        "targets": {"devices": devices},
        // Long enough (in the tenant's time, 300 times faster) that the offline device keeps
        // its run open for the whole test.
        "expires_after": "3d",
        "started_by": "prune-test",
    })
}

/// Every file under `dir` with its SHA-256.
fn files_under(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("file read");
                files.insert(path, format!("{:x}", Sha256::digest(bytes)));
            }
        }
    }
    files
}

/// Waits until `id` ended more than [`KEEP`] ago, so a prune with that period takes it.
async fn wait_until_old(daemon: &Daemon, id: &str) {
    let keep = chrono::TimeDelta::seconds(1);
    eventually(
        Duration::from_secs(10),
        "the run to be old enough",
        || async {
            let (_, run) = daemon.get(&format!("/api/v1/runs/{id}")).await;
            let ended = fleetlr_store::parse_stamp(run["finished_at"].as_str()?)?;
            (chrono::Utc::now() - ended > keep).then_some(())
        },
    )
    .await;
}

/// The artifact download URLs of a run's collected files.
async fn artifact_urls(daemon: &Daemon, id: &str) -> Vec<String> {
    let (_, outcomes) = daemon.get(&format!("/api/v1/runs/{id}/outcomes")).await;
    outcomes
        .as_array()
        .expect("outcomes")
        .iter()
        .filter_map(|o| o["artifact"]["url"].as_str().map(str::to_owned))
        .collect()
}

async fn status_of(daemon: &Daemon, path: &str) -> u16 {
    daemon
        .http
        .get(daemon.url(path))
        .bearer_auth(&daemon.token)
        .send()
        .await
        .expect("GET")
        .status()
        .as_u16()
}

async fn assert_pruned(daemon: &Daemon, data: &Path, id: &str, urls: &[String]) {
    for path in [
        format!("/api/v1/runs/{id}"),
        format!("/api/v1/runs/{id}/targets"),
        format!("/api/v1/runs/{id}/outcomes"),
        format!("/api/v1/runs/{id}/events"),
    ]
    .iter()
    .chain(urls)
    {
        assert_eq!(status_of(daemon, path).await, 404, "{path} after the prune");
    }
    assert!(
        !data.join("artifacts").join(id).exists(),
        "the collected files of {id} are gone"
    );
}

async fn audit_ids(daemon: &Daemon) -> Vec<i64> {
    let (status, audit) = daemon.get("/api/v1/audit").await;
    assert_eq!(status, 200, "{audit}");
    audit
        .as_array()
        .expect("audit entries")
        .iter()
        .map(|e| e["id"].as_i64().expect("entry id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_ended_runs_and_their_files_and_keeps_open_runs_the_audit_log_and_the_daemon()
{
    let sim = start_sim(
        |a| a.speedup = SPEEDUP,
        "fleet: {count: 4}\ndevices:\n  - {name: gone.lab, offline: [{}]}\nscripts:\n  triage.ps1: {duration: 10s}\n  cleanup.ps1: {duration: 5s}\nfiles:\n  default: {size: 16KiB}\n",
    )
    .await;
    let devices = sim.sim.devices();
    let gone = &devices
        .iter()
        .find(|(_, name)| name == "gone.lab")
        .expect("the offline device")
        .0;
    let online: Vec<&str> = devices
        .iter()
        .filter(|(id, _)| id != gone)
        .map(|(id, _)| id.as_str())
        .collect();
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let config = write_config_with(root.path(), &sim, "");
    let secret = sim.sim.client_secret().to_owned();
    let daemon = start_daemon(&config, &secret).await;

    // An ended run with collected files, and an open one (a device that never comes online)
    // whose other device has already collected its file.
    let (status, old) = daemon.post("/api/v1/runs", &body(&online[..2])).await;
    assert_eq!(status, 202, "{old}");
    let old = old["id"].as_str().expect("run id").to_owned();
    let (status, open) = daemon
        .post("/api/v1/runs", &body(&[gone.as_str(), online[2]]))
        .await;
    assert_eq!(status, 202, "{open}");
    let open = open["id"].as_str().expect("run id").to_owned();
    assert_eq!(
        wait_for_run(&daemon, &old, Duration::from_secs(60)).await["state"],
        "finished"
    );
    // Per device: the two scripts' transcripts and the collected file.
    let old_urls = artifact_urls(&daemon, &old).await;
    assert_eq!(old_urls.len(), 6, "three results per device");
    assert_eq!(files_under(&data.join("artifacts").join(&old)).len(), 6);
    eventually(
        Duration::from_secs(60),
        "the open run's online device to end",
        || async {
            let (_, targets) = daemon.get(&format!("/api/v1/runs/{open}/targets")).await;
            targets
                .as_array()?
                .iter()
                .any(|t| t["device_id"] == online[2] && t["state"] == "succeeded")
                .then_some(())
        },
    )
    .await;
    let open_urls = artifact_urls(&daemon, &open).await;
    assert_eq!(open_urls.len(), 3, "{open_urls:?}");
    let open_files = files_under(&data.join("artifacts").join(&open));
    assert_eq!(open_files.len(), 3);
    let (_, open_outcomes) = daemon.get(&format!("/api/v1/runs/{open}/outcomes")).await;
    let audit_before = audit_ids(&daemon).await;
    assert!(!audit_before.is_empty());
    wait_until_old(&daemon, &old).await;

    // The real command, next to the running daemon.
    let pruned = Command::new(env!("CARGO_BIN_EXE_fleetlr-under-test"))
        .args(["prune", "--older-than", KEEP, "--config"])
        .arg(&config)
        .env("E2E_CLIENT_SECRET", &secret)
        .output()
        .expect("fleetlr prune runs");
    let stdout = String::from_utf8_lossy(&pruned.stdout);
    assert!(
        pruned.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&pruned.stderr)
    );
    assert!(
        stdout.contains("removed 1 runs") && stdout.contains("(1 with collected files)"),
        "{stdout}"
    );
    assert_pruned(&daemon, &data, &old, &old_urls).await;

    // The open run is untouched: state, records, files; the audit log keeps every entry.
    let (status, run) = daemon.get(&format!("/api/v1/runs/{open}")).await;
    assert_eq!(status, 200);
    assert_eq!(run["state"], "running", "{run}");
    assert_eq!(
        daemon.get(&format!("/api/v1/runs/{open}/outcomes")).await.1,
        open_outcomes
    );
    assert_eq!(files_under(&data.join("artifacts").join(&open)), open_files);
    for url in &open_urls {
        assert_eq!(status_of(&daemon, url).await, 200, "{url}");
    }
    let audit_after = audit_ids(&daemon).await;
    assert!(
        audit_before.iter().all(|id| audit_after.contains(id)),
        "{audit_before:?} kept in {audit_after:?}"
    );

    // The daemon goes on serving and running, and the database is sound.
    let (_, listed) = daemon.get("/api/v1/runs").await;
    let listed: Vec<&str> = listed
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(listed, [open.as_str()]);
    let (status, next) = daemon.post("/api/v1/runs", &body(&online[3..])).await;
    assert_eq!(status, 202, "{next}");
    let next = next["id"].as_str().expect("run id").to_owned();
    assert_eq!(
        wait_for_run(&daemon, &next, Duration::from_secs(60)).await["state"],
        "finished"
    );
    assert_database_intact(&data.join("fleetlr.db")).await;

    // The retention policy: a daemon configured to keep runs for a second prunes when it starts.
    let next_urls = artifact_urls(&daemon, &next).await;
    wait_until_old(&daemon, &next).await;
    drop(daemon);
    let config = write_config_with(
        root.path(),
        &sim,
        &format!("retention: {{keep_runs_for: {KEEP}}}\n"),
    );
    let daemon = start_daemon(&config, &secret).await;
    eventually(
        Duration::from_secs(20),
        "the retention policy to prune the ended run",
        || async {
            (status_of(&daemon, &format!("/api/v1/runs/{next}")).await == 404).then_some(())
        },
    )
    .await;
    assert_pruned(&daemon, &data, &next, &next_urls).await;
    let (status, run) = daemon.get(&format!("/api/v1/runs/{open}")).await;
    assert_eq!((status, &run["state"]), (200, &json!("running")), "{run}");
    assert_eq!(files_under(&data.join("artifacts").join(&open)), open_files);
    let audit_last = audit_ids(&daemon).await;
    assert!(audit_after.iter().all(|id| audit_last.contains(id)));
}
