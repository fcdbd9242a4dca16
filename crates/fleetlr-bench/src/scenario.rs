//! Benchmark scenarios: YAML files naming the fleet (a simulator scenario), the playbook, the
//! speed-up and what to measure.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Simulated seconds per wall second, for the simulator and the daemon's limits alike.
    pub speedup: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The simulated tenant, in `fleetlr sim --scenario` form. Every device the run targets
    /// carries the tag `bench`.
    pub sim: String,
    /// The playbook run over the fleet; the scripts it names are put in its library.
    pub playbook: String,
    #[serde(default)]
    pub measure: Measure,
    #[serde(default)]
    pub baselines: Baselines,
    /// Where to keep the simulator's raw record of fleetlr's run (`--record`), for analysis.
    #[serde(skip)]
    pub record_to: Option<std::path::PathBuf>,
}

fn default_seed() -> u64 {
    1
}

/// What the scenario measures besides the fleet run itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Measure {
    /// The run to its end, against the lower bound.
    #[default]
    Makespan,
    /// When the devices online at the start have all ended, against a run over those devices
    /// alone; the run is then cancelled (its offline devices may be away for hours).
    OnlineDevices,
    /// Alerts arrive while the collection runs; each starts a response run on one device not in
    /// the collection. Alert-to-submission latency is measured, then the collection is cancelled.
    Alerts {
        /// Devices (of the fleet's first ones) the collection targets; the rest are alerted.
        collection_devices: usize,
        alerts: usize,
        /// Simulated time between alerts, and before the first.
        every: String,
        /// The response playbook each alert starts.
        playbook: String,
    },
    /// The daemon's own cost: the run is watched for `observe` (simulated), then the daemon is
    /// killed -9 and restarted with everything still queued.
    Overhead { observe: String },
}

/// The reference strategies run on the same fleet.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baselines {
    /// One device at a time, as the seed document's loop does, on this many devices spread
    /// over the fleet; the makespan is projected to the whole fleet.
    #[serde(default)]
    pub sequential_sample: Option<usize>,
    /// Submit everything at once, back off on 429 with Retry-After.
    #[serde(default)]
    pub fire_and_retry: bool,
    /// A baseline that has not ended after this many times fleetlr's makespan is stopped and
    /// reported as unfinished.
    #[serde(default = "default_give_up")]
    pub give_up_after: f64,
}

fn default_give_up() -> f64 {
    3.0
}

/// A shipped scenario by name, or a scenario file by path.
pub fn load(name_or_path: &str) -> anyhow::Result<Scenario> {
    let shipped = Path::new(crate::SCENARIO_DIR).join(format!("{name_or_path}.yaml"));
    let path = if shipped.exists() {
        shipped
    } else {
        Path::new(name_or_path).to_path_buf()
    };
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading scenario {} (shipped ones: fleet-1k, offline-heavy, response-under-load, scale-100k, tiny)",
            path.display()
        )
    })?;
    let scenario: Scenario = fleetlr_playbook::yaml::from_str(&path.display().to_string(), &text)?;
    anyhow::ensure!(
        scenario.speedup >= 1.0,
        "{}: speedup must be at least 1",
        path.display()
    );
    Ok(scenario)
}

/// A simulated period from a scenario (`90s`, `5m`, `2h`).
pub fn period(text: &str) -> anyhow::Result<Duration> {
    fleetlr_playbook::parse_duration(text)
        .with_context(|| format!("`{text}` is not a duration like 90s, 5m or 2h"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_loads() {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(crate::SCENARIO_DIR).expect("scenario dir") {
            let path = entry.expect("entry").path();
            let scenario = load(&path.display().to_string()).expect("scenario loads");
            fleetlr_sim::parse_scenario(&scenario.name, &scenario.sim).expect("its fleet parses");
            if let Measure::Alerts { every, .. } = &scenario.measure {
                period(every).expect("alert period");
            }
            if let Measure::Overhead { observe } = &scenario.measure {
                period(observe).expect("observation period");
            }
            names.push(scenario.name);
        }
        names.sort();
        assert_eq!(
            names,
            [
                "fleet-1k",
                "offline-heavy",
                "response-under-load",
                "scale-100k",
                "tiny"
            ]
        );
    }
}
