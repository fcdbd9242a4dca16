//! An omniscient greedy scheduler replayed on a recorded fleet: how close dispatching alone
//! can come to the lower bound when the rate and the sessions bind at once.
//!
//! It knows when every device is online, reacts instantly, never wastes a call on an offline
//! device, and keeps every session and every call of the window busy whenever a device is
//! ready: next calls first, then devices in a fixed order (within fleetlr's own limits it also
//! keeps fleetlr's place for a response call). It still waits, because a free
//! session may find the window full and a free call may find every session taken; that wait
//! is what separates the bound (the largest of three separate limits) from any schedule. It is
//! a yardstick, not an optimum: a cleverer order could do a little better.

use std::collections::{BTreeMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::bounds::{Limits, command_span, online_at};

struct Device {
    /// Each needed call's running time, in order.
    calls: Vec<f64>,
    next: usize,
    /// Seconds from the start until the device can take its next call: first when it comes
    /// online, then when its previous call ends.
    free_at: f64,
    running: bool,
}

/// The makespan (seconds) of the replay over the `targets` the simulator recorded in `stats`,
/// or `None` when no target ran anything.
pub fn greedy_makespan(
    stats: &Value,
    devices: &Value,
    start: DateTime<Utc>,
    targets: &HashSet<String>,
    limits: Limits,
) -> Option<f64> {
    let mut fleet: BTreeMap<&str, Device> = BTreeMap::new();
    for device in stats["devices"].as_array().into_iter().flatten() {
        let Some(id) = device["id"].as_str().filter(|id| targets.contains(*id)) else {
            continue;
        };
        let calls: Vec<f64> = device["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(command_span)
            .collect();
        if calls.is_empty() {
            continue;
        }
        let online = online_at(devices, id, start).unwrap_or(start);
        let online = (online - start).num_milliseconds().max(0) as f64 / 1000.0;
        fleet.insert(
            id,
            Device {
                calls,
                next: 0,
                free_at: online,
                running: false,
            },
        );
    }
    let mut fleet: Vec<Device> = fleet.into_values().collect();
    let mut remaining: usize = fleet.iter().map(|d| d.calls.len()).sum();
    if remaining == 0 {
        return None;
    }
    let window = limits.window_secs;
    let per_window = limits.calls_per_window.max(1) as usize;
    let sessions = limits.sessions.max(1) as usize;
    // A call needs the last N−1 calls not all within this span (the window less the response
    // wait), when the scheduler keeps such a place.
    let guarded = limits
        .response_wait_secs
        .filter(|_| per_window > 1)
        .map(|wait| window - wait);
    let guard_frees = |calls: &VecDeque<f64>| {
        let guarded = guarded?;
        let nth = calls.len().checked_sub(per_window - 1)?;
        calls.get(nth).map(|&at| at + guarded)
    };
    let mut running: Vec<(f64, usize)> = Vec::new();
    let mut calls: VecDeque<f64> = VecDeque::new();
    let (mut now, mut makespan) = (0.0_f64, 0.0_f64);
    while remaining > 0 {
        running.retain(|&(end, index)| {
            let ended = end <= now;
            if ended {
                fleet[index].running = false;
            }
            !ended
        });
        // `at + window`, computed as the wake-up below computes it, so the call leaves the
        // window at exactly that moment whatever the rounding.
        while calls.front().is_some_and(|&at| at + window <= now) {
            calls.pop_front();
        }
        let guard_free = guard_frees(&calls).is_none_or(|at| at <= now);
        if running.len() < sessions && calls.len() < per_window && guard_free {
            let ready = |d: &Device| !d.running && d.next < d.calls.len() && d.free_at <= now;
            let pick = fleet
                .iter()
                .position(|d| ready(d) && d.next > 0)
                .or_else(|| fleet.iter().position(ready));
            if let Some(index) = pick {
                let device = &mut fleet[index];
                let end = now + device.calls[device.next];
                device.next += 1;
                device.free_at = end;
                device.running = true;
                running.push((end, index));
                calls.push_back(now);
                makespan = makespan.max(end);
                remaining -= 1;
                continue;
            }
        }
        let session_frees = running.iter().map(|&(end, _)| end);
        let window_frees = calls
            .front()
            .filter(|_| calls.len() >= per_window)
            .map(|&at| at + window)
            .into_iter()
            .chain(guard_frees(&calls).filter(|&at| at > now));
        let device_ready = fleet
            .iter()
            .filter(|d| !d.running && d.next < d.calls.len() && d.free_at > now)
            .map(|d| d.free_at);
        let next = session_frees
            .chain(window_frees)
            .chain(device_ready)
            .fold(f64::INFINITY, f64::min);
        if !next.is_finite() || next <= now {
            // Nothing left can start (or time would not move): the replay has no answer.
            return None;
        }
        now = next;
    }
    Some(makespan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(minute: u32) -> String {
        format!("2026-01-01T00:{minute:02}:00Z")
    }

    fn action(from: u32, to: u32) -> Value {
        json!({"commands": [{"start": at(from), "end": at(to)}]})
    }

    #[test]
    fn the_replay_waits_for_sessions_the_window_and_each_device() {
        let start = DateTime::parse_from_rfc3339(&at(0))
            .expect("time")
            .with_timezone(&Utc);
        // `a`: two calls of 2 and 1 minutes; `b`: one of 3 minutes, online from minute 4.
        let stats = json!({"devices": [
            {"id": "a", "actions": [action(0, 2), action(2, 3)]},
            {"id": "b", "actions": [action(10, 13)]},
        ]});
        let devices = json!({"devices": [
            {"id": "a", "offline": []},
            {"id": "b", "offline": [{"from": at(0), "until": at(4)}]},
        ]});
        let targets = ["a", "b"].into_iter().map(String::from).collect();
        let one_session = Limits {
            sessions: 1,
            ..Limits::default()
        };
        // a: 0–2, 2–3; b: from its return at 4, until 7.
        assert_eq!(
            greedy_makespan(&stats, &devices, start, &targets, one_session),
            Some(420.0)
        );
        // One call a minute: a at 0 (until 2), b at 4 (until 7), a's second at 2 (until 3).
        let one_call = Limits {
            calls_per_window: 1,
            window_secs: 60.0,
            sessions: 25,
            response_wait_secs: None,
        };
        assert_eq!(
            greedy_makespan(&stats, &devices, start, &targets, one_call),
            Some(420.0)
        );
        // Windows and calls in fractions of a second, whose sums do not round evenly.
        let tenths = json!({"devices": [{"id": "a", "actions":
            (0..10).map(|_| json!({"commands": [
                {"start": "2026-01-01T00:00:00.0Z", "end": "2026-01-01T00:00:00.1Z"}
            ]})).collect::<Vec<_>>()}]});
        let fast = Limits {
            calls_per_window: 1,
            window_secs: 0.3,
            sessions: 1,
            response_wait_secs: None,
        };
        let makespan =
            greedy_makespan(&tenths, &devices, start, &targets, fast).expect("the replay ends");
        assert!((makespan - 2.8).abs() < 1e-9, "{makespan}");
        let none: HashSet<String> = HashSet::new();
        assert_eq!(
            greedy_makespan(&stats, &devices, start, &none, one_call),
            None
        );
    }
}
