//! How long a playbook will take over N devices under the API's limits: a planning figure
//! shown before anything runs, not a promise.

use std::time::Duration;

use serde::Serialize;

use crate::compile::{Call, CompiledPlaybook};

/// The limits a run lives within (configuration; these are the documented defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `runliveresponse` calls per minute for the app and tenant.
    pub calls_per_minute: u32,
    /// Concurrent Live Response sessions for the tenant.
    pub max_sessions: u32,
    /// Time a call holds its session beyond its commands: the device picking the action up
    /// and the poll that sees it finish.
    pub call_overhead: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            calls_per_minute: 10,
            max_sessions: 25,
            call_overhead: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Estimate {
    pub devices: u64,
    pub calls_per_device: u64,
    pub total_calls: u64,
    /// How long one device's calls take back to back.
    pub device_chain: Duration,
    /// Time needed just to make every call at the allowed rate.
    pub rate_bound: Duration,
    /// Time needed to fit every device's session time into the session slots.
    pub session_bound: Duration,
    /// The slower bound plus one device chain: the last devices start near the bound and
    /// still have to finish.
    pub wall_time: Duration,
}

impl Estimate {
    /// Which limit decides the wall time.
    pub fn bottleneck(&self) -> &'static str {
        if self.rate_bound >= self.session_bound {
            "call rate"
        } else {
            "sessions"
        }
    }
}

/// The time one call holds a session: overhead plus its commands' expected durations.
pub fn call_duration(call: &Call, limits: &Limits) -> Duration {
    call.commands
        .iter()
        .map(crate::model::Step::expected_duration)
        .fold(limits.call_overhead, |a, b| a + b)
}

/// Estimates a run over `devices` devices. Zero limits are treated as one, so the result is
/// always defined.
pub fn estimate(compiled: &CompiledPlaybook, devices: u64, limits: &Limits) -> Estimate {
    let calls_per_device = compiled.calls.len() as u64;
    let total_calls = calls_per_device.saturating_mul(devices);
    let device_chain: Duration = compiled
        .calls
        .iter()
        .map(|c| call_duration(c, limits))
        .sum();
    let rate_bound = Duration::from_secs(
        total_calls.saturating_mul(60) / u64::from(limits.calls_per_minute.max(1)),
    );
    let session_seconds = device_chain.as_secs().saturating_mul(devices);
    let session_bound =
        Duration::from_secs(session_seconds / u64::from(limits.max_sessions.max(1)));
    let wall_time = rate_bound.max(session_bound).saturating_add(device_chain);
    Estimate {
        devices,
        calls_per_device,
        total_calls,
        device_chain,
        rate_bound,
        session_bound,
        wall_time,
    }
}
