//! The daemon's disk fails under it. A read-only artifact directory: every result it could not
//! keep says so clearly, the daemon keeps serving and its store stays intact, and once the
//! directory is writable again the lost results are fetched again and the next ones captured
//! as before. A full disk (a small tmpfs as the data directory, filled mid-run): writes are
//! refused with a clear 503 or wait, reads and health go on, nothing is corrupted, and after
//! the tmpfs is grown (`mount -o remount,size=`) the run completes with every result.
//! Mounting needs root (CAP_SYS_ADMIN): without it these tests say they were skipped, except
//! under `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fleetlr_tests::{eventually, start_sim};
use serde_json::Value;

use crate::crash_loop::assert_no_step_ran_twice_in_any_run;
use crate::daemon::{
    Daemon, Launch, SPEEDUP, assert_database_intact, device_ids, run_body, start_daemon,
    start_daemon_with, wait_for_run, write_config_at,
};

/// Whether a test needing `what` may go on: outside CI a missing prerequisite skips it (with a
/// message), under `CI=true` it fails, since CI installs and grants everything.
pub(crate) fn prerequisite(present: bool, what: &str) -> bool {
    if !present {
        let message = format!("skipped: {what}");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("{message}");
    }
    present
}

/// A command-line tool on `PATH`, for `test`.
pub(crate) fn require_tool(tool: &str, test: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    prerequisite(
        found,
        &format!("{test} needs `{tool}` (Debian package {tool})"),
    )
}

/// Root, for mounting.
fn require_root(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    prerequisite(root, &format!("{test} mounts a file system and needs root"))
}

/// A tmpfs of a given size mounted on a directory for as long as this lives.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs on {}", dir.display());
        Self {
            dir: dir.to_owned(),
        }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "growing the tmpfs");
    }

    /// Writes a file until the file system says it is full; returns the bytes written.
    fn fill(&self) -> u64 {
        use std::io::Write;
        let mut file = std::fs::File::create(self.dir.join("filler")).expect("filler");
        let chunk = vec![0x5a_u8; 64 * 1024];
        let mut written = 0;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(err) => {
                    assert_eq!(err.raw_os_error(), Some(28), "ENOSPC, not {err}");
                    break;
                }
            }
        }
        // Whatever the page cache still holds must not land later.
        let _ = file.sync_all();
        written
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

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
    // The results lost while read-only are fetched again (fresh links for completed commands).
    let recaptured = eventually(
        Duration::from_secs(60),
        "the lost results fetched again",
        || async {
            let again = outcomes(&daemon, &first).await;
            let lost_ids: Vec<&Value> = lost.iter().map(|o| &o["id"]).collect();
            let done: Vec<Value> = again
                .into_iter()
                .filter(|o| lost_ids.contains(&&o["id"]))
                .filter(|o| o["artifact"]["url"].is_string())
                .collect();
            (done.len() == lost.len()).then_some(done)
        },
    )
    .await;
    for outcome in &recaptured {
        assert!(
            !outcome["errors"]
                .to_string()
                .contains("result not captured"),
            "the failed attempt's error goes once captured: {outcome}"
        );
        if outcome["command_type"] == "RunScript" {
            assert!(
                outcome["exit_code"].is_number(),
                "transcript read: {outcome}"
            );
        }
    }
    let (_, events) = daemon.get(&format!("/api/v1/runs/{first}/events")).await;
    let later = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "result_captured_later")
        .count();
    assert_eq!(later, lost.len(), "each re-fetch is an event: {events}");
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
    assert_database_intact(&root.path().join("data/fleetlr.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_clearly_and_the_run_completes_once_it_has_room() {
    if !require_root("the disk-full test") {
        return;
    }
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.devices = 6;
            a.seed = 28;
        },
        // Actions of a few wall-clock seconds, so some end while the disk is full.
        "scripts:\n  triage.ps1: {duration: 4m..9m, output: \"triage done\"}\n  cleanup.ps1: {duration: 5m}\nfiles:\n  default: {size: 64KiB}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config_at(root.path(), &sim, SPEEDUP);
    // The whole data directory (database, WAL, artifacts) on a small tmpfs.
    let disk = Tmpfs::mount(&root.path().join("data"), "16m");
    let devices = device_ids(&sim).await;
    let logs = root.path().join("logs");
    std::fs::create_dir_all(&logs).expect("log dir");
    let launch = Launch {
        capture_to: Some(logs.clone()),
        ..Launch::default()
    };
    let daemon = start_daemon_with(&config, sim.sim.client_secret(), &launch).await;
    let (status, run) = daemon
        .post("/api/v1/runs", &crate::busy::long_run_body(&devices))
        .await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_str().expect("run id").to_owned();
    crate::busy::wait_for_in_flight(&daemon, &id).await;

    let filled = disk.fill();
    // A write now: stored (SQLite may still have room in its WAL) or refused with a clear,
    // retryable 503; never a 500.
    let response = daemon
        .http
        .post(daemon.url("/api/v1/runs"))
        .bearer_auth(&daemon.token)
        .json(&run_body(&devices[..1]))
        .send()
        .await
        .expect("POST");
    let posted = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    let mut runs = vec![id.clone()];
    match posted {
        202 => runs.push(answer["id"].as_str().expect("run id").to_owned()),
        503 => {
            assert_eq!(answer["error"]["code"], "storage_unavailable", "{answer}");
            let message = answer["error"]["message"].as_str().expect("message");
            assert!(
                message.contains("full") || message.contains("refused"),
                "{message}"
            );
        }
        other => panic!("a full disk answered {other}: {answer}"),
    }
    // Reads and health go on, and what failed is said: in an outcome, or in the log.
    let (status, _) = daemon.get("/healthz").await;
    assert_eq!(status, 200);
    let (status, during) = daemon.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, 200, "{during}");
    let said = eventually(
        Duration::from_secs(60),
        "the full disk to be reported",
        || async {
            let recorded = outcomes(&daemon, &id)
                .await
                .into_iter()
                .find(|o| o["errors"].to_string().contains("No space left on device"))
                .map(|o| o["errors"].to_string());
            let logged = std::fs::read_to_string(logs.join("stderr.log"))
                .unwrap_or_default()
                .lines()
                .find(|l| {
                    l.contains("disk holding the database is full") || l.contains("No space left")
                })
                .map(str::to_owned);
            recorded.or(logged)
        },
    )
    .await;
    println!("disk full ({filled} bytes of filler), POST answered {posted}; reported: {said}");

    disk.resize("256m");
    for run in &runs {
        let ended = wait_for_run(&daemon, run, Duration::from_secs(120)).await;
        assert_eq!(ended["state"], "finished", "{ended}");
        assert!(
            ended["targets"]["failed"].is_null(),
            "no target failed: {ended}"
        );
    }
    // Every result captured in the end: on a retried recording or fetched again.
    let all = eventually(Duration::from_secs(60), "every result captured", || async {
        let all = outcomes(&daemon, &id).await;
        all.iter()
            .filter(|o| o["command_type"] != "PutFile")
            .all(|o| o["artifact"]["url"].is_string())
            .then_some(all)
    })
    .await;
    assert_eq!(all.len(), devices.len() * 3, "every command recorded once");
    let stats = sim.stats().await;
    assert_no_step_ran_twice_in_any_run(&stats, &runs);
    drop(daemon);
    assert_database_intact(&root.path().join("data/fleetlr.db")).await;
    drop(disk);
}
