//! The artifact directory turns read-only under the running daemon (a full or remounted disk):
//! every result it could not keep says so clearly, the daemon keeps serving and its store stays
//! intact, and once the directory is writable again the next results are captured as before.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fleetlr_tests::start_sim;
use serde_json::Value;

use crate::daemon::{
    Daemon, SPEEDUP, device_ids, run_body, start_daemon, wait_for_run, write_config_at,
};

/// A directory made read-only for as long as this lives: a read-only bind mount when running as
/// root (who ignores permission bits), else no write permission.
struct ReadOnly {
    dir: PathBuf,
    mounted: bool,
}

impl ReadOnly {
    fn new(dir: &Path) -> Self {
        let mounted = Command::new("mount")
            .args(["--bind", "-o", "ro"])
            .arg(dir)
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            set_mode(dir, 0o555);
        }
        let probe = dir.join("probe");
        assert!(
            std::fs::write(&probe, b"x").is_err(),
            "{} could not be made read-only",
            dir.display()
        );
        Self {
            dir: dir.to_owned(),
            mounted,
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.dir).status();
        } else {
            set_mode(&self.dir, 0o755);
        }
    }
}

fn set_mode(dir: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

async fn outcomes(daemon: &Daemon, run: &str) -> Vec<Value> {
    let (_, outcomes) = daemon.get(&format!("/api/v1/runs/{run}/outcomes")).await;
    outcomes.as_array().expect("outcomes").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_artifact_directory_fails_clearly_and_capture_resumes_when_writable() {
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.devices = 3;
        },
        "scripts:\n  triage.ps1: {duration: 10s, output: \"triage done\"}\n  cleanup.ps1: {duration: 5s}\nfiles:\n  default: {size: 4KiB}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config_at(root.path(), &sim, SPEEDUP);
    let artifacts = root.path().join("data/artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    let devices = device_ids(&sim).await;
    let daemon = start_daemon(&config, sim.sim.client_secret()).await;

    let read_only = ReadOnly::new(&artifacts);
    let (status, run) = daemon.post("/api/v1/runs", &run_body(&devices)).await;
    assert_eq!(status, 202, "{run}");
    let first = run["id"].as_str().expect("id").to_owned();
    let run = wait_for_run(&daemon, &first, Duration::from_secs(60)).await;
    assert_eq!(run["state"], "finished", "{run}");
    let lost: Vec<Value> = outcomes(&daemon, &first)
        .await
        .into_iter()
        .filter(|o| o["command_type"] != "PutFile" && o["outcome"] == "completed")
        .collect();
    assert_eq!(lost.len(), devices.len() * 3, "{lost:?}");
    for outcome in &lost {
        let errors = outcome["errors"].to_string();
        assert!(
            outcome["artifact"].is_null()
                && errors.contains("result not captured")
                && (errors.contains("Read-only") || errors.contains("ermission denied")),
            "a clear error: {outcome}"
        );
        assert!(
            !errors.contains(&root.path().display().to_string()),
            "no daemon paths in answers: {errors}"
        );
    }
    let (status, _) = daemon.get("/healthz").await;
    assert_eq!(status, 200, "the daemon keeps serving");

    drop(read_only);
    let (status, run) = daemon.post("/api/v1/runs", &run_body(&devices)).await;
    assert_eq!(status, 202, "{run}");
    let second = run["id"].as_str().expect("id").to_owned();
    let run = wait_for_run(&daemon, &second, Duration::from_secs(60)).await;
    assert_eq!(run["targets"]["succeeded"], devices.len(), "{run}");
    for outcome in outcomes(&daemon, &second)
        .await
        .iter()
        .filter(|o| o["command_type"] != "PutFile")
    {
        let url = outcome["artifact"]["url"].as_str().expect("captured again");
        let response = daemon
            .http
            .get(daemon.url(url))
            .bearer_auth(&daemon.token)
            .send()
            .await
            .expect("artifact");
        assert_eq!(response.status().as_u16(), 200, "{outcome}");
    }
    drop(daemon);
    let store = fleetlr_store::Store::open(&root.path().join("data/fleetlr.db"))
        .await
        .expect("store opens");
    store
        .integrity_check()
        .await
        .expect("integrity_check passes");
}
