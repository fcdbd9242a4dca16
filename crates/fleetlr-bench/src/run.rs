//! Running a scenario: fleetlr through the daemon, then the baselines, then the report.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use fleetlr_defender::models::Command;
use serde_json::{Value, json};

use crate::baseline;
use crate::bounds::{self, Limits};
use crate::daemon::{self, Daemon};
use crate::replay;
use crate::report::{Check, Report, Strategy};
use crate::scenario::{Measure, Scenario, period};
use crate::sim::Sim;

/// The playbooks of a scenario, compiled, and the library scripts they need.
struct Plan {
    name: String,
    yaml: String,
    scripts: Vec<String>,
    /// Each call's commands as the API takes them (bench playbooks use no per-device values).
    calls: Vec<Vec<Command>>,
    /// The response playbook of an alerts scenario.
    response: Option<(String, String)>,
}

impl Plan {
    fn new(scenario: &Scenario) -> anyhow::Result<Self> {
        let fleet = fleetlr_sim::parse_scenario(&scenario.name, &scenario.sim)?;
        let scripts: Vec<String> = fleet.scripts.keys().cloned().collect();
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("scripts"))?;
        for script in &scripts {
            std::fs::write(
                dir.path().join("scripts").join(script),
                format!("# {script}\n"),
            )?;
        }
        let catalogue = fleetlr_engine::playbooks::catalogue(dir.path(), 20_000_000)?;
        let compiled = fleetlr_playbook::load(&scenario.name, &scenario.playbook, &catalogue)
            .map_err(|problems| anyhow::anyhow!("{problems}"))?;
        let params = compiled
            .bind_parameters(&BTreeMap::new())
            .map_err(|_| anyhow::anyhow!("bench playbooks take no parameters"))?;
        let context = fleetlr_playbook::TemplateContext {
            run_id: "bench",
            device_id: "bench",
            device_name: "bench",
            params: &params,
            alert: None,
        };
        let calls = fleetlr_playbook::render(&compiled, &context)?
            .iter()
            .map(|call| {
                call.commands
                    .iter()
                    .map(|c| match &c.command {
                        fleetlr_playbook::Command::PutFile { file_name } => {
                            Command::put_file(file_name.clone())
                        }
                        fleetlr_playbook::Command::RunScript { script_name, args } => {
                            Command::run_script(script_name.clone(), args.clone())
                        }
                        fleetlr_playbook::Command::GetFile { path } => {
                            Command::get_file(path.clone())
                        }
                    })
                    .collect()
            })
            .collect();
        let response = match &scenario.measure {
            Measure::Alerts { playbook, .. } => {
                let compiled = fleetlr_playbook::load("response", playbook, &catalogue)
                    .map_err(|problems| anyhow::anyhow!("response playbook: {problems}"))?;
                Some((compiled.playbook.name.to_string(), playbook.clone()))
            }
            _ => None,
        };
        Ok(Self {
            name: compiled.playbook.name.to_string(),
            yaml: scenario.playbook.clone(),
            scripts,
            calls,
            response,
        })
    }

    /// An alert webhook and a rule starting the response playbook, for alerts scenarios.
    fn hook_config(&self) -> String {
        match &self.response {
            Some((name, _)) => format!(
                "hooks:\n  - name: bench\n    format: generic\n    credential: {{bearer: ${{FLEETLR_BENCH_HOOK_SECRET}}}}\n    alert_id: /id\n    device_id: /device\nrules:\n  - name: respond\n    hooks: [bench]\n    playbook: {name}\n"
            ),
            None => String::new(),
        }
    }

    fn playbooks(&self) -> Vec<(&str, &str)> {
        let mut all = vec![(self.name.as_str(), self.yaml.as_str())];
        if let Some((name, yaml)) = &self.response {
            all.push((name.as_str(), yaml.as_str()));
        }
        all
    }
}

/// A daemon driving one fresh simulator.
struct Setup {
    sim: Sim,
    daemon: Daemon,
    /// Where the raw record goes, and the scenario's name.
    record_to: Option<(PathBuf, String)>,
    _root: tempfile::TempDir,
}

impl Setup {
    async fn start(scenario: &Scenario, plan: &Plan, exe: &Path) -> anyhow::Result<Self> {
        let sim = Sim::start(scenario).await?;
        let root = tempfile::tempdir()?;
        let config = daemon::prepare(
            root.path(),
            &sim,
            &plan.playbooks(),
            &plan.scripts,
            &plan.hook_config(),
        )?;
        let daemon = Daemon::start(exe, &config, sim.handle.client_secret()).await?;
        Ok(Self {
            sim,
            daemon,
            record_to: scenario
                .record_to
                .clone()
                .map(|dir| (dir, scenario.name.clone())),
            _root: root,
        })
    }

