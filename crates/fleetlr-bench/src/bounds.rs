//! The lower bound the documented limits put on a run's makespan, from what the simulator
//! recorded: no scheduler, however clever, can finish sooner.
//!
//! - rate: each needed `runliveresponse` call takes one of N per window (10 a minute);
//! - sessions: the time actions spend running, shared by M sessions (25);
//! - per device: a device cannot start before it is online, then runs its calls one by one.
//!
//! A call is *needed* when the device ran at least one of its commands (withdrawn actions of
//! offline devices are the scheduler's own cost, not the fleet's). Durations are the commands'
//! own (start to end), which depend on the device and script only, so they are the same for
//! every strategy.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bounds {
    pub needed_calls: u64,
    pub rate_secs: f64,
    pub sessions_secs: f64,
    pub per_device_secs: f64,
    /// The largest of the three.
    pub lower_bound_secs: f64,
}

/// The limits the bound is computed under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub calls_per_window: u32,
    pub window_secs: f64,
    pub sessions: u32,
    /// A scheduler that keeps a place in the window for a response call within this wait
    /// (fleetlr's `response_call_within`): the last N−1 calls may not all fall within the
    /// window less it. The platform keeps none (`None`).
    pub response_wait_secs: Option<f64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            calls_per_window: 10,
            window_secs: 60.0,
            sessions: 25,
            response_wait_secs: None,
        }
    }
}

/// `stats` is `/_sim/stats` (with devices), `devices` is `/_sim/devices`, `start` when the run
/// was asked for; only the devices in `targets` (ids) count.
pub fn compute(
    stats: &Value,
    devices: &Value,
    start: DateTime<Utc>,
    targets: &std::collections::HashSet<String>,
    limits: Limits,
) -> Bounds {
    let mut needed_calls = 0u64;
    let mut busy_secs = 0.0;
    let mut per_device_secs: f64 = 0.0;
    for device in stats["devices"].as_array().into_iter().flatten() {
        let Some(id) = device["id"].as_str() else {
            continue;
        };
        if !targets.contains(id) {
            continue;
        }
        let mut device_busy = 0.0;
        for action in device["actions"].as_array().into_iter().flatten() {
            let Some(span) = command_span(action) else {
                continue;
            };
            needed_calls += 1;
            busy_secs += span;
            device_busy += span;
        }
        if device_busy > 0.0 {
            let online = online_at(devices, id, start).unwrap_or(start);
            let wait = (online - start).num_milliseconds().max(0) as f64 / 1000.0;
            per_device_secs = per_device_secs.max(wait + device_busy);
        }
    }
    let rate_secs =
        needed_calls as f64 * limits.window_secs / f64::from(limits.calls_per_window.max(1));
    let sessions_secs = busy_secs / f64::from(limits.sessions.max(1));
    Bounds {
        needed_calls,
        rate_secs,
        sessions_secs,
        per_device_secs,
        lower_bound_secs: rate_secs.max(sessions_secs).max(per_device_secs),
    }
}

/// Seconds from the first command's start to the last one's end, if any command started.
pub(crate) fn command_span(action: &Value) -> Option<f64> {
    let times = |key: &'static str| {
        action["commands"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(move |c| c[key].as_str())
            .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
    };
    let first = times("start").min()?;
    let last = times("end").max().unwrap_or(first);
    Some((last - first).num_milliseconds().max(0) as f64 / 1000.0)
}

/// The first moment at or after `start` when the device is outside its offline windows.
pub fn online_at(devices: &Value, id: &str, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let device = devices["devices"]
        .as_array()?
        .iter()
        .find(|d| d["id"].as_str() == Some(id))?;
    let parse = |v: &Value| {
        v.as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let mut at = start;
    let mut windows: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = device["offline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| Some((parse(&w["from"])?, parse(&w["until"]))))
        .collect();
    windows.sort_by_key(|(from, _)| *from);
    for (from, until) in windows {
        if from <= at && until.is_none_or(|until| at < until) {
            at = until?;
        }
    }
    Some(at)
}

/// The `p`th percentile (0–100) by nearest rank; `None` for no values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(minute: u32) -> String {
        format!("2026-01-01T00:{minute:02}:00Z")
    }

    #[test]
    fn the_bound_is_the_largest_of_rate_sessions_and_the_slowest_device() {
        let start = DateTime::parse_from_rfc3339(&at(0))
            .expect("time")
            .with_timezone(&Utc);
        // Two devices: `a` online, two calls of 2 and 3 minutes; `b` offline until minute 10,
        // one call of 1 minute; a withdrawn action of `b` ran nothing and is not needed.
        let stats = json!({"devices": [
            {"id": "a", "actions": [
                {"commands": [{"start": at(1), "end": at(3)}]},
                {"commands": [{"start": at(3), "end": at(4)}, {"start": at(4), "end": at(6)}]},
            ]},
            {"id": "b", "actions": [
                {"commands": [{"start": null, "end": null}]},
                {"commands": [{"start": at(11), "end": at(12)}]},
            ]},
            {"id": "not-a-target", "actions": [{"commands": [{"start": at(1), "end": at(59)}]}]},
        ]});
        let devices = json!({"devices": [
            {"id": "a", "offline": []},
            {"id": "b", "offline": [{"from": at(0), "until": at(5)}, {"from": at(5), "until": at(10)}]},
        ]});
        let targets = ["a", "b"].into_iter().map(String::from).collect();
        let bounds = compute(&stats, &devices, start, &targets, Limits::default());
        assert_eq!(bounds.needed_calls, 3);
        assert_eq!(bounds.rate_secs, 18.0);
        assert_eq!(bounds.sessions_secs, 6.0 * 60.0 / 25.0);
        assert_eq!(
            bounds.per_device_secs,
            11.0 * 60.0,
            "b: online at 10, then 1 minute"
        );
        assert_eq!(bounds.lower_bound_secs, 660.0);
    }

    #[test]
    fn a_device_never_back_has_no_online_time() {
        let start = DateTime::parse_from_rfc3339(&at(0))
            .expect("time")
            .with_timezone(&Utc);
        let devices =
            json!({"devices": [{"id": "gone", "offline": [{"from": at(0), "until": null}]}]});
        assert_eq!(online_at(&devices, "gone", start), None);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
