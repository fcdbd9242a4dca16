//! `fleetlr run` and `fleetlr runs …`: the command line against a running daemon's REST API.
//! Tables for people by default, the server's JSON for scripts (`--output json`).
//!
//! Exit codes: 0 success (with `--wait`: every target succeeded), 1 error (the server's
//! message is printed), 2 the run ended with targets that did not succeed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use fleetlr_server::api::{CreateRun, OutcomeView, RunView, TargetView, Targets};
use serde_json::Value;

#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The daemon's address.
    #[arg(
        long,
        env = "FLEETLR_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// Tables for people, or the server's JSON for scripts.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    pub(crate) output: Output,
    /// The API token (default: `./data/admin.token`, which `fleetlr serve` creates on first start).
    #[arg(long, env = "FLEETLR_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Shown under `fleetlr run --help`, so scripts can rely on them.
const RUN_EXIT_CODES: &str = "\
Exit codes:
  0  the run was accepted (with --wait: it ended and every target succeeded)
  1  error: the request was refused (the daemon's message is printed), or the daemon is unreachable
  2  with --wait: the run ended with targets that failed, timed out, expired or were cancelled";

/// What a run targets, its parameters and its priority: the flags `fleetlr run` and
/// `fleetlr schedules add` share.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// A device id or computer name (repeat for more).
    #[arg(long = "device")]
    devices: Vec<String>,
    /// Every device with this machine tag (repeat for more).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Every device of this RBAC device group id (repeat for more).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// An OData filter over /api/machines, e.g. "osPlatform eq 'Windows11'".
    #[arg(long)]
    filter: Option<String>,
    /// A playbook parameter, name=value (repeat for more).
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Override the playbook's priority.
    #[arg(long, value_parser = ["response", "collection"])]
    pub(crate) priority: Option<String>,
}

impl TargetArgs {
    /// The targets as the API takes them, with `more_devices` after the `--device` ones.
    pub(crate) fn targets(&self, more_devices: Vec<String>) -> Targets {
        Targets {
            devices: self.devices.iter().cloned().chain(more_devices).collect(),
            tags: self.tags.clone(),
            rbac_group_ids: self.groups.clone(),
            filter: self.filter.clone(),
        }
    }

    /// The parameters as the API takes them (text values).
    pub(crate) fn parameters(&self) -> BTreeMap<String, Value> {
        self.params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect()
    }
}

#[derive(Debug, Args)]
#[command(after_help = RUN_EXIT_CODES)]
pub struct RunArgs {
    /// A playbook the daemon knows by name, or a path to a playbook file (sent with the request).
    playbook: String,
    #[command(flatten)]
    targets: TargetArgs,
    /// A file of device ids or computer names, one per line (`#` starts a comment).
    // Listed right after --device: the same display order as the first flag of `targets`, and
    // help sorts ties by name.
    #[arg(long, display_order = 0)]
    device_file: Option<std::path::PathBuf>,
    /// Tenant name from the daemon's configuration (default: its first tenant).
    #[arg(long)]
    tenant: Option<String>,
    /// Override how long offline devices are waited for, e.g. 3d, 12h.
    #[arg(long)]
    expires_after: Option<String>,
    /// Run the first N devices first and pause if any of them fails.
    #[arg(long)]
    canary: Option<u32>,
    /// Pause the run when more than this percentage of ended targets failed.
    #[arg(long)]
    max_failure_percent: Option<u8>,
    /// Wait for the run to end, showing progress; exit 2 if any target did not succeed.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// The newest runs with their progress.
    List {
        /// Only runs in this state (queued, running, paused, cancelling, finished, cancelled).
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// One run: its state, targets and outcomes.
    Show {
        id: String,
        /// Only this device (id or computer name), with each command's output and errors.
        #[arg(long)]
        device: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Cancel a run: queued devices are dropped, actions in flight are cancelled.
    Cancel {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Queue a run's failed, timed-out and expired devices again.
    Retry {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Stop sending a run's commands (actions in flight finish).
    Pause {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Resume a paused run.
    Resume {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub(crate) fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not name=value")),
    }
}

pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    pub(crate) fn new(server: &ServerArgs) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        let token = match &server.token {
            Some(token) => Some(token.clone()),
            None => std::fs::read_to_string(Path::new("data").join("admin.token"))
                .ok()
                .map(|t| t.trim().to_owned()),
        };
        Ok(Self {
            http,
            base: server.server.trim_end_matches('/').to_owned(),
            token,
        })
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        Ok(self.exchange(method, path, body).await?.0)
    }

    /// Every row of a paged listing: its pages, each followed to the next by its `Link`
    /// header, as one JSON array.
    pub(crate) async fn all_pages(&self, path: &str) -> anyhow::Result<Value> {
        let mut rows = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(path) = next {
            let (page, link) = self.exchange(reqwest::Method::GET, &path, None).await?;
            match page {
                Value::Array(page) => rows.extend(page),
                other => bail!("the daemon answered {path} with {other} where a list was expected"),
            }
            next = link;
        }
        Ok(Value::Array(rows))
    }

    /// The answer to one request, and the path of the next page when it is one page of many.
    async fn exchange(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(Value, Option<String>)> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|err| {
            if err.is_connect() {
                anyhow::anyhow!(
                    "cannot reach the daemon at {}; start it with `fleetlr serve --config config/dev.yaml` or point --server / FLEETLR_SERVER at it",
                    self.base
                )
            } else {
                anyhow::anyhow!("calling {url}: {err}")
            }
        })?;
        let status = response.status();
        let next = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|link| link.to_str().ok())
            .and_then(next_page)
            .map(str::to_owned);
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value["error"]["message"]
                .as_str()
                .map_or_else(|| format!("the daemon answered {status}"), str::to_owned);
            bail!("{message}");
        }
        Ok((value, next))
    }
}