    /// Starts a run of `playbook` on `targets`; returns its id and when it was asked for.
    async fn start_run(
        &self,
        playbook: &str,
        targets: Value,
        priority: &str,
    ) -> anyhow::Result<(String, Instant)> {
        let asked = Instant::now();
        let run = self
            .daemon
            .post(
                "/api/v1/runs",
                &json!({"playbook": playbook, "targets": targets, "priority": priority, "started_by": "bench"}),
            )
            .await?;
        let id = run["id"].as_str().context("run id")?.to_owned();
        Ok((id, asked))
    }

    /// The fleetlr figures of a run that ended: makespan from `asked` to the run's end.
    async fn figures(
        &self,
        run: &Value,
        asked: Instant,
        asked_sim: DateTime<Utc>,
        targets: &HashSet<String>,
    ) -> anyhow::Result<Strategy> {
        let ended_wall = run["finished_at"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .context("an ended run has finished_at")?;
        let created_wall = run["created_at"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .context("a run has created_at")?;
        // The POST took resolution and library sync; count from when it was sent.
        let asked_to_created = asked.elapsed().as_secs_f64()
            - (Utc::now() - created_wall.with_timezone(&Utc)).num_milliseconds() as f64 / 1000.0;
        let wall = (ended_wall - created_wall).num_milliseconds() as f64 / 1000.0
            + asked_to_created.max(0.0);
        let stats = self.sim.stats(true).await?;
        let devices = self.sim.devices().await?;
        if let Some((dir, scenario)) = &self.record_to {
            // Two runs of one scenario (offline-heavy) are told apart by their target count.
            let prefix = format!("{scenario}-{}", targets.len());
            record(dir, &prefix, &stats, &devices)?;
        }
        let bound = bounds::compute(&stats, &devices, asked_sim, targets, Limits::default());
        let replay =
            replay::greedy_makespan(&stats, &devices, asked_sim, targets, Limits::default());
        let makespan = wall * self.sim.speedup;
        let mut strategy = Strategy {
            name: "fleetlr".into(),
            makespan_secs: Some(makespan),
            finished: true,
            lower_bound: Some(bound.into()),
            efficiency: Some(bound.lower_bound_secs / makespan.max(f64::EPSILON)),
            daemon: Some(self.daemon.usage()),
            sqlite_mib: Some(self.daemon.database_bytes() as f64 / 1_048_576.0),
            ..Strategy::default()
        }
        .with_sim_stats(&stats);
        if let Some(replay) = replay {
            strategy
                .extra
                .insert(GREEDY_REPLAY_HOURS.to_owned(), replay / 3600.0);
        }
        let own = replay::greedy_makespan(&stats, &devices, asked_sim, targets, own_limits());
        if let Some(replay) = own {
            strategy
                .extra
                .insert(GREEDY_REPLAY_OWN_LIMITS_HOURS.to_owned(), replay / 3600.0);
        }
        Ok(strategy)
    }
}

/// The omniscient greedy replay's makespan (see `replay`), among a strategy's extra figures.
const GREEDY_REPLAY_HOURS: &str = "omniscient_greedy_replay_h";
/// The same replay within the limits fleetlr keeps to by default for a collection.
const GREEDY_REPLAY_OWN_LIMITS_HOURS: &str = "omniscient_greedy_replay_within_fleetlr_limits_h";

/// What fleetlr's default limits leave a collection of the platform's: the sessions less those
/// kept for the portal and reserved for response runs, and the window widened by the pacing
/// margin.
fn own_limits() -> Limits {
    let own = fleetlr_engine::Limits::default();
    let platform = Limits::default();
    Limits {
        calls_per_window: own.live_response_calls.get(),
        window_secs: own.live_response_window.as_secs_f64() * (1.0 + own.pacing_margin),
        response_wait_secs: Some(own.response_call_within.as_secs_f64()),
        sessions: own
            .max_sessions
            .saturating_sub(own.sessions_kept_for_portal)
            .saturating_sub(own.sessions_reserved_for_response)
            .max(1)
            .min(platform.sessions),
    }
}

/// Writes the simulator's raw record of a run for analysis.
fn record(dir: &Path, prefix: &str, stats: &Value, devices: &Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (what, value) in [("stats", stats), ("devices", devices)] {
        let path = dir.join(format!("{prefix}-{what}.json"));
        std::fs::write(&path, serde_json::to_vec(value)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("raw record: {}", path.display());
    }
    Ok(())
}

/// The ids of the devices tagged `bench`, in the simulator's order.
async fn bench_devices(sim: &Sim) -> anyhow::Result<Vec<String>> {
    let devices = sim.devices().await?;
    Ok(devices["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| {
            d["tags"]
                .as_array()
                .is_some_and(|tags| tags.iter().any(|t| t == "bench"))
        })
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect())
}

/// Runs one scenario, fleetlr first, then the baselines it names.
pub async fn run_scenario(scenario: &Scenario, exe: &Path) -> anyhow::Result<Report> {
    let started = Instant::now();
    let plan = Plan::new(scenario)?;
    let mut report = Report {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        command: format!("cargo run --release -p fleetlr-bench -- {}", scenario.name),
        measured_at: Utc::now().format("%Y-%m-%d").to_string(),
        speedup: scenario.speedup,
        devices: 0,
        wall_secs: None,
        strategies: Vec::new(),
        checks: Vec::new(),
        notes: Vec::new(),
    };
    match &scenario.measure {
        Measure::Makespan => makespan(scenario, &plan, exe, &mut report).await?,
        Measure::OnlineDevices => online_devices(scenario, &plan, exe, &mut report).await?,
        Measure::Alerts {
            collection_devices,
            alerts,
            every,
            ..
        } => {
            let every = period(every)?;
            alerts_under_load(
                scenario,
                &plan,
                exe,
                (*collection_devices, *alerts, every),
                &mut report,
            )
            .await?;
        }
        Measure::Overhead { observe } => {
            overhead(scenario, &plan, exe, period(observe)?, &mut report).await?;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    report.wall_secs = Some(wall);
    report.checks.push(Check {
        target: "the scenario runs in under 10 minutes".into(),
        measured: crate::report::wall_time(wall),
        met: wall < 600.0,
    });
    Ok(report)
}

fn deadline_for(scenario: &Scenario, fleetlr_secs: f64) -> Instant {
    let simulated = fleetlr_secs * scenario.baselines.give_up_after;
    Instant::now() + Duration::from_secs_f64(simulated / scenario.speedup)
}

async fn makespan(
    scenario: &Scenario,
    plan: &Plan,
    exe: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let setup = Setup::start(scenario, plan, exe).await?;
    let devices = bench_devices(&setup.sim).await?;
    report.devices = devices.len();
    let targets: HashSet<String> = devices.iter().cloned().collect();
    let clock = setup.sim.clock().await?;
    let (id, asked) = setup
        .start_run(&plan.name, json!({"tags": ["bench"]}), "collection")
        .await?;
    let run = setup
        .daemon
        .wait_for_run(&id, Duration::from_secs(3600))
        .await?;
    let fleetlr = setup
        .figures(&run, asked, clock.sim_at(asked), &targets)
        .await?;
    drop(setup);
    let fleetlr_secs = fleetlr.makespan_secs.unwrap_or(0.0);
    let efficiency = fleetlr.efficiency.unwrap_or(0.0);
    report.checks.push(Check {
        target: "efficiency ≥ 0.95 of the lower bound".into(),
        measured: format!("{efficiency:.3}"),
        met: efficiency >= 0.95,
    });
    report.checks.push(Check {
        target: "zero 429s".into(),
        measured: fleetlr.http_429.to_string(),
        met: fleetlr.http_429 == 0,
    });
    if let Some(replay) = fleetlr.extra.get(GREEDY_REPLAY_HOURS) {
        let bound = fleetlr.lower_bound.map_or(0.0, |b| b.lower_bound_secs);
        report.notes.push(format!(
            "An omniscient greedy scheduler replayed on this run's record (it knows when each device is online, reacts instantly, never probes an offline device, keeps all 25 sessions and 10 calls a minute busy whenever a device is ready) needs {replay:.2} h: efficiency {:.3} against the bound, because a free session often waits for the window and a free call for a session when both limits bind at once. fleetlr reached {:.3} of that replay.",
            bound / 3600.0 / replay.max(f64::EPSILON),
            replay * 3600.0 / fleetlr_secs.max(f64::EPSILON),
        ));
        if let Some(own) = fleetlr.extra.get(GREEDY_REPLAY_OWN_LIMITS_HOURS) {
            report.notes.push(format!(
                "Within the limits fleetlr keeps to by default ({} of the {} sessions for a collection, the rest reserved for response runs; the window counted as {:.1} s, and a place kept in it for a response call within {:.0} s) the same replay needs {own:.2} h: efficiency {:.3} against the bound. fleetlr reached {:.3} of that replay; the rest is its reaction time (polling, result capture) and the calls spent finding out which devices are offline.",
                own_limits().sessions,
                Limits::default().sessions,
                own_limits().window_secs,
                own_limits().response_wait_secs.unwrap_or_default(),
                bound / 3600.0 / own.max(f64::EPSILON),
                own * 3600.0 / fleetlr_secs.max(f64::EPSILON),
            ));
        }
    }
    let fleetlr_429 = fleetlr.http_429;
    report.strategies.push(fleetlr);
    // The baselines drive their own simulators and nothing of fleetlr's: run side by side.
    let deadline = deadline_for(scenario, fleetlr_secs);
    let fire_and_retry = async {
        if !scenario.baselines.fire_and_retry {
            return Ok(None);
        }
        let sim = Sim::start(scenario).await?;
        baseline::upload_scripts(&sim, &plan.scripts).await?;
        let ended = baseline::fire_and_retry(&sim, &devices, &plan.calls, deadline).await?;
        let strategy = baseline_figures("fire-and-retry", &sim, &ended, None).await?;
        anyhow::Ok(Some((strategy, ended.finished)))
    };
    let sequential = async {
        let Some(sample) = scenario.baselines.sequential_sample else {
            return Ok(None);
        };
        let sim = Sim::start(scenario).await?;
        baseline::upload_scripts(&sim, &plan.scripts).await?;
        let step = (devices.len() / sample.max(1)).max(1);
        let picked: Vec<String> = devices.iter().step_by(step).take(sample).cloned().collect();
        let ended = baseline::sequential(&sim, &picked, &plan.calls, deadline).await?;
        let mut strategy = baseline_figures("sequential", &sim, &ended, Some(picked.len())).await?;
        strategy.makespan_secs =
            Some(ended.makespan_secs * devices.len() as f64 / picked.len().max(1) as f64);
        anyhow::Ok(Some(strategy))
    };
    let (fire_and_retry, sequential) = tokio::try_join!(fire_and_retry, sequential)?;
    if let Some((strategy, finished)) = fire_and_retry {
        let faster = !finished || strategy.makespan_secs.unwrap_or(0.0) > fleetlr_secs;
        report.checks.push(Check {
            target: "faster than fire-and-retry, with none of its 429s".into(),
            measured: format!(
                "fire-and-retry {} ({} 429s) vs fleetlr {:.1} min ({} 429s)",
                strategy
                    .makespan_secs
                    .map_or("—".into(), |m| format!("{:.1} min", m / 60.0)),
                strategy.http_429,
                fleetlr_secs / 60.0,
                fleetlr_429
            ),
            met: faster && fleetlr_429 == 0,
        });
        report.strategies.push(strategy);
    }
    if let Some(strategy) = sequential {
        let ratio = strategy.makespan_secs.unwrap_or(0.0) / fleetlr_secs.max(f64::EPSILON);
        report.checks.push(Check {
            target: "at least 10x faster than sequential".into(),
            measured: format!("{ratio:.1}x"),
            met: ratio >= 10.0,
        });
        report.strategies.push(strategy);
    }
    Ok(())
}

async fn baseline_figures(
    name: &str,
    sim: &Sim,
    ended: &baseline::Ended,
    sample: Option<usize>,
) -> anyhow::Result<Strategy> {
    let stats = sim.stats(true).await?;
    Ok(Strategy {
        name: name.into(),
        makespan_secs: Some(ended.makespan_secs),
        finished: ended.finished,
        projected_from: sample,
        devices_succeeded: Some(ended.devices_succeeded),
        extra: BTreeMap::from([("devices_ended".to_owned(), ended.devices_done as f64)]),
        ..Strategy::default()
    }
    .with_sim_stats(&stats))
}

/// The moment the last of `devices` ended, in simulated seconds after `asked`, read from the
/// daemon's targets.
async fn last_end(
    daemon: &Daemon,
    run: &str,
    devices: &HashSet<String>,
    asked_wall: DateTime<Utc>,
    speedup: f64,
) -> anyhow::Result<Option<f64>> {
    let targets = daemon
        .get_all(&format!("/api/v1/runs/{run}/targets"))
        .await?;
    let mut last: Option<f64> = Some(0.0);
    for target in &targets {
        if !target["device_id"]
            .as_str()
            .is_some_and(|d| devices.contains(d))
        {
            continue;
        }
        match target["finished_at"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            Some(at) => {
                let secs = (at.with_timezone(&Utc) - asked_wall).num_milliseconds() as f64 / 1000.0;
                last = last.map(|l| l.max(secs * speedup));
            }
            None => last = None,
        }
    }
    Ok(last)
}

async fn online_devices(
    scenario: &Scenario,
    plan: &Plan,
    exe: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    // The whole fleet: online devices are judged by when the last of them ended.
    let setup = Setup::start(scenario, plan, exe).await?;
    let devices = bench_devices(&setup.sim).await?;
    report.devices = devices.len();
    let clock = setup.sim.clock().await?;
    let listing = setup.sim.devices().await?;
    let now = clock.sim_at(Instant::now());
    let online: HashSet<String> = devices
        .iter()
        .filter(|d| bounds::online_at(&listing, d, now) == Some(now))
        .cloned()
        .collect();
    let asked_wall = Utc::now();
    let (id, _) = setup
        .start_run(&plan.name, json!({"tags": ["bench"]}), "collection")
        .await?;
    let full = wait_for(Duration::from_secs(1800), || {
        last_end(&setup.daemon, &id, &online, asked_wall, scenario.speedup)
    })
    .await?;
    let stats = setup.sim.stats(true).await?;
    let mut strategy = Strategy {
        name: "fleetlr, whole fleet".into(),
        makespan_secs: Some(full),
        finished: true,
        daemon: Some(setup.daemon.usage()),
        sqlite_mib: Some(setup.daemon.database_bytes() as f64 / 1_048_576.0),
        ..Strategy::default()
    }
    .with_sim_stats(&stats);
    strategy
        .extra
        .insert("online_devices".into(), online.len() as f64);
    setup
        .daemon
        .post(&format!("/api/v1/runs/{id}/cancel"), &json!({}))
        .await?;
    drop(setup);
    report.strategies.push(strategy);

    // The same online devices alone.
    let setup = Setup::start(scenario, plan, exe).await?;
    let ids: Vec<&String> = online.iter().collect();
    let clock = setup.sim.clock().await?;
    let (id, asked) = setup
        .start_run(&plan.name, json!({"devices": ids}), "collection")
        .await?;
    let run = setup
        .daemon
        .wait_for_run(&id, Duration::from_secs(1800))
        .await?;
    let mut alone = setup
        .figures(&run, asked, clock.sim_at(asked), &online)
        .await?;
    alone.name = "fleetlr, online devices alone".into();
    let alone_secs = alone.makespan_secs.unwrap_or(f64::MAX);
    // No API says a device is offline before something is sent to it (`lastSeen` is a daily
    // report, `healthStatus` turns Inactive after 7 days), so every device offline at the start
    // costs at least one call: the rate bound of the online devices' calls plus those.
    let offline = devices.len().saturating_sub(online.len());
    let probe_bound_secs = alone.lower_bound.map(|bound| {
        let limits = Limits::default();
        (bound.needed_calls + offline as u64) as f64 * limits.window_secs
            / f64::from(limits.calls_per_window)
    });
    if let Some(secs) = probe_bound_secs {
        report.notes.push(format!(
            "No API tells a device offline for hours from an online one before a call is sent to it (`lastSeen` is a daily report; `healthStatus` turns Inactive after 7 days), so each of the {offline} devices offline at the start costs at least one `runliveresponse` call. Sent in an order that cannot tell them apart, nearly all of those calls come before the last online device's first one, so at 10 calls a minute the online devices' {} calls plus {offline} put the online half's end, in expectation over the order, at {:.1} min at the earliest: already {:+.1}% over the {:.1} min they took alone. The +5% target is out of reach for any scheduler without a sign of which devices are online.",
            alone.lower_bound.map_or(0, |b| b.needed_calls),
            secs / 60.0,
            (secs / alone_secs - 1.0) * 100.0,
            alone_secs / 60.0,
        ));
    }
    report.strategies.push(alone);
    report.checks.push(Check {
        target: "online devices finish no later than without the offline ones (+5%)".into(),
        measured: format!(
            "{:.1} min with the offline half vs {:.1} min alone ({:+.1}%)",
            full / 60.0,
            alone_secs / 60.0,
            (full / alone_secs - 1.0) * 100.0
        ),
        met: full <= alone_secs * 1.05,
    });
    if scenario.baselines.fire_and_retry {
        let sim = Sim::start(scenario).await?;
        baseline::upload_scripts(&sim, &plan.scripts).await?;
        let ended =
            baseline::fire_and_retry(&sim, &devices, &plan.calls, deadline_for(scenario, full))
                .await?;
        report
            .strategies
            .push(baseline_figures("fire-and-retry, whole fleet", &sim, &ended, None).await?);
        report.notes.push(format!(
            "fire-and-retry is stopped at {}x fleetlr's time for the online devices; devices it ended by then are under `devices_ended`.",
            scenario.baselines.give_up_after
        ));
    }
    Ok(())
}

async fn wait_for<F, Fut>(timeout: Duration, mut check: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<f64>>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if started.elapsed() > timeout {
            bail!("the condition did not hold within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn alerts_under_load(
    scenario: &Scenario,
    plan: &Plan,
    exe: &Path,
    (collection_devices, alerts, every): (usize, usize, Duration),
    report: &mut Report,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        plan.response.is_some(),
        "an alerts scenario names its response playbook"
    );
    let setup = Setup::start(scenario, plan, exe).await?;
    let devices = bench_devices(&setup.sim).await?;
    anyhow::ensure!(
        devices.len() >= collection_devices + alerts,
        "the fleet needs {collection_devices} devices for the collection and {alerts} to alert on"
    );
    report.devices = devices.len();
    let (collected, alerted) = devices.split_at(collection_devices);
    let clock = setup.sim.clock().await?;
    let (collection, _) = setup
        .start_run(&plan.name, json!({"devices": collected}), "collection")
        .await?;
    let mut sent: Vec<(String, DateTime<Utc>)> = Vec::new();
    for (n, device) in alerted.iter().take(alerts).enumerate() {
        tokio::time::sleep(setup.sim.wall(every)).await;
        let at = Instant::now();
        let answer = setup
            .daemon
            .deliver(
                "bench",
                &json!({"id": format!("alert-{n}"), "device": device}),
            )
            .await?;
        anyhow::ensure!(
            answer["runs"]
                .as_array()
                .is_some_and(|runs| runs.len() == 1),
            "the alert started one run: {answer}"
        );
        sent.push((device.clone(), clock.sim_at(at)));
    }
    // Wait until every alerted device has its action at the simulator.
    wait_for(Duration::from_secs(600), || async {
        let stats = setup.sim.stats(true).await?;
        let with_actions: HashSet<&str> = stats["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["id"].as_str())
            .collect();
        let all = sent.iter().all(|(d, _)| with_actions.contains(d.as_str()));
        Ok(all.then_some(0.0))
    })
    .await?;
    let stats = setup.sim.stats(true).await?;
    let latency: Vec<f64> = sent
        .iter()
        .filter_map(|(device, at)| {
            let d = stats["devices"]
                .as_array()?
                .iter()
                .find(|d| d["id"].as_str() == Some(device))?;
            let created = DateTime::parse_from_rfc3339(d["actions"][0]["created"].as_str()?)
                .ok()?
                .with_timezone(&Utc);
            Some((created - *at).num_milliseconds() as f64 / 1000.0)
        })
        .collect();
    // How hard the collection pressed on the call budget while the alerts came.
    let (first, last) = (sent.first().map(|s| s.1), sent.last().map(|s| s.1));
    let collected: HashSet<&str> = collected.iter().map(String::as_str).collect();
    let collection_calls = stats["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["id"].as_str().is_some_and(|id| collected.contains(id)))
        .flat_map(|d| d["actions"].as_array().into_iter().flatten())
        .filter_map(|a| DateTime::parse_from_rfc3339(a["created"].as_str()?).ok())
        .filter(|at| first.is_some_and(|f| *at >= f) && last.is_some_and(|l| *at <= l))
        .count();
    let span_min = match (first, last) {
        (Some(f), Some(l)) => (l - f).num_milliseconds() as f64 / 60_000.0,
        _ => f64::NAN,
    };
    let p50 = bounds::percentile(&latency, 50.0).unwrap_or(f64::NAN);
    let p99 = bounds::percentile(&latency, 99.0).unwrap_or(f64::NAN);
    let mut strategy = Strategy {
        name: "fleetlr".into(),
        finished: true,
        daemon: Some(setup.daemon.usage()),
        sqlite_mib: Some(setup.daemon.database_bytes() as f64 / 1_048_576.0),
        ..Strategy::default()
    }
    .with_sim_stats(&stats);
    strategy.extra.extend([
        ("alert_to_submission_p50_secs".to_owned(), p50),
        ("alert_to_submission_p99_secs".to_owned(), p99),
        ("alerts".to_owned(), latency.len() as f64),
        (
            "collection_calls_per_minute_while_alerting".to_owned(),
            collection_calls as f64 / span_min,
        ),
        (
            "collection_sessions_peak".to_owned(),
            strategy.peak_sessions as f64,
        ),
    ]);
    report.checks.push(Check {
        target: "p99 alert-to-submission ≤ one rate interval (6 s) while the collection keeps the call window full".into(),
        measured: format!("p50 {p50:.1} s, p99 {p99:.1} s over {} alerts", latency.len()),
        met: p99 <= 6.0,
    });
    report.strategies.push(strategy);
    setup
        .daemon
        .post(&format!("/api/v1/runs/{collection}/cancel"), &json!({}))
        .await?;
    report.notes.push(format!(
        "Alerts are delivered to an alert webhook (`POST /hooks/bench`, a generic hook with a rule starting the response playbook), one every {} simulated, each on a device outside the collection; latency is from the delivery to the action's creation at the simulator.",
        fleetlr_playbook::format_duration(every)
    ));
    Ok(())
}

/// How often the console's run page refreshes its live region (its script's interval).
const CONSOLE_REFRESH: Duration = Duration::from_secs(2);

/// Refreshes a run's console page the way an operator's open browser tab does, for `window` of
/// wall time; answers how long each refresh took, in seconds.
async fn watch_console(daemon: &Daemon, run: &str, window: Duration) -> anyhow::Result<Vec<f64>> {
    let end = Instant::now() + window;
    let mut took = Vec::new();
    while Instant::now() < end {
        let refresh = daemon
            .console_page(&format!("/ui/runs/{run}?part=live"))
            .await?;
        took.push(refresh.as_secs_f64());
        tokio::time::sleep(CONSOLE_REFRESH.min(end.saturating_duration_since(Instant::now())))
            .await;
    }
    Ok(took)
}

async fn overhead(
    scenario: &Scenario,
    plan: &Plan,
    exe: &Path,
    observe: Duration,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut setup = Setup::start(scenario, plan, exe).await?;
    let devices = bench_devices(&setup.sim).await?;
    report.devices = devices.len();
    let before = setup.daemon.usage();
    let asked = Instant::now();
    let (id, _) = setup
        .start_run(&plan.name, json!({"tags": ["bench"]}), "collection")
        .await?;
    let created_after = asked.elapsed();
    let watched = Instant::now();
    let refreshes = watch_console(&setup.daemon, &id, setup.sim.wall(observe)).await?;
    let listing = Instant::now();
    setup
        .daemon
        .get(&format!("/api/v1/runs/{id}/targets"))
        .await?;
    let listed_after = listing.elapsed();
    let usage = setup.daemon.usage();
    let watched_secs = watched.elapsed().as_secs_f64() * scenario.speedup;
    let run = setup.daemon.get(&format!("/api/v1/runs/{id}")).await?;
    let ended = run["progress"]["ended"].as_u64().unwrap_or(0);
    let stats = setup.sim.stats(false).await?;
    // CPU over the watched window, as a share of one core at real speed: the daemon did
    // `watched_secs` of tenant time's work in this many CPU seconds.
    let cpu_share = (usage.cpu_secs - before.cpu_secs) / watched_secs * 100.0;
    setup.daemon.kill_9()?;
    let config: PathBuf = setup.daemon.config().to_path_buf();
    let queued = devices.len() as u64 - ended;
    let restarting = Instant::now();
    let restarted = Daemon::start(exe, &config, setup.sim.handle.client_secret()).await?;
    let ready = restarting.elapsed().as_secs_f64();
    // Then the operator cancels the run: every queued target ends with its commands recorded
    // as cancelled, while the daemon goes on serving its other runs.
    let cancelling = Instant::now();
    restarted
        .post(&format!("/api/v1/runs/{id}/cancel"), &json!({}))
        .await?;
    // An alert's response run arrives meanwhile, on a device of the run being ended.
    let alerted = devices.last().context("no devices")?;
    let responding = Instant::now();
    let response = restarted
        .post(
            "/api/v1/runs",
            &json!({"playbook": plan.name, "targets": {"devices": [alerted]}, "priority": "response", "started_by": "bench"}),
        )
        .await?;
    let response = response["id"].as_str().context("run id")?.to_owned();
    wait_for(Duration::from_secs(600), || async {
        let run = restarted.get(&format!("/api/v1/runs/{response}")).await?;
        let queued = run["targets"]["pending"].as_u64().unwrap_or(0);
        Ok((queued == 0).then_some(0.0))
    })
    .await?;
    let response_sent_after = responding.elapsed().as_secs_f64();
    wait_for(Duration::from_secs(600), || async {
        let run = restarted.get(&format!("/api/v1/runs/{id}")).await?;
        Ok((run["state"] == "cancelled").then_some(0.0))
    })
    .await?;
    let cancelled_after = cancelling.elapsed().as_secs_f64();
    drop(restarted);
    let mut strategy = Strategy {
        name: "fleetlr".into(),
        finished: false,
        daemon: Some(usage),
        sqlite_mib: Some(setup.daemon.database_bytes() as f64 / 1_048_576.0),
        ..Strategy::default()
    }
    .with_sim_stats(&stats);
    strategy.extra.extend([
        (
            "run_creation_secs_wall".to_owned(),
            created_after.as_secs_f64(),
        ),
        ("targets_ended_in_window".to_owned(), ended as f64),
        (
            "cpu_percent_of_one_core_at_real_speed".to_owned(),
            cpu_share,
        ),
        ("restart_to_ready_secs_wall".to_owned(), ready),
        ("targets_queued_at_restart".to_owned(), queued as f64),
        ("cancel_to_cancelled_secs_wall".to_owned(), cancelled_after),
        (
            "response_submitted_while_cancelling_secs_wall".to_owned(),
            response_sent_after,
        ),
        ("rss_anon_mib_at_end".to_owned(), usage.anon_mib),
        (
            "console_refresh_p50_secs_wall".to_owned(),
            bounds::percentile(&refreshes, 50.0).unwrap_or(f64::NAN),
        ),
        (
            "console_refresh_max_secs_wall".to_owned(),
            bounds::percentile(&refreshes, 100.0).unwrap_or(f64::NAN),
        ),
        (
            "targets_listing_secs_wall".to_owned(),
            listed_after.as_secs_f64(),
        ),
        ("rss_file_mib_at_end".to_owned(), usage.file_mib),
    ]);
    report.notes.push(format!(
        "At the end of the window the daemon held {:.1} MiB of its own memory and {:.1} MiB of pages mapped from files (its program's code: the harness binary, which also holds the simulator). The peak comes while the run is created (100,000 devices read and stored), and glibc's allocator keeps most of what that freed, so the figure moves by several MiB from run to run, more when the page cache already holds more of the binary.",
        usage.anon_mib, usage.file_mib
    ));
    report.checks.extend([
        Check {
            target: "daemon peak RSS ≤ 100 MiB".into(),
            measured: format!("{:.1} MiB", usage.peak_rss_mib),
            met: usage.peak_rss_mib <= 100.0,
        },
        Check {
            target: "CPU ≤ 2% of one core on average (at real speed)".into(),
            measured: format!("{cpu_share:.3}%"),
            met: cpu_share <= 2.0,
        },
        Check {
            target: "restart with the targets queued ready in ≤ 2 s".into(),
            measured: format!("{ready:.2} s with {queued} targets queued"),
            met: ready <= 2.0,
        },
    ]);
    report.notes.push(format!(
        "An operator watches the run in the console the whole window: its live region is fetched as the page's script does, every {} s of wall time ({} refreshes); then the first page of the run's targets is read through the API, as `fleetlr runs show` starts to. Both are inside the peak RSS above.",
        CONSOLE_REFRESH.as_secs(),
        refreshes.len()
    ));
    report.notes.push(format!(
        "The run is watched for {} of tenant time ({:.0} s of wall time), then the daemon is killed -9 and started again on the same database; \"ready\" is the process start to `/readyz` answering 200 (it includes the process start and the store's integrity check). CPU is the daemon's user+system time over the window divided by the tenant time it covered, i.e. its load at real speed. Last, the restarted daemon is asked to cancel the run: `cancel_to_cancelled_secs_wall` is how long until every queued target had ended with its commands recorded as cancelled, and `response_submitted_while_cancelling_secs_wall` how long a response run started just after the cancel waited to be submitted (its device is one of the run's). The SQLite size is read after the cancel, with every command of the cancelled devices recorded.",
        fleetlr_playbook::format_duration(observe),
        setup.sim.wall(observe).as_secs_f64()
    ));
    report.strategies.push(strategy);
    Ok(())
}
