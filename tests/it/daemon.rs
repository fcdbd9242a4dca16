//! The real daemon (`fleetlr serve`, as a separate process) against the simulator over real
//! HTTPS: its REST API, a graceful stop on SIGTERM, and kill -9 at random moments of a run
//! without any step running twice or any record differing from an uninterrupted run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fleetlr_tests::{TestSim, eventually, start_sim};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::engine::{PLAYBOOK, assert_limits_kept, assert_no_step_ran_twice, playbook_dir};

pub(crate) const SPEEDUP: f64 = 300.0;

/// A daemon process on a data directory; dropping it kills it.
pub(crate) struct Daemon {
    child: Child,
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    /// The admin token the daemon created on its first start.
    pub(crate) token: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A configuration with one real (not in-process) tenant: the test's simulator, trusted through
/// its CA file, the secret coming from the environment as an operator would pass it.
pub(crate) fn write_config(root: &Path, sim: &TestSim) -> PathBuf {
    write_config_with(root, sim, "")
}

/// [`write_config`] with more top-level YAML (hooks, rules) appended.
pub(crate) fn write_config_with(root: &Path, sim: &TestSim, extra: &str) -> PathBuf {
    config_file(root, sim, SPEEDUP, extra)
}

/// The same at another speed-up (the simulator's and the tenant's time scale must agree).
pub(crate) fn write_config_at(root: &Path, sim: &TestSim, speedup: f64) -> PathBuf {
    config_file(root, sim, speedup, "")
}

fn config_file(root: &Path, sim: &TestSim, speedup: f64, extra: &str) -> PathBuf {
    std::fs::write(root.join("ca.pem"), sim.sim.ca_pem()).expect("CA written");
    playbook_dir(root, &[("e2e-triage", PLAYBOOK)]);
    let config = format!(
        r#"
listen: 127.0.0.1:0
data_dir: data
playbooks_dir: playbooks
shutdown_grace: 5s
tenants:
  - name: lab
    tenant_id: {tenant}
    client_id: {client}
    client_secret: ${{E2E_CLIENT_SECRET}}
    cloud: {{custom: {{api_base: "{base}", authority_host: "{base}"}}}}
    ca_file: ca.pem
    limits: {{time_scale: {speedup}, pacing_margin: 0.5}}
{extra}"#,
        tenant = sim.sim.tenant_id(),
        client = sim.sim.client_id(),
        base = sim.sim.base_url(),
    );
    let path = root.join("fleetlr.yaml");
    std::fs::write(&path, config).expect("config written");
    path
}

pub(crate) async fn start_daemon(config: &Path, secret: &str) -> Daemon {
    start_daemon_with(config, secret, &Launch::default()).await
}

/// How a test wants the daemon process started beyond the defaults.
#[derive(Default)]
pub(crate) struct Launch {
    /// Extra environment (`RUST_LOG`, `FLEETLR_LOG_FORMAT`, …); `RUST_LOG` defaults to `warn`.
    pub(crate) env: Vec<(&'static str, String)>,
    /// Write everything the daemon prints to `<dir>/stdout.log` and `<dir>/stderr.log` (appending,
    /// so restarts add to them) instead of passing standard error through to the test's.
    pub(crate) capture_to: Option<PathBuf>,
}

pub(crate) async fn start_daemon_with(config: &Path, secret: &str, launch: &Launch) -> Daemon {
    let append = |name: &str| {
        let dir = launch.capture_to.as_ref()?;
        Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .expect("capture file opens"),
        )
    };
    let stderr = append("stderr.log").map_or_else(Stdio::inherit, Stdio::from);
    let mut stdout_copy = append("stdout.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_fleetlr-under-test"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .env("E2E_CLIENT_SECRET", secret)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (name, value) in &launch.env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("daemon starts");
    let stdout = child.stdout.take().expect("stdout");
    // Read standard output for as long as the daemon lives (a closed pipe would fail its later
    // writes), copying it when asked, and hand over the line that announces the address.
    let (announced, line) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut announced = Some(announced);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(copy) = stdout_copy.as_mut() {
                writeln!(copy, "{line}").expect("stdout copied");
            }
            if line.starts_with("fleetlr listening on ")
                && let Some(announced) = announced.take()
            {
                let _ = announced.send(line);
            }
        }
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("the daemon announces its address in time")
        .expect("the daemon announces its address");
    let base = line.trim_start_matches("fleetlr listening on ").to_owned();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let token_file = config
        .parent()
        .expect("config dir")
        .join("data/admin.token");
    let token = std::fs::read_to_string(&token_file)
        .expect("the first start leaves an admin token")
        .trim()
        .to_owned();
    let daemon = Daemon {
        child,
        base,
        http: reqwest::Client::new(),
        token,
    };
    eventually(
        Duration::from_secs(30),
        "the daemon to be ready",
        || async {
            let response = daemon.http.get(daemon.url("/readyz")).send().await.ok()?;
            response.status().is_success().then_some(())
        },
    )
    .await;
    daemon
}

impl Daemon {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(path, &self.token).await
    }

