//! The numbers the scheduler lives by, per tenant. Every one is configuration: the documented
//! platform limits are the defaults, and the margins keep fleetlr safely inside them.

use std::num::NonZeroU32;
use std::time::Duration;

/// One tenant's limits and scheduling periods, in the tenant's own time (see `time_scale`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// `runliveresponse` calls the API accepts in any sliding `live_response_window`.
    pub live_response_calls: NonZeroU32,
    pub live_response_window: Duration,
    /// How much longer than `live_response_window` fleetlr counts its calls (0.02 = 2%). Each
    /// call already counts from its answer, so the request's transit needs no margin; this one
    /// covers how the service keeps its own time.
    pub pacing_margin: f64,
    /// The longest a response run's call waits for the call budget (after a window without
    /// another response call): collections leave room for it. Up to one interval (window /
    /// calls) costs nothing; shorter costs a collection with calls to make at every moment
    /// N−1 calls per (window − this) instead of N per window.
    pub response_call_within: Duration,
    /// Concurrent Live Response sessions the tenant allows (25 in older docs, 50 in newer).
    pub max_sessions: u32,
    /// Sessions fleetlr never uses, left for analysts working in the portal.
    pub sessions_kept_for_portal: u32,
    /// Sessions only response runs may use, so a bulk collection can never block them. Every
    /// other free session goes to a response run first too, so one kept free answers an alert
    /// at once and a burst of alerts takes the next sessions collections give back; each one
    /// more kept free is a session every collection goes without.
    pub sessions_reserved_for_response: u32,
    /// Budget for every other endpoint (machines, machine actions, result links, cancel, library).
    pub api_calls_per_minute: u32,
    pub api_calls_per_hour: u32,
    /// How often in-flight actions are polled (batched, one call for up to 50 actions).
    pub poll_interval: Duration,
    /// An action still `Pending` after this long means the device is offline: fleetlr cancels it
    /// (freeing its session slot) and keeps the target in its own queue. Once the tenant's
    /// devices have shown how fast they pick actions up, the wait is learnt from them (three
    /// times the slowest recent pickup), between `offline_after_min` and this.
    pub offline_after: Duration,
    pub offline_after_min: Duration,
    /// Wait before an offline device is tried again, for its first `offline_rechecks_at_base`
    /// tries; then it doubles up to `offline_recheck_max`. Those tries only use capacity the rest
    /// of the run leaves free (the queue puts them last).
    pub offline_recheck: Duration,
    pub offline_rechecks_at_base: u32,
    pub offline_recheck_max: Duration,
    /// How often devices MDE reports inactive are looked up again (one Machines call per 50
    /// devices, from the general budget, no session), so a device that comes back is served
    /// within this much of its return.
    pub inactive_recheck: Duration,
    /// Wait before retrying a device that already runs an action fleetlr did not start.
    pub busy_retry: Duration,
    /// How long after an uncertain submission its absence from the action list proves it never
    /// landed (the service needs a moment to list a new action).
    pub reconcile_settle: Duration,
    /// Simulated tenants run faster than real time; every period above is divided by this.
    pub time_scale: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            live_response_calls: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            live_response_window: Duration::from_secs(60),
            pacing_margin: 0.02,
            response_call_within: Duration::from_secs(5),
            max_sessions: 25,
            sessions_kept_for_portal: 0,
            sessions_reserved_for_response: 1,
            api_calls_per_minute: 100,
            api_calls_per_hour: 1500,
            poll_interval: Duration::from_secs(15),
            offline_after: Duration::from_secs(10 * 60),
            offline_after_min: Duration::from_secs(60),
            offline_recheck: Duration::from_secs(15 * 60),
            offline_rechecks_at_base: 8,
            offline_recheck_max: Duration::from_secs(4 * 3600),
            inactive_recheck: Duration::from_secs(2 * 60),
            busy_retry: Duration::from_secs(2 * 60),
            reconcile_settle: Duration::from_secs(2 * 60),
            time_scale: 1.0,
        }
    }
}

impl Limits {
    /// A tenant period in wall-clock time.
    pub fn wall(&self, period: Duration) -> Duration {
        period.div_f64(self.time_scale.max(1.0))
    }
}