/// The next page's path in a `Link` header, as the daemon writes it: `<path>; rel="next"`.
fn next_page(link: &str) -> Option<&str> {
    link.strip_suffix("; rel=\"next\"")?
        .strip_prefix('<')?
        .strip_suffix('>')
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let body = create_body(args)?;
    runtime()?.block_on(async {
        let api = Api::new(&args.server)?;
        let body = serde_json::to_value(&body).context("encoding the request")?;
        let created = api
            .call(reqwest::Method::POST, "/api/v1/runs", Some(&body))
            .await?;
        let run: RunView =
            serde_json::from_value(created.clone()).context("reading the daemon's answer")?;
        if !args.wait {
            print_value(args.server.output, &created, || {
                format!(
                    "run {} accepted: {} targets, {}\n",
                    run.id, run.progress.total, run.state
                )
            });
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("run {} accepted: {} targets", run.id, run.progress.total);
        wait(&api, &run.id, args.server.output).await
    })
}

fn create_body(args: &RunArgs) -> anyhow::Result<CreateRun> {
    let path = Path::new(&args.playbook);
    let is_file = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let (playbook, playbook_yaml, name) = if is_file {
        let yaml =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("inline")
            .to_owned();
        (None, Some(yaml), Some(name))
    } else {
        (Some(args.playbook.clone()), None, None)
    };
    let mut devices = Vec::new();
    if let Some(file) = &args.device_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        devices.extend(
            text.lines()
                .map(|line| line.split('#').next().unwrap_or_default().trim())
                .filter(|line| !line.is_empty())
                .map(str::to_owned),
        );
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "someone".into());
    Ok(CreateRun {
        playbook,
        playbook_yaml,
        name,
        tenant: args.tenant.clone(),
        targets: args.targets.targets(devices),
        parameters: args.targets.parameters(),
        priority: args.targets.priority.clone(),
        expires_after: args.expires_after.clone(),
        max_failure_percent: args.max_failure_percent,
        canary: args.canary,
        started_by: Some(format!("cli:{user}")),
    })
}