    pub(crate) async fn get_as(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_as(path, body, &self.token).await
    }

    pub(crate) async fn post_as(&self, path: &str, body: &Value, token: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `DELETE` as the admin; the status.
    pub(crate) async fn delete(&self, path: &str) -> u16 {
        let response = self
            .http
            .delete(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("DELETE");
        response.status().as_u16()
    }

    pub(crate) fn kill_9(mut self) {
        // SIGKILL: no chance to persist anything more.
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }
}

pub(crate) async fn wait_for_run(daemon: &Daemon, id: &str, timeout: Duration) -> Value {
    eventually(timeout, "the run to end", || async {
        let (_, run) = daemon.get(&format!("/api/v1/runs/{id}")).await;
        matches!(run["state"].as_str(), Some("finished" | "cancelled")).then_some(run)
    })
    .await
}

fn scenario() -> String {
    let mut yaml = String::from(
        r#"
fleet:
  count: 54
  tags:
    - {tag: fails, fraction: 0.15}
scripts:
  triage.ps1:
    duration: 20s..1m
    output: "triage done"
    rules:
      - {when: {tags: [fails]}, outcome: fail, errors: "Access is denied"}
  cleanup.ps1: {duration: 5s..10s}
files:
  default: {size: 16KiB}
devices:
"#,
    );
    for i in 0..6 {
        yaml.push_str(&format!("  - {{name: gone-{i}.lab, offline: [{{}}]}}\n"));
    }
    yaml
}

async fn sim_for_kill_test() -> TestSim {
    start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.seed = 42;
        },
        &scenario(),
    )
    .await
}

/// Opens the database a daemon left behind and checks it with `PRAGMA integrity_check`.
pub(crate) async fn assert_database_intact(database: &Path) {
    let store = fleetlr_store::Store::open(database)
        .await
        .expect("the store opens");
    store
        .integrity_check()
        .await
        .expect("PRAGMA integrity_check passes");
}

pub(crate) fn run_body(devices: &[String]) -> Value {
    json!({
        "playbook": "e2e-triage",
        "targets": {"devices": devices},
        // Room enough for the work even when this machine is too busy to keep the sped-up
        // pace; the devices that never come online end when it runs out.
        "expires_after": "2h",
        "started_by": "kill-test",
    })
}

/// What an operator would compare: per device, its state and each step's outcome, exit code
/// and collected file hash.
async fn records(daemon: &Daemon, id: &str) -> BTreeMap<String, Value> {
    let (_, targets) = daemon.get(&format!("/api/v1/runs/{id}/targets")).await;
    let (_, outcomes) = daemon.get(&format!("/api/v1/runs/{id}/outcomes")).await;
    let mut records = BTreeMap::new();
    for target in targets.as_array().expect("targets") {
        let device = target["device_id"].as_str().expect("device").to_owned();
        let mut steps = Vec::new();
        for o in outcomes
            .as_array()
            .expect("outcomes")
            .iter()
            .filter(|o| o["device_id"] == device.as_str())
        {
            steps.push(json!([
                o["step_id"],
                o["outcome"],
                o["exit_code"],
                content_hash(daemon, o).await
            ]));
        }
        records.insert(device, json!({"state": target["state"], "steps": steps}));
    }
    records
}

