//! What a scenario measured: JSON (`<out>/benchmarks/<scenario>.json`) and a markdown section;
//! `<out>/benchmarks.md` is rewritten from every JSON there, so running one scenario keeps the
//! others' figures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::bounds::Bounds;
use crate::daemon::Usage;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub command: String,
    pub measured_at: String,
    pub speedup: f64,
    pub devices: usize,
    /// How long the whole scenario took, baselines included (wall-clock seconds).
    #[serde(default)]
    pub wall_secs: Option<f64>,
    pub strategies: Vec<Strategy>,
    /// The targets, each with the measured value and whether it was met.
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

/// One strategy's figures; times are simulated seconds (what they would be against MDE).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Strategy {
    pub name: String,
    pub makespan_secs: Option<f64>,
    /// Ended on every device (a baseline may be stopped at its deadline).
    pub finished: bool,
    /// Measured on a sample and scaled to the whole fleet.
    pub projected_from: Option<usize>,
    pub lower_bound: Option<BoundsFigures>,
    pub efficiency: Option<f64>,
    pub devices_succeeded: Option<usize>,
    pub http_429: u64,
    pub peak_sessions: u64,
    pub live_response_calls: u64,
    pub live_response_calls_per_device_max: u64,
    pub api_calls: BTreeMap<String, u64>,
    pub daemon: Option<Usage>,
    pub sqlite_mib: Option<f64>,
    /// Scenario-specific figures (latencies, restart time, …).
    pub extra: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct BoundsFigures {
    pub needed_calls: u64,
    pub rate_secs: f64,
    pub sessions_secs: f64,
    pub per_device_secs: f64,
    pub lower_bound_secs: f64,
}

impl From<Bounds> for BoundsFigures {
    fn from(b: Bounds) -> Self {
        Self {
            needed_calls: b.needed_calls,
            rate_secs: b.rate_secs,
            sessions_secs: b.sessions_secs,
            per_device_secs: b.per_device_secs,
            lower_bound_secs: b.lower_bound_secs,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

impl Strategy {
    /// Fills the simulator's counters in from `/_sim/stats`.
    pub fn with_sim_stats(mut self, stats: &serde_json::Value) -> Self {
        let counters = &stats["stats"];
        self.http_429 = counters["throttled_429"].as_u64().unwrap_or(0);
        self.peak_sessions = counters["peak_sessions"].as_u64().unwrap_or(0);
        if let Some(endpoints) = counters["endpoints"].as_object() {
            for (name, figures) in endpoints {
                self.api_calls
                    .insert(name.clone(), figures["calls"].as_u64().unwrap_or(0));
            }
        }
        let per_device: Vec<u64> = stats["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| d["actions"].as_array().map_or(0, |a| a.len() as u64))
            .collect();
        // Without the per-device listing, the endpoint's own count.
        self.live_response_calls = if stats["devices"].is_array() {
            per_device.iter().sum()
        } else {
            self.api_calls.get("runliveresponse").copied().unwrap_or(0)
        };
        self.live_response_calls_per_device_max = per_device.iter().copied().max().unwrap_or(0);
        self
    }
}

pub fn wall_time(secs: f64) -> String {
    if secs >= 60.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{secs:.0} s")
    }
}

fn hours(secs: f64) -> String {
    if secs >= 3600.0 {
        format!("{:.2} h", secs / 3600.0)
    } else {
        format!("{:.1} min", secs / 60.0)
    }
}

impl Report {
    pub fn markdown_section(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "## {}\n\n{}\n", self.scenario, self.description);
        let _ = writeln!(
            md,
            "{} devices, {}x speed-up; measured {} with `{}`{}. Times are simulated (as against MDE).\n",
            self.devices,
            self.speedup,
            self.measured_at,
            self.command,
            self.wall_secs.map_or(String::new(), |wall| format!(
                ", which took {} of wall time",
                wall_time(wall)
            ))
        );
        md.push_str("| strategy | makespan | lower bound (rate / sessions / device) | efficiency | 429s | peak sessions | LR calls (max per device) | other API calls | daemon peak RSS | daemon CPU | SQLite |\n");
        md.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
        for s in &self.strategies {
            let makespan = match (s.makespan_secs, s.finished, s.projected_from) {
                (None, ..) => "—".to_owned(),
                (Some(m), true, None) => hours(m),
                (Some(m), true, Some(n)) => format!("{} (projected from {n} devices)", hours(m)),
                (Some(m), false, _) => format!("> {} (stopped, unfinished)", hours(m)),
            };
            let bound = s.lower_bound.map_or("—".to_owned(), |b| {
                format!(
                    "{} ({} / {} / {})",
                    hours(b.lower_bound_secs),
                    hours(b.rate_secs),
                    hours(b.sessions_secs),
                    hours(b.per_device_secs)
                )
            });
            let other: u64 = s
                .api_calls
                .iter()
                .filter(|(name, _)| !name.contains("runliveresponse") && !name.contains("token"))
                .map(|(_, n)| n)
                .sum();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} |",
                s.name,
                makespan,
                bound,
                s.efficiency.map_or("—".to_owned(), |e| format!("{e:.3}")),
                s.http_429,
                s.peak_sessions,
                s.live_response_calls,
                s.live_response_calls_per_device_max,
                other,
                s.daemon
                    .map_or("—".to_owned(), |u| format!("{:.1} MiB", u.peak_rss_mib)),
                s.daemon
                    .map_or("—".to_owned(), |u| format!("{:.1} s", u.cpu_secs)),
                s.sqlite_mib
                    .map_or("—".to_owned(), |m| format!("{m:.1} MiB")),
            );
        }
        let extras: Vec<String> = self
            .strategies
            .iter()
            .flat_map(|s| {
                s.extra
                    .iter()
                    .map(move |(k, v)| format!("- {}: {k} = {v:.3}", s.name))
            })
            .collect();
        if !extras.is_empty() {
            let _ = writeln!(md, "\n{}", extras.join("\n"));
        }
        if !self.checks.is_empty() {
            md.push_str("\n| target | measured | met |\n|---|---|---|\n");
            for c in &self.checks {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} |",
                    c.target,
                    c.measured,
                    if c.met { "yes" } else { "**no**" }
                );
            }
        }
        for note in &self.notes {
            let _ = writeln!(md, "\n{note}");
        }
        md
    }
}

