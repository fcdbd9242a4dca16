//! How long to wait for a device to pick up an action before calling it offline, learnt from
//! this tenant's own devices.
//!
//! An action for an offline device stays `Pending`, holding a session slot, and MDE offers no
//! other sign that a device is away (`lastSeen` follows a daily report; `healthStatus` turns
//! `Inactive` only after days). So the wait is the price of every probe: too long and offline
//! devices crowd out online ones, too short and slow-but-online devices are withdrawn for
//! nothing. Online devices show the right value: the slowest pickup seen recently, with a wide
//! margin, kept between a floor and the configured ceiling.

use std::collections::VecDeque;
use std::time::Duration;

/// Pickups remembered; the slowest of them sets the wait.
const SAMPLES: usize = 64;
/// Pickups seen before the learnt wait replaces the configured one.
const MIN_SAMPLES: usize = 8;
/// How many times the slowest recent pickup a device gets before it counts as offline.
const MARGIN: u32 = 3;

#[derive(Debug, Default)]
pub struct PickupLatency {
    recent: VecDeque<Duration>,
}

impl PickupLatency {
    /// An action was first seen picked up `after` its acceptance.
    pub fn observe(&mut self, after: Duration) {
        if self.recent.len() == SAMPLES {
            self.recent.pop_front();
        }
        self.recent.push_back(after);
    }

    /// How long an action may stay `Pending` before its device counts as offline: the
    /// configured `ceiling` until enough pickups were seen, then `MARGIN` times the slowest
    /// recent one, never below `floor` nor above `ceiling`.
    pub fn offline_after(&self, floor: Duration, ceiling: Duration) -> Duration {
        if self.recent.len() < MIN_SAMPLES {
            return ceiling;
        }
        let slowest = self.recent.iter().max().copied().unwrap_or(ceiling);
        slowest
            .saturating_mul(MARGIN)
            .clamp(floor.min(ceiling), ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOR: Duration = Duration::from_secs(60);
    const CEILING: Duration = Duration::from_secs(600);

    #[test]
    fn the_configured_wait_holds_until_enough_pickups_were_seen() {
        let mut pickup = PickupLatency::default();
        for _ in 0..MIN_SAMPLES - 1 {
            pickup.observe(Duration::from_secs(5));
        }
        assert_eq!(pickup.offline_after(FLOOR, CEILING), CEILING);
        pickup.observe(Duration::from_secs(5));
        assert_eq!(pickup.offline_after(FLOOR, CEILING), FLOOR);
    }

    #[test]
    fn the_slowest_recent_pickup_sets_the_wait_within_its_bounds() {
        let mut pickup = PickupLatency::default();
        for secs in [10, 15, 40, 15, 15, 15, 15, 15] {
            pickup.observe(Duration::from_secs(secs));
        }
        assert_eq!(
            pickup.offline_after(FLOOR, CEILING),
            Duration::from_secs(120)
        );
        pickup.observe(Duration::from_secs(400));
        assert_eq!(pickup.offline_after(FLOOR, CEILING), CEILING);
        // Slow pickups age out once enough fast ones follow.
        for _ in 0..SAMPLES {
            pickup.observe(Duration::from_secs(15));
        }
        assert_eq!(pickup.offline_after(FLOOR, CEILING), FLOOR);
    }

    #[test]
    fn a_floor_above_the_ceiling_yields_the_ceiling() {
        let mut pickup = PickupLatency::default();
        for _ in 0..MIN_SAMPLES {
            pickup.observe(Duration::from_secs(1));
        }
        assert_eq!(
            pickup.offline_after(Duration::from_secs(900), CEILING),
            CEILING
        );
    }
}