/// The SHA-256 of a result's content, downloaded through the API (and checked against the
/// recorded hash). A GetFile archive is compared by what it contains: its gzip header carries
/// the time it was made, which differs between any two runs.
async fn content_hash(daemon: &Daemon, outcome: &Value) -> Value {
    let Some(url) = outcome["artifact"]["url"].as_str() else {
        return Value::Null;
    };
    let response = daemon
        .http
        .get(daemon.url(url))
        .bearer_auth(&daemon.token)
        .send()
        .await
        .expect("artifact download");
    assert_eq!(response.status().as_u16(), 200, "{url}");
    let bytes = response.bytes().await.expect("artifact bytes");
    let sha = |data: &[u8]| format!("{:x}", Sha256::digest(data));
    assert_eq!(
        outcome["artifact"]["sha256"],
        sha(&bytes),
        "the served artifact is the recorded one"
    );
    if outcome["command_type"] == "GetFile" {
        let mut content = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut content)
            .expect("a GetFile result is gzip");
        return json!(sha(&content));
    }
    json!(sha(&bytes))
}

pub(crate) async fn device_ids(sim: &TestSim) -> Vec<String> {
    crate::engine::all_device_ids(sim).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_any_moment_runs_no_step_twice_and_ends_with_the_same_records() {
    let interrupted = async {
        let sim = sim_for_kill_test().await;
        let root = tempfile::tempdir().expect("tempdir");
        let config = write_config(root.path(), &sim);
        let devices = device_ids(&sim).await;
        let mut daemon = start_daemon(&config, sim.sim.client_secret()).await;
        let (status, run) = daemon.post("/api/v1/runs", &run_body(&devices)).await;
        assert_eq!(status, 202, "{run}");
        let id = run["id"].as_str().expect("run id").to_owned();
        // Kill at staggered moments: before, during and between submissions, polls and captures.
        let mut kills = 0;
        for delay_ms in [300u64, 900, 150, 1300, 600, 50, 1100, 450, 800, 250] {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            let (_, run) = daemon.get(&format!("/api/v1/runs/{id}")).await;
            if run["state"] == "finished" {
                break;
            }
            daemon.kill_9();
            kills += 1;
            daemon = start_daemon(&config, sim.sim.client_secret()).await;
        }
        assert!(
            kills >= 3,
            "the run ended before it was interrupted enough ({kills} kills)"
        );
        wait_for_run(&daemon, &id, Duration::from_secs(180)).await;
        let stats = sim.stats().await;
        assert_no_step_ran_twice(&stats);
        assert_limits_kept(&stats);
        records(&daemon, &id).await
    };
    let uninterrupted = async {
        let sim = sim_for_kill_test().await;
        let root = tempfile::tempdir().expect("tempdir");
        let config = write_config(root.path(), &sim);
        let devices = device_ids(&sim).await;
        let daemon = start_daemon(&config, sim.sim.client_secret()).await;
        let (status, run) = daemon.post("/api/v1/runs", &run_body(&devices)).await;
        assert_eq!(status, 202, "{run}");
        let id = run["id"].as_str().expect("run id").to_owned();
        wait_for_run(&daemon, &id, Duration::from_secs(180)).await;
        records(&daemon, &id).await
    };
    let (interrupted, uninterrupted) = tokio::join!(interrupted, uninterrupted);
    assert_eq!(interrupted.len(), 60);
    let states: BTreeMap<String, usize> =
        uninterrupted
            .values()
            .fold(BTreeMap::new(), |mut counts, record| {
                *counts
                    .entry(record["state"].as_str().unwrap_or_default().to_owned())
                    .or_default() += 1;
                counts
            });
    assert_eq!(states.get("expired"), Some(&6), "{states:?}");
    assert!(states.get("failed").is_some_and(|n| *n > 0), "{states:?}");
    let differences: Vec<_> = uninterrupted
        .iter()
        .filter(|(device, record)| interrupted.get(*device) != Some(record))
        .map(|(device, record)| {
            format!(
                "{device}:\n  uninterrupted {record}\n  interrupted   {}",
                interrupted.get(device).unwrap_or(&Value::Null)
            )
        })
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_accepts_runs_refuses_bad_ones_and_the_daemon_stops_on_sigterm() {
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.devices = 4;
        },
        "scripts:\n  triage.ps1: {duration: 30m}\n  cleanup.ps1: {duration: 5s}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), &sim);
    let devices = device_ids(&sim).await;
    let daemon = start_daemon(&config, sim.sim.client_secret()).await;

    let (status, health) = daemon.get("/healthz").await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, names) = daemon.get("/api/v1/playbooks").await;
    assert_eq!((status, names), (200, json!(["e2e-triage"])));

    let (status, error) = daemon
        .post(
            "/api/v1/runs",
            &json!({"playbook": "nope", "targets": {"devices": devices}}),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("playbook_not_found"))
    );
    let (status, error) = daemon
        .post(
            "/api/v1/runs",
            &json!({"playbook": "e2e-triage", "targets": {"devices": ["no-such-device"]}}),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("unknown_device")),
        "{error}"
    );
    // A filter the Machines API refuses is the caller's mistake, not a failing service.
    let (status, error) = daemon
        .post(
            "/api/v1/runs",
            &json!({"playbook": "e2e-triage", "targets": {"filter": "nosuchfield eq 'x'"}}),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("invalid_targets")),
        "{error}"
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nosuchfield")),
        "{error}"
    );
    let (status, error) = daemon
        .post(
            "/api/v1/runs",
            &json!({"playbook": "e2e-triage", "target": {}}),
        )
        .await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("target")),
        "{error}"
    );
    let (status, error) = daemon
        .get("/api/v1/runs/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("run_not_found"))
    );

    let response = daemon
        .http
        .post(daemon.url("/api/v1/runs"))
        .bearer_auth(&daemon.token)
        .json(&run_body(&devices))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 202);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let run: Value = response.json().await.expect("run json");
    let id = run["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/api/v1/runs/{id}"));
    assert_eq!(run["started_by"], "admin for kill-test");
    eventually(
        Duration::from_secs(30),
        "the run's actions to be in flight",
        || async {
            let (_, run) = daemon.get(&format!("/api/v1/runs/{id}")).await;
            (run["targets"]["in_flight"] == 4).then_some(())
        },
    )
    .await;
    let (status, paused) = daemon
        .post(&format!("/api/v1/runs/{id}/pause"), &json!({}))
        .await;
    assert_eq!((status, paused["state"].as_str()), (200, Some("paused")));
    let (status, resumed) = daemon
        .post(&format!("/api/v1/runs/{id}/resume"), &json!({}))
        .await;
    assert_eq!((status, resumed["state"].as_str()), (200, Some("running")));
    let (status, _) = daemon
        .post(&format!("/api/v1/runs/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, again) = daemon
        .post(&format!("/api/v1/runs/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("invalid_state"))
    );
    let run = wait_for_run(&daemon, &id, Duration::from_secs(30)).await;
    assert_eq!(run["state"], "cancelled");
    assert_eq!(run["targets"]["cancelled"], 4, "{run}");
    let (_, outcomes) = daemon.get(&format!("/api/v1/runs/{id}/outcomes")).await;
    assert!(
        outcomes
            .as_array()
            .expect("outcomes")
            .iter()
            .all(|o| o["outcome"] == "cancelled"),
        "{outcomes}"
    );
    let (_, events) = daemon.get(&format!("/api/v1/runs/{id}/events")).await;
    assert!(
        events
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "run_state")
    );

    // SIGTERM: the daemon stops on its own, promptly and cleanly.
    let mut daemon = daemon;
    let pid = daemon.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = eventually(Duration::from_secs(15), "the daemon to exit", || {
        let exit = daemon.child.try_wait().expect("try_wait");
        async move { exit }
    })
    .await;
    assert!(exit.success(), "{exit:?}");
}

pub(crate) fn cli(daemon: &Daemon, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fleetlr-under-test"))
        .args(args)
        .env("FLEETLR_SERVER", &daemon.base)
        .env("FLEETLR_TOKEN", &daemon.token)
        .output()
        .expect("the CLI runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_starts_a_run_waits_for_it_and_reports_failures_by_exit_code() {
    let sim = start_sim(
        |a| a.speedup = SPEEDUP,
        "fleet: {count: 3}\ndevices:\n  - {name: bad.lab, tags: [fails]}\nscripts:\n  triage.ps1:\n    duration: 10s\n    rules:\n      - {when: {tags: [fails]}, outcome: fail, errors: \"Access is denied\"}\n  cleanup.ps1: {duration: 5s}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), &sim);
    let daemon = start_daemon(&config, sim.sim.client_secret()).await;
    let devices = device_ids(&sim).await;
    let mut args = vec!["run", "e2e-triage", "--wait"];
    for device in &devices {
        args.extend(["--device", device.as_str()]);
    }
    let output = tokio::task::spawn_blocking({
        let base = daemon.base.clone();
        let token = daemon.token.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        move || {
            Command::new(env!("CARGO_BIN_EXE_fleetlr-under-test"))
                .args(&args)
                .env("FLEETLR_SERVER", base)
                .env("FLEETLR_TOKEN", token)
                .output()
                .expect("the CLI runs")
        }
    })
    .await
    .expect("CLI task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "one device failed: {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("succeeded 3") && stdout.contains("failed 1"),
        "{stdout}"
    );
    assert!(stderr.contains("accepted: 4 targets"), "{stderr}");

    let listed = cli(&daemon, &["runs", "list", "--output", "json"]);
    assert!(listed.status.success());
    let runs: Value = serde_json::from_slice(&listed.stdout).expect("JSON list");
    let id = runs[0]["id"].as_str().expect("run id").to_owned();
    assert_eq!(runs[0]["state"], "finished");
    let shown = cli(&daemon, &["runs", "show", &id]);
    let table = String::from_utf8_lossy(&shown.stdout);
    assert!(
        table.contains("bad.lab") && table.contains("not_executed 1"),
        "{table}"
    );
    let retried = cli(&daemon, &["runs", "retry", &id]);
    assert!(String::from_utf8_lossy(&retried.stdout).contains("1 targets queued again"));
    let detail = cli(&daemon, &["runs", "show", &id, "--device", "bad.lab"]);
    let detail = String::from_utf8_lossy(&detail.stdout);
    assert!(
        detail.contains("triage (RunScript, call 0.0): failed")
            && detail.contains("error: Access is denied"),
        "{detail}"
    );
    let (_, outcomes) = daemon.get(&format!("/api/v1/runs/{id}/outcomes")).await;
    let collected = outcomes
        .as_array()
        .expect("outcomes")
        .iter()
        .find(|o| o["step_id"] == "collect" && o["outcome"] == "completed")
        .expect("a collected file");
    let file = tempfile::tempdir().expect("tempdir");
    let path = file.path().join("collected.gz");
    let outcome_id = collected["id"].to_string();
    let got = cli(
        &daemon,
        &[
            "artifacts",
            "get",
            &id,
            &outcome_id,
            "-o",
            path.to_str().expect("utf-8"),
        ],
    );
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let bytes = std::fs::read(&path).expect("downloaded file");
    assert_eq!(
        collected["artifact"]["sha256"],
        format!("{:x}", Sha256::digest(&bytes))
    );
    assert!(String::from_utf8_lossy(&got.stderr).contains("(verified)"));
    let completions = cli(&daemon, &["completions", "bash"]);
    assert!(String::from_utf8_lossy(&completions.stdout).contains("fleetlr"));
    let missing = cli(&daemon, &["runs", "show", "no-such-run"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("run `no-such-run` not found"));
}

/// 170 generated devices (a tenth tagged `fails`, whose triage script fails), 20 that come
/// online within the first hour, and 10 that never do.
fn fleet_scenario() -> String {
    let mut yaml = String::from(
        r#"
fleet:
  count: 170
  tags:
    - {tag: fails, fraction: 0.1}
scripts:
  triage.ps1:
    duration: 20s..2m
    output: "triage done"
    rules:
      - {when: {tags: [fails]}, outcome: fail, errors: "Access is denied"}
  cleanup.ps1:
    duration: 5s..20s
files:
  default: {size: 64KiB}
timing:
  dispatch: 2s..5s
devices:
"#,
    );
    for i in 0..20 {
        yaml.push_str(&format!(
            "  - {{name: late-{i}.lab, offline: [{{until: 10m..50m}}]}}\n"
        ));
    }
    for i in 0..10 {
        yaml.push_str(&format!("  - {{name: gone-{i}.lab, offline: [{{}}]}}\n"));
    }
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_run_gives_every_command_its_outcome_inside_the_limits() {
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.seed = 7;
        },
        &fleet_scenario(),
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), &sim);
    let daemon = start_daemon(&config, sim.sim.client_secret()).await;
    let machines = sim
        .client()
        .list_all_machines(&fleetlr_defender::odata::ODataQuery::new())
        .await
        .expect("machines");
    assert_eq!(machines.len(), 200);
    let name_of: BTreeMap<String, String> = machines
        .iter()
        .map(|m| {
            (
                m.id.clone(),
                m.computer_dns_name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let tagged_fails: std::collections::HashSet<String> = machines
        .iter()
        .filter(|m| m.machine_tags.iter().any(|t| t == "fails"))
        .map(|m| m.id.clone())
        .collect();
    assert!(
        !tagged_fails.is_empty(),
        "the scenario tags some devices `fails`"
    );
    // Three simulated hours: the late devices are back within 50 minutes, the gone ones never.
    // Withdrawn devices are served after every device not yet tried, so the run needs room
    // after the last return even when this machine is too busy to keep the sped-up pace.
    let body = json!({
        "playbook": "e2e-triage",
        "targets": {"devices": name_of.keys().collect::<Vec<_>>()},
        "expires_after": "3h",
        "started_by": "e2e",
    });
    let (status, run) = daemon.post("/api/v1/runs", &body).await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_str().expect("run id").to_owned();
    let run = wait_for_run(&daemon, &id, Duration::from_secs(180)).await;
    assert_eq!(run["state"], "finished", "{run}");

    let records = records(&daemon, &id).await;
    assert_eq!(records.len(), 200);
    let mut withdrawn_as_started = Vec::new();
    for (device, record) in &records {
        let name = &name_of[device];
        let (state, kinds) = if name.starts_with("gone-") {
            ("expired", ["expired", "expired", "expired"])
        } else if name.starts_with("late-") && record["steps"][0][1] == "cancelled" {
            // Back just as fleetlr withdrew its pending triage (on a busy machine the sped-up
            // moment between a poll and the withdrawal is long): the triage started and was
            // cancelled, so it is not sent again.
            withdrawn_as_started.push(device.as_str());
            ("failed", ["cancelled", "not_executed", "not_executed"])
        } else if tagged_fails.contains(device) {
            ("failed", ["failed", "not_executed", "not_executed"])
        } else {
            ("succeeded", ["completed", "completed", "completed"])
        };
        assert_eq!(record["state"], state, "{name}: {record}");
        let steps: Vec<(&str, &str)> = record["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| {
                (
                    s[0].as_str().unwrap_or_default(),
                    s[1].as_str().unwrap_or_default(),
                )
            })
            .collect();
        let expected: Vec<(&str, &str)> = ["triage", "collect", "cleanup"]
            .into_iter()
            .zip(kinds)
            .collect();
        assert_eq!(steps, expected, "{name}");
        if state == "succeeded" {
            // Collected and captured: `records` downloaded each artifact and checked its hash.
            assert!(record["steps"][1][3].is_string(), "{name}: {record}");
            assert_eq!(record["steps"][0][2], 0, "{name}: the triage exit code");
        }
    }
    let (_, outcomes) = daemon.get(&format!("/api/v1/runs/{id}/outcomes")).await;
    let outcomes = outcomes.as_array().expect("outcomes");
    let triage = outcomes
        .iter()
        .find(|o| o["step_id"] == "triage" && o["outcome"] == "completed")
        .expect("a completed triage");
    assert!(
        triage["output_preview"]
            .as_str()
            .is_some_and(|o| o.contains("triage done")),
        "{triage}"
    );
    let failed = outcomes
        .iter()
        .find(|o| o["outcome"] == "failed")
        .expect("a failed triage");
    assert!(
        failed["errors"].to_string().contains("Access is denied"),
        "{failed}"
    );

    for device in withdrawn_as_started {
        let triage = outcomes
            .iter()
            .find(|o| o["device_id"] == device && o["step_id"] == "triage")
            .expect("the triage outcome");
        assert!(
            triage["errors"].to_string().contains("as fleetlr withdrew"),
            "{triage}"
        );
    }

    let stats = sim.stats().await;
    assert_limits_kept(&stats);
    assert_no_step_ran_twice(&stats);
    // Devices that never came online were not left holding sessions in MDE's queue.
    assert_eq!(stats["sessions_in_use"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_enforced_and_every_change_is_audited_with_who_made_it() {
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.devices = 2;
        },
        "scripts:\n  triage.ps1: {duration: 10s}\n  cleanup.ps1: {duration: 5s}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), &sim);
    let daemon = start_daemon(&config, sim.sim.client_secret()).await;
    let devices = device_ids(&sim).await;
    let token_for = |name: &'static str, role: &'static str| {
        let daemon = &daemon;
        async move {
            let (status, created) = daemon
                .post("/api/v1/tokens", &json!({"name": name, "role": role}))
                .await;
            assert_eq!(status, 201, "{created}");
            created["token"].as_str().expect("token").to_owned()
        }
    };
    let viewer = token_for("vera", "viewer").await;
    let operator = token_for("ops-bot", "operator").await;

    // No token, a wrong one: the same 401, nothing more said. Health needs none.
    let anonymous = daemon
        .http
        .get(daemon.url("/api/v1/runs"))
        .send()
        .await
        .expect("GET");
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let (status, wrong) = daemon.get_as("/api/v1/runs", "flr_not-a-token").await;
    assert_eq!(
        (status, wrong["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let health = daemon
        .http
        .get(daemon.url("/healthz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(health.status().as_u16(), 200);

    let body = run_body(&devices);
    let (status, _) = daemon.get_as("/api/v1/runs", &viewer).await;
    assert_eq!(status, 200, "viewers read");
    let (status, refused) = daemon.post_as("/api/v1/runs", &body, &viewer).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, run) = daemon
        .post_as(
            "/api/v1/runs",
            &json!({"playbook": "e2e-triage", "targets": {"devices": devices}}),
            &operator,
        )
        .await;
    assert_eq!(status, 202, "{run}");
    assert_eq!(run["started_by"], "ops-bot");
    let id = run["id"].as_str().expect("id").to_owned();
    let (status, _) = daemon
        .post_as(
            "/api/v1/tokens",
            &json!({"name": "x", "role": "admin"}),
            &operator,
        )
        .await;
    assert_eq!(status, 403, "operators do not manage tokens");
    let (status, _) = daemon.get_as("/api/v1/audit", &operator).await;
    assert_eq!(status, 403, "operators do not read the audit log");

    assert_eq!(daemon.delete("/api/v1/tokens/vera").await, 204);
    let (status, _) = daemon.get_as("/api/v1/runs", &viewer).await;
    assert_eq!(status, 401, "a revoked token stops working at once");

    let (_, audit) = daemon.get("/api/v1/audit").await;
    let entries: Vec<(String, String, String)> = audit
        .as_array()
        .expect("audit")
        .iter()
        .rev()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("actor"), text("action"), text("outcome"))
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("admin", "token.create", "ok"),
        ("admin", "token.create", "ok"),
        ("vera", "run.create", "refused"),
        ("ops-bot", "run.create", "ok"),
        ("ops-bot", "token.create", "refused"),
        ("admin", "token.revoke", "ok"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    .collect();
    assert_eq!(entries, expected);

    // MDE records only the app; fleetlr puts the person or token into each action's Comment.
    wait_for_run(&daemon, &id, Duration::from_secs(60)).await;
    let stats = sim.stats().await;
    let comments: Vec<&str> = stats["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .flat_map(|d| d["actions"].as_array().into_iter().flatten())
        .filter_map(|a| a["comment"].as_str())
        .collect();
    assert!(!comments.is_empty());
    assert!(
        comments.iter().all(|c| c.contains("started by ops-bot")),
        "{comments:?}"
    );
    // The metrics say what happened: two devices, two calls each, two results each.
    let response = daemon
        .http
        .get(daemon.url("/metrics"))
        .bearer_auth(&operator)
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("metrics text");
    let value = |name: &str, labels: &[&str]| -> f64 {
        text.lines()
            .find(|line| {
                line.starts_with(&format!("{name}{{")) && labels.iter().all(|l| line.contains(l))
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} {labels:?} in:\n{text}"))
    };
    let lr = [
        "endpoint=\"runliveresponse\"",
        "outcome=\"ok\"",
        "tenant=\"lab\"",
    ];
    assert_eq!(value("fleetlr_api_calls_total", &lr), 4.0);
    let polls = ["endpoint=\"machineactions.list\"", "outcome=\"ok\""];
    assert!(value("fleetlr_api_calls_total", &polls) >= 1.0);
    assert_eq!(value("fleetlr_sessions_in_use", &["tenant=\"lab\""]), 0.0);
    assert!(value("fleetlr_result_download_bytes_total", &["tenant=\"lab\""]) > 0.0);
    assert_eq!(value("fleetlr_queue_depth", &["tenant=\"lab\""]), 0.0);
    assert!(
        text.contains("fleetlr_run_first_submission_seconds"),
        "{text}"
    );
    let anonymous = daemon
        .http
        .get(daemon.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(anonymous.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_routes_that_exist() {
    let sim = start_sim(|a| a.devices = 1, "").await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), &sim);
    let daemon = start_daemon(&config, sim.sim.client_secret()).await;
    let (status, doc) = daemon.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["components"]["securitySchemes"]["bearer"].is_object(),
        "{doc}"
    );
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", "no-such-run")
            .replace("{outcome}", "1")
            .replace("{name}", "nobody");
        for method in item.as_object().expect("path item").keys() {
            let method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let response = daemon
                .http
                .request(method.clone(), daemon.url(&concrete))
                .bearer_auth(&daemon.token)
                .json(&json!({}))
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert_ne!(
                body["error"]["message"], "no such route",
                "{method} {path} is documented but not routed"
            );
            operations += 1;
        }
    }
    assert!(operations >= 18, "{operations} operations documented");
    let anonymous = daemon
        .http
        .get(daemon.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("GET");
    assert_eq!(anonymous.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_daemon_drives_several_tenants_each_inside_its_own_limits() {
    let scenario = "scripts:\n  triage.ps1: {duration: 10s}\n  cleanup.ps1: {duration: 5s}\n";
    let east = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.devices = 3;
            a.seed = 1;
        },
        scenario,
    )
    .await;
    let west = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.devices = 2;
            a.seed = 2;
        },
        scenario,
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    // The single-tenant configuration, with a second tenant appended.
    let config = write_config(root.path(), &east);
    std::fs::write(root.path().join("west-ca.pem"), west.sim.ca_pem()).expect("CA written");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text = text.replace("name: lab", "name: east");
    text.push_str(&format!(
        "  - name: west\n    tenant_id: {}\n    client_id: {}\n    client_secret: {}\n    cloud: {{custom: {{api_base: \"{}\", authority_host: \"{}\"}}}}\n    ca_file: west-ca.pem\n    limits: {{time_scale: {SPEEDUP}, pacing_margin: 0.5}}\n",
        west.sim.tenant_id(),
        west.sim.client_id(),
        west.sim.client_secret(),
        west.sim.base_url(),
        west.sim.base_url(),
    ));
    std::fs::write(&config, text).expect("config written");
    let daemon = start_daemon(&config, east.sim.client_secret()).await;

    let mut runs = Vec::new();
    for (tenant, sim, devices) in [("east", &east, 3), ("west", &west, 2)] {
        let ids = device_ids(sim).await;
        assert_eq!(ids.len(), devices);
        let body = json!({"playbook": "e2e-triage", "tenant": tenant, "targets": {"devices": ids}});
        let (status, run) = daemon.post("/api/v1/runs", &body).await;
        assert_eq!(status, 202, "{run}");
        assert_eq!(run["tenant"], tenant);
        runs.push((run["id"].as_str().expect("id").to_owned(), sim, devices));
    }
    for (id, sim, devices) in runs {
        let run = wait_for_run(&daemon, &id, Duration::from_secs(60)).await;
        assert_eq!(run["targets"]["succeeded"], devices, "{run}");
        let stats = sim.stats().await;
        assert_limits_kept(&stats);
        // Each tenant's simulator saw exactly its own devices' calls.
        assert_eq!(
            stats["stats"]["endpoints"]["runliveresponse"]["statuses"]["201"],
            devices * 2,
            "{stats}"
        );
    }
    let (status, error) = daemon
        .post(
            "/api/v1/runs",
            &json!({"playbook": "e2e-triage", "tenant": "north", "targets": {"devices": ["x"]}}),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("unknown_tenant"))
    );
}