const HEADER: &str = "# Benchmarks\n\nWritten by the benchmark harness (`crates/fleetlr-bench`): each scenario runs the real daemon (release build, real HTTPS, SQLite on disk) against the simulator at a speed-up, and the baselines on a fresh simulator with the same seed. Reproduce a section with the command it names; `cargo run --release -p fleetlr-bench -- --help` lists the scenarios. Figures from one run on a 2-core machine; the daemon, the simulator and the harness share those cores.\n\nThe lower bound is the largest of: needed `runliveresponse` calls at 10 a minute; the time actions run, shared by 25 sessions; and, per device, when it is first online plus its own commands' time. Efficiency is lower bound / makespan.\n";

/// Writes the scenario's JSON and rewrites `benchmarks.md` from every scenario's JSON.
pub fn write(out: &Path, report: &Report) -> anyhow::Result<()> {
    let dir = out.join("benchmarks");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = dir.join(format!("{}.json", report.scenario));
    std::fs::write(&json, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let mut reports: Vec<Report> = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)?;
            reports.push(
                serde_json::from_str(&text)
                    .with_context(|| format!("reading {}", path.display()))?,
            );
        }
    }
    let order = [
        "fleet-1k",
        "offline-heavy",
        "response-under-load",
        "scale-100k",
    ];
    reports.sort_by_key(|r| {
        order
            .iter()
            .position(|o| *o == r.scenario)
            .unwrap_or(order.len())
    });
    let mut md = HEADER.to_owned();
    for r in &reports {
        md.push('\n');
        md.push_str(&r.markdown_section());
    }
    let path = out.join("benchmarks.md");
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {} and {}", json.display(), path.display());
    Ok(())
}