/// Polls the run until it ends: a live bar (ended/total, counts per state, ETA) on a terminal,
/// a line per change otherwise (logs, CI).
async fn wait(api: &Api, id: &str, output: Output) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} devices  eta {eta}  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut last = String::new();
    loop {
        let value = api
            .call(reqwest::Method::GET, &format!("/api/v1/runs/{id}"), None)
            .await?;
        let run: RunView = serde_json::from_value(value.clone()).context("reading the run")?;
        let line = progress_line(&run);
        match &bar {
            Some(bar) => {
                bar.set_length(run.progress.total);
                bar.set_position(run.progress.ended);
                bar.set_message(format!("{} ({})", run.state, counts(&run.targets)));
            }
            None if line != last => eprintln!("{line}"),
            None => {}
        }
        last = line;
        if matches!(run.state.as_str(), "finished" | "cancelled") {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            print_value(output, &value, || show_run(&run));
            let all_succeeded = run.targets.keys().all(|state| state == "succeeded");
            return Ok(if all_succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn progress_line(run: &RunView) -> String {
    let counts: Vec<String> = run
        .targets
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let mut line = format!(
        "{} {}/{} ended ({})",
        run.state,
        run.progress.ended,
        run.progress.total,
        counts.join(", ")
    );
    if let Some(reason) = &run.pause_reason {
        let _ = write!(line, " — {reason}");
    }
    line
}

pub fn runs(command: &RunsCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        match command {
            RunsCommand::List {
                state,
                limit,
                server,
            } => {
                let api = Api::new(server)?;
                let mut path = format!("/api/v1/runs?limit={limit}");
                if let Some(state) = state {
                    let _ = write!(path, "&state={state}");
                }
                let value = api.call(reqwest::Method::GET, &path, None).await?;
                let runs: Vec<RunView> =
                    serde_json::from_value(value.clone()).context("reading runs")?;
                print_value(server.output, &value, || runs_table(&runs));
            }
            RunsCommand::Show { id, device, server } => {
                let api = Api::new(server)?;
                let run = api
                    .call(reqwest::Method::GET, &format!("/api/v1/runs/{id}"), None)
                    .await?;
                if let Some(device) = device {
                    // Only this device's target and outcomes, however big the run.
                    let found = api
                        .all_pages(&format!(
                            "/api/v1/runs/{id}/targets?{}",
                            serde_urlencoded::to_string([("device", device)])?
                        ))
                        .await?;
                    let found: Vec<TargetView> =
                        serde_json::from_value(found).context("reading targets")?;
                    let target = found
                        .first()
                        .with_context(|| format!("run `{id}` has no device `{device}`"))?;
                    let outcomes = api
                        .all_pages(&format!(
                            "/api/v1/runs/{id}/outcomes?{}",
                            serde_urlencoded::to_string([("device", &target.device_id)])?
                        ))
                        .await?;
                    let outcomes: Vec<OutcomeView> =
                        serde_json::from_value(outcomes).context("reading outcomes")?;
                    let mine: Vec<&OutcomeView> = outcomes.iter().collect();
                    let json = serde_json::json!({"target": target, "outcomes": mine});
                    print_value(server.output, &json, || device_detail(target, &mine));
                    return Ok(ExitCode::SUCCESS);
                }
                let targets = api.all_pages(&format!("/api/v1/runs/{id}/targets")).await?;
                let outcomes = api
                    .all_pages(&format!("/api/v1/runs/{id}/outcomes"))
                    .await?;
                let all = serde_json::json!({"run": run, "targets": targets, "outcomes": outcomes});
                let run: RunView = serde_json::from_value(run).context("reading the run")?;
                let targets: Vec<TargetView> =
                    serde_json::from_value(targets).context("reading targets")?;
                let outcomes: Vec<OutcomeView> =
                    serde_json::from_value(outcomes).context("reading outcomes")?;
                print_value(server.output, &all, || {
                    format!(
                        "{}\n{}\n{}",
                        show_run(&run),
                        outcome_summary(&outcomes),
                        targets_table(&targets)
                    )
                });
            }
            RunsCommand::Cancel { id, server }
            | RunsCommand::Pause { id, server }
            | RunsCommand::Resume { id, server }
            | RunsCommand::Retry { id, server } => {
                let verb = match command {
                    RunsCommand::Cancel { .. } => "cancel",
                    RunsCommand::Pause { .. } => "pause",
                    RunsCommand::Resume { .. } => "resume",
                    _ => "retry",
                };
                let api = Api::new(server)?;
                let value = api
                    .call(
                        reqwest::Method::POST,
                        &format!("/api/v1/runs/{id}/{verb}"),
                        Some(&serde_json::json!({})),
                    )
                    .await?;
                let run_value = if verb == "retry" {
                    value["run"].clone()
                } else {
                    value.clone()
                };
                let run: RunView = serde_json::from_value(run_value).context("reading the run")?;
                print_value(server.output, &value, || {
                    let mut text = progress_line(&run);
                    if let Some(n) = value["requeued"].as_u64() {
                        let _ = write!(text, "; {n} targets queued again");
                    }
                    format!("run {}: {text}\n", run.id)
                });
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub(crate) fn print_value(output: Output, value: &Value, table: impl FnOnce() -> String) {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
        Output::Table => print!("{}", table()),
    }
}

/// Left-aligned columns, two spaces apart, header first.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let text: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
    out
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn runs_table(runs: &[RunView]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.state.clone(),
                r.playbook.clone(),
                r.priority.clone(),
                format!("{}/{}", r.progress.ended, r.progress.total),
                counts(&r.targets),
                r.started_by.clone(),
                r.created_at.chars().take(19).collect(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "STATE",
            "PLAYBOOK",
            "PRIORITY",
            "ENDED",
            "TARGETS",
            "STARTED BY",
            "CREATED (UTC)",
        ],
        &rows,
    )
}

fn show_run(run: &RunView) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "{name:<13}{value}");
    };
    field("run", &run.id);
    field("state", &run.state);
    if let Some(reason) = &run.pause_reason {
        field("paused", reason);
    }
    field(
        "playbook",
        &format!(
            "{} (sha256 {})",
            run.playbook,
            &run.playbook_sha256[..run.playbook_sha256.len().min(12)]
        ),
    );
    field("tenant", &run.tenant);
    field("priority", &run.priority);
    field(
        "started by",
        &format!("{} ({})", run.started_by, run.trigger),
    );
    field("created", &run.created_at);
    field("expires", &run.expires_at);
    if let Some(finished) = &run.finished_at {
        field("finished", finished);
    }
    field(
        "progress",
        &format!(
            "{}/{} targets ended",
            run.progress.ended, run.progress.total
        ),
    );
    field("targets", &counts(&run.targets));
    out
}

fn outcome_summary(outcomes: &[OutcomeView]) -> String {
    let mut by_step: BTreeMap<(u32, u32, String), BTreeMap<String, u64>> = BTreeMap::new();
    for o in outcomes {
        *by_step
            .entry((o.call_index, o.command_index, o.step_id.clone()))
            .or_default()
            .entry(o.outcome.clone())
            .or_default() += 1;
    }
    let rows: Vec<Vec<String>> = by_step
        .into_iter()
        .map(|((call, command, step), kinds)| {
            vec![step, format!("{call}.{command}"), counts(&kinds)]
        })
        .collect();
    table(&["STEP", "CALL", "OUTCOMES"], &rows)
}

/// One device's commands in full: outcome, exit code, errors, output, collected file.
fn device_detail(target: &TargetView, outcomes: &[&OutcomeView]) -> String {
    let mut out = format!(
        "{} ({})  {}  call {}  attempts {}\n",
        target.device_name.as_deref().unwrap_or("?"),
        target.device_id,
        target.state,
        target.call_index,
        target.attempts
    );
    if let Some(error) = &target.last_error {
        let _ = writeln!(out, "last error: {error}");
    }
    for o in outcomes {
        let _ = write!(
            out,
            "\n{} ({}, call {}.{}): {}",
            o.step_id, o.command_type, o.call_index, o.command_index, o.outcome
        );
        if let Some(code) = o.exit_code {
            let _ = write!(out, ", exit code {code}");
        }
        if let Some(attempt) = o.attempt {
            let _ = write!(out, ", attempt {attempt}");
        }
        out.push('\n');
        for error in &o.errors {
            let _ = writeln!(out, "  error: {error}");
        }
        if let Some(output) = o.output_preview.as_deref().filter(|p| !p.is_empty()) {
            for line in output.lines() {
                let _ = writeln!(out, "  | {line}");
            }
        }
        if let Some(artifact) = &o.artifact {
            let _ = writeln!(
                out,
                "  artifact {}: {} bytes, sha256 {} (fleetlr artifacts get {} {})",
                artifact.path,
                artifact.bytes.unwrap_or(0),
                artifact.sha256.as_deref().unwrap_or("?"),
                artifact.url.split('/').nth(4).unwrap_or("RUN"),
                o.id
            );
        }
    }
    out
}

#[derive(Debug, Subcommand)]
pub enum ArtifactsCommand {
    /// Download a collected file (its outcome id is in `fleetlr runs show RUN --device D`),
    /// checking it against the recorded SHA-256.
    Get {
        run: String,
        outcome: i64,
        /// Where to write it (default: the stored file name, in the current directory).
        #[arg(long, short)]
        output_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn artifacts(command: &ArtifactsCommand) -> anyhow::Result<ExitCode> {
    let ArtifactsCommand::Get {
        run,
        outcome,
        output_file,
        server,
    } = command;
    runtime()?.block_on(async {
        use sha2::Digest as _;
        use tokio::io::AsyncWriteExt as _;
        let api = Api::new(server)?;
        let url = format!("{}/api/v1/runs/{run}/outcomes/{outcome}/artifact", api.base);
        let mut request = api.http.get(&url);
        if let Some(token) = &api.token {
            request = request.bearer_auth(token);
        }
        let mut response = request
            .send()
            .await
            .with_context(|| format!("calling {url}"))?;
        if !response.status().is_success() {
            let status = response.status();
            let value: Value = response.json().await.unwrap_or(Value::Null);
            bail!(
                "{}",
                value["error"]["message"]
                    .as_str()
                    .map_or_else(|| format!("the daemon answered {status}"), str::to_owned)
            );
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let expected = header("x-content-sha256");
        let name = header("content-disposition")
            .and_then(|d| {
                d.split("filename=\"")
                    .nth(1)
                    .map(|n| n.trim_end_matches('"').to_owned())
            })
            .unwrap_or_else(|| format!("artifact-{outcome}"));
        let path = output_file
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from(&name));
        let mut file = tokio::fs::File::create(&path)
            .await
            .with_context(|| format!("creating {}", path.display()))?;
        let mut hasher = sha2::Sha256::new();
        let mut bytes = 0u64;
        while let Some(chunk) = response.chunk().await.context("downloading")? {
            hasher.update(&chunk);
            bytes += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .with_context(|| format!("writing {}", path.display()))?;
        }
        file.flush().await?;
        let actual = format!("{:x}", hasher.finalize());
        if expected.as_deref().is_some_and(|e| e != actual) {
            bail!(
                "{} does not match the recorded SHA-256 (got {actual}); the download is corrupt",
                path.display()
            );
        }
        eprintln!(
            "{}: {bytes} bytes, sha256 {actual} (verified)",
            path.display()
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn targets_table(targets: &[TargetView]) -> String {
    let rows: Vec<Vec<String>> = targets
        .iter()
        .map(|t| {
            vec![
                t.device_name.clone().unwrap_or_else(|| t.device_id.clone()),
                t.state.clone(),
                t.call_index.to_string(),
                t.attempts.to_string(),
                t.last_error
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(80)
                    .collect(),
            ]
        })
        .collect();
    table(
        &["DEVICE", "STATE", "CALL", "ATTEMPTS", "LAST ERROR"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn the_next_page_is_read_from_the_link_header_and_nothing_else_is() {
        assert_eq!(
            next_page("</api/v1/runs/r/targets?limit=2&after=9>; rel=\"next\""),
            Some("/api/v1/runs/r/targets?limit=2&after=9")
        );
        assert_eq!(next_page("</x>; rel=\"prev\""), None);
        assert_eq!(next_page("/x; rel=\"next\""), None);
    }

    #[test]
    fn run_takes_repeated_targets_and_parameters() {
        let cli = Cli::try_parse_from([
            "run",
            "collect-file",
            "--device",
            "a",
            "--device",
            "b",
            "--tag",
            "prod",
            "--param",
            "path=C:\\x=y",
            "--priority",
            "response",
            "--output",
            "json",
        ])
        .expect("parses");
        let body = create_body(&cli.run).expect("body");
        assert_eq!(body.playbook.as_deref(), Some("collect-file"));
        assert_eq!(body.targets.devices, ["a", "b"]);
        assert_eq!(body.parameters["path"], "C:\\x=y");
        assert_eq!(cli.run.server.output, Output::Json);
        assert!(Cli::try_parse_from(["run", "p", "--param", "novalue"]).is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let list = dir.path().join("devices.txt");
        std::fs::write(
            &list,
            "# incident 42
ws-1.corp  # the first

ws-2.corp
",
        )
        .expect("written");
        let list = list.to_str().expect("utf-8 path");
        let cli = Cli::try_parse_from(["run", "p", "--device", "a", "--device-file", list])
            .expect("parses");
        assert_eq!(
            create_body(&cli.run).expect("body").targets.devices,
            ["a", "ws-1.corp", "ws-2.corp"]
        );
        assert!(Cli::try_parse_from(["run", "p", "--priority", "urgent"]).is_err());
    }

    #[test]
    fn run_help_documents_the_exit_codes() {
        use clap::CommandFactory as _;
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:"), "{help}");
        assert!(help.contains("2  with --wait"), "{help}");
    }

    /// A run as the server sends it (`RunView`), fixed so the rendering can be compared whole.
    fn fixed_run() -> RunView {
        serde_json::from_value(serde_json::json!({
            "id": "r-7f3a",
            "tenant": "lab",
            "playbook": "collect-file",
            "playbook_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "started_by": "cli:alice",
            "trigger": "api",
            "priority": "response",
            "state": "paused",
            "pause_reason": "circuit breaker: 2 of 3 ended targets failed",
            "parameters": {"path": "C:\\x"},
            "target_spec": {"devices": ["a", "b", "c"]},
            "max_failure_percent": 50,
            "canary": null,
            "expires_at": "2026-11-24T10:00:00.000Z",
            "created_at": "2026-11-23T10:00:00.000Z",
            "updated_at": "2026-11-23T10:05:00.000Z",
            "finished_at": null,
            "targets": {"failed": 2, "in_flight": 1, "succeeded": 1},
            "progress": {"ended": 3, "total": 4}
        }))
        .expect("the server's shape")
    }

    #[test]
    fn runs_render_from_the_servers_json() {
        let run = fixed_run();
        assert_eq!(
            runs_table(std::slice::from_ref(&run)),
            "\
ID      STATE   PLAYBOOK      PRIORITY  ENDED  TARGETS                             STARTED BY  CREATED (UTC)
r-7f3a  paused  collect-file  response  3/4    failed 2, in_flight 1, succeeded 1  cli:alice   2026-11-23T10:00:00
"
        );
        assert_eq!(
            show_run(&run),
            "\
run          r-7f3a
state        paused
paused       circuit breaker: 2 of 3 ended targets failed
playbook     collect-file (sha256 9f86d081884c)
tenant       lab
priority     response
started by   cli:alice (api)
created      2026-11-23T10:00:00.000Z
expires      2026-11-24T10:00:00.000Z
progress     3/4 targets ended
targets      failed 2, in_flight 1, succeeded 1
"
        );
        assert_eq!(
            progress_line(&run),
            "paused 3/4 ended (failed 2, in_flight 1, succeeded 1) — circuit breaker: 2 of 3 ended targets failed"
        );
    }

    #[test]
    fn targets_and_outcomes_render_from_the_servers_json() {
        let targets: Vec<TargetView> = serde_json::from_value(serde_json::json!([
            {"id": 1, "device_id": "d1", "device_name": "ws-1.corp", "state": "succeeded",
             "call_index": 1, "attempts": 1, "next_attempt_at": null, "last_error": null,
             "offline_count": 0, "updated_at": "t", "finished_at": "t"},
            {"id": 2, "device_id": "d2", "device_name": null, "state": "failed",
             "call_index": 0, "attempts": 2, "next_attempt_at": null,
             "last_error": "the script exited with 3", "offline_count": 1,
             "updated_at": "t", "finished_at": "t"}
        ]))
        .expect("the server's shape");
        assert_eq!(
            targets_table(&targets),
            "\
DEVICE     STATE      CALL  ATTEMPTS  LAST ERROR
ws-1.corp  succeeded  1     1
d2         failed     0     2         the script exited with 3
"
        );
        let outcome = |id: i64, target: i64, step: &str, command: u32, outcome: &str| {
            serde_json::json!({
                "id": id, "target_id": target, "device_id": "d", "machine_action_id": null,
                "attempt": 1, "call_index": 0, "command_index": command, "step_id": step,
                "command_type": "RunScript", "outcome": outcome, "started_at": null,
                "ended_at": null, "errors": [], "exit_code": null, "output_preview": null,
                "artifact": null, "recorded_at": "t"
            })
        };
        let outcomes: Vec<OutcomeView> = serde_json::from_value(serde_json::json!([
            outcome(1, 1, "facts", 0, "completed"),
            outcome(2, 1, "fetch", 1, "completed"),
            outcome(3, 2, "facts", 0, "failed"),
            outcome(4, 2, "fetch", 1, "not_executed"),
        ]))
        .expect("the server's shape");
        assert_eq!(
            outcome_summary(&outcomes),
            "\
STEP   CALL  OUTCOMES
facts  0.0   completed 1, failed 1
fetch  0.1   completed 1, not_executed 1
"
        );
    }

    #[test]
    fn tables_align_their_columns() {
        let text = table(
            &["A", "LONGER"],
            &[
                vec!["wide cell".into(), "x".into()],
                vec!["y".into(), "z".into()],
            ],
        );
        assert_eq!(text, "A          LONGER\nwide cell  x\ny          z\n");
    }
}
