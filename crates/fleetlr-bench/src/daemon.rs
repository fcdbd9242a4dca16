//! The daemon under test: this binary started as `serve` on a temporary data directory, with
//! the simulator as its one (real, not in-process) tenant, driven through its REST API.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::sim::Sim;

/// The alert webhook's bearer secret (the harness is its only sender).
pub const HOOK_SECRET: &str = "bench-hook-secret-0123456789";

pub struct Daemon {
    child: Child,
    base: String,
    token: String,
    http: reqwest::Client,
    config: PathBuf,
}

/// What the daemon process cost, read from `/proc`.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub peak_rss_mib: f64,
    pub cpu_secs: f64,
    /// Resident memory now, split into the process's own (heap, stacks) and pages mapped from
    /// files (its program's code, mostly).
    #[serde(default)]
    pub anon_mib: f64,
    #[serde(default)]
    pub file_mib: f64,
}

/// Writes the daemon's configuration and its playbooks (with a small script for every library
/// file they name) under `root`.
pub fn prepare(
    root: &Path,
    sim: &Sim,
    playbooks: &[(&str, &str)],
    scripts: &[String],
    extra: &str,
) -> anyhow::Result<PathBuf> {
    let dir = root.join("playbooks");
    std::fs::create_dir_all(dir.join("scripts"))?;
    for (name, yaml) in playbooks {
        std::fs::write(dir.join(format!("{name}.yaml")), yaml)?;
    }
    for script in scripts {
        std::fs::write(dir.join("scripts").join(script), format!("# {script}\n"))?;
    }
    std::fs::write(root.join("ca.pem"), sim.handle.ca_pem())?;
    let config = format!(
        r#"listen: 127.0.0.1:0
data_dir: data
playbooks_dir: playbooks
shutdown_grace: 5s
tenants:
  - name: bench
    tenant_id: {tenant}
    client_id: {client}
    client_secret: ${{FLEETLR_BENCH_SECRET}}
    cloud: {{custom: {{api_base: "{base}", authority_host: "{base}"}}}}
    ca_file: ca.pem
    limits: {{time_scale: {speedup}}}
{extra}"#,
        tenant = sim.handle.tenant_id(),
        client = sim.handle.client_id(),
        base = sim.handle.base_url(),
        speedup = sim.speedup,
    );
    let path = root.join("fleetlr.yaml");
    std::fs::write(&path, config)?;
    Ok(path)
}

impl Daemon {
    /// Starts `exe serve --config CONFIG` and waits until it is ready.
    pub async fn start(exe: &Path, config: &Path, secret: &str) -> anyhow::Result<Self> {
        let mut child = Command::new(exe)
            .args(["serve", "--config"])
            .arg(config)
            .env("FLEETLR_BENCH_SECRET", secret)
            .env("FLEETLR_BENCH_HOOK_SECRET", HOOK_SECRET)
            // FLEETLR_BENCH_DAEMON_LOG sets the daemon's log filter when diagnosing a run.
            .env(
                "RUST_LOG",
                std::env::var("FLEETLR_BENCH_DAEMON_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let stdout = child.stdout.take().context("daemon stdout")?;
        let line = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find(|line| line.starts_with("fleetlr listening on "))
        });
        let line = tokio::time::timeout(Duration::from_secs(60), line)
            .await
            .context("the daemon did not announce its address within a minute")??
            .context("the daemon exited before listening")?;
        let base = line.trim_start_matches("fleetlr listening on ").to_owned();
        let token_file = config
            .parent()
            .unwrap_or(Path::new("."))
            .join("data/admin.token");
        let token = std::fs::read_to_string(&token_file)
            .with_context(|| format!("reading {}", token_file.display()))?
            .trim()
            .to_owned();
        let daemon = Self {
            child,
            base,
            token,
            http: reqwest::Client::new(),
            config: config.to_path_buf(),
        };
        daemon.wait_ready(Duration::from_secs(120)).await?;
        Ok(daemon)
    }

    /// Polls `/readyz` until it answers 200.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            let ready = self
                .http
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                bail!("the daemon was not ready within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "GET {path}: {status} {body}");
        Ok(body)
    }

    /// Every row of one of the API's paged listings (`path` without a query), read the
    /// largest page at a time, each after the last row's id.
    pub async fn get_all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        const PAGE: usize = 10_000;
        let mut rows: Vec<Value> = Vec::new();
        loop {
            let after = rows
                .last()
                .and_then(|row| row["id"].as_i64())
                .map_or_else(String::new, |id| format!("&after={id}"));
            let page = self.get(&format!("{path}?limit={PAGE}{after}")).await?;
            let page = page.as_array().cloned().unwrap_or_default();
            let last = page.len() < PAGE;
            rows.extend(page);
            if last {
                return Ok(rows);
            }
        }
    }

    /// Fetches a console page as a signed-in browser does (the session cookie holds the
    /// token) and returns how long the whole answer took.
    pub async fn console_page(&self, path: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(
                reqwest::header::COOKIE,
                format!("fleetlr_session={}", self.token),
            )
            .header(reqwest::header::ACCEPT, "text/html")
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        anyhow::ensure!(status.is_success(), "GET {path}: {status} {body}");
        Ok(started.elapsed())
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {answer}");
        Ok(answer)
    }

    /// Delivers an alert to `POST /hooks/{hook}` with the hook's bearer secret.
    pub async fn deliver(&self, hook: &str, alert: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/hooks/{hook}", self.base))
            .bearer_auth(HOOK_SECRET)
            .json(alert)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(
            status.as_u16() == 202,
            "POST /hooks/{hook}: {status} {answer}"
        );
        Ok(answer)
    }

    /// Waits until the run is finished or cancelled, polling its state.
    pub async fn wait_for_run(&self, id: &str, timeout: Duration) -> anyhow::Result<Value> {
        let started = Instant::now();
        loop {
            let run = self.get(&format!("/api/v1/runs/{id}")).await?;
            if matches!(run["state"].as_str(), Some("finished" | "cancelled")) {
                return Ok(run);
            }
            if started.elapsed() > timeout {
                bail!("run {id} did not end within {timeout:?}: {run}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn usage(&self) -> Usage {
        usage(self.child.id())
    }

    /// Bytes of the SQLite database and its write-ahead log.
    pub fn database_bytes(&self) -> u64 {
        let data = self.config.parent().unwrap_or(Path::new(".")).join("data");
        ["fleetlr.db", "fleetlr.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(data.join(f)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// SIGKILL: nothing more is written.
    pub fn kill_9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    pub fn config(&self) -> &Path {
        &self.config
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Peak resident memory (`VmHWM`), resident memory now by kind, and CPU time (user + system) of a process. Linux's
/// `/proc/PID/stat` counts CPU in clock ticks of 1/100 s (USER_HZ).
fn usage(pid: u32) -> Usage {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mib = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    Usage {
        peak_rss_mib: mib("VmHWM:"),
        cpu_secs: (ticks(11) + ticks(12)) / 100.0,
        anon_mib: mib("RssAnon:"),
        file_mib: mib("RssFile:"),
    }
}
