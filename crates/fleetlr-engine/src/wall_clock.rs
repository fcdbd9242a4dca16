//! The wall clock as a tenant's stored deadlines read it. A run's expiry, a target's next
//! attempt and a result's next capture try are stored as wall-clock times ("now + a period"),
//! so they must survive a restart. When the wall clock jumps (NTP stepping it, an operator
//! setting it) they have to move with it, or a clock set ahead expires runs early and one set
//! back stalls every wait for as long as the jump. A jump shows as the wall clock moving apart
//! from the monotonic one between two readings. Until the worker has moved the stored deadlines
//! (`Store::shift_deadlines`), [`WallClock::now`] keeps answering in the old clock's terms, so
//! whatever is compared with or written beside the stored deadlines meanwhile agrees with them.
//!
//! A jump while the daemon is stopped cannot be seen; nor can the difference between a jump
//! and a suspended machine (the monotonic clock stops while suspended), which is taken as one.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};

/// Less drift than this between two readings is slewing or noise, not a jump.
const JUMP_TOLERANCE: TimeDelta = TimeDelta::seconds(1);

#[derive(Debug)]
pub(crate) struct WallClock {
    state: Mutex<Readings>,
}

#[derive(Debug)]
struct Readings {
    /// The last reading of both clocks (`Instant` is the real monotonic clock, never tokio's,
    /// which tests pause and move by hand).
    monotonic: Instant,
    wall: DateTime<Utc>,
    /// How far the wall clock jumped in all, that the stored deadlines have not yet followed.
    unshifted: TimeDelta,
}

impl WallClock {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(Readings {
                monotonic: Instant::now(),
                wall: Utc::now(),
                unshifted: TimeDelta::zero(),
            }),
        }
    }

    /// The current time in the terms of the stored deadlines.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let mut readings = self.readings();
        readings.read(Instant::now(), Utc::now())
    }

    /// The jump the stored deadlines have yet to follow, if the wall clock jumped.
    pub(crate) fn unshifted(&self) -> Option<TimeDelta> {
        self.now();
        Some(self.readings().unshifted).filter(|jump| !jump.is_zero())
    }

    /// The stored deadlines were moved by `jump`.
    pub(crate) fn shifted(&self, jump: TimeDelta) {
        self.readings().unshifted -= jump;
    }

    fn readings(&self) -> std::sync::MutexGuard<'_, Readings> {
        // Plain values: a panic elsewhere cannot leave them half-written.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Readings {
    fn read(&mut self, monotonic: Instant, wall: DateTime<Utc>) -> DateTime<Utc> {
        let elapsed = TimeDelta::from_std(monotonic.saturating_duration_since(self.monotonic))
            .unwrap_or(TimeDelta::MAX);
        let drift = (wall - self.wall) - elapsed;
        if drift.abs() > JUMP_TOLERANCE {
            self.unshifted += drift;
        }
        self.monotonic = monotonic;
        self.wall = wall;
        wall - self.unshifted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn clock_at(start: Instant, wall: DateTime<Utc>) -> WallClock {
        WallClock {
            state: Mutex::new(Readings {
                monotonic: start,
                wall,
                unshifted: TimeDelta::zero(),
            }),
        }
    }

    #[test]
    fn time_passing_is_no_jump() {
        let (start, wall) = (Instant::now(), Utc::now());
        let clock = clock_at(start, wall);
        let later = start + Duration::from_secs(600);
        // Half a second of drift over ten minutes: slewing, not a jump.
        let read = clock
            .readings()
            .read(later, wall + TimeDelta::milliseconds(600_500));
        assert_eq!(read, wall + TimeDelta::milliseconds(600_500));
        assert_eq!(clock.readings().unshifted, TimeDelta::zero());
    }

    #[test]
    fn after_a_jump_time_reads_as_before_it_until_the_deadlines_follow() {
        let (start, wall) = (Instant::now(), Utc::now());
        let clock = clock_at(start, wall);
        let second = Duration::from_secs(1);
        // Ten seconds pass; the clock is set two hours ahead, then an hour back.
        let ahead = clock
            .readings()
            .read(start + second * 10, wall + TimeDelta::seconds(7210));
        assert_eq!(ahead, wall + TimeDelta::seconds(10));
        let back = clock
            .readings()
            .read(start + second * 20, wall + TimeDelta::seconds(3620));
        assert_eq!(back, wall + TimeDelta::seconds(20));
        assert_eq!(clock.readings().unshifted, TimeDelta::hours(1));
        // The deadlines moved an hour: from now on the wall clock is read as it is.
        clock.shifted(TimeDelta::hours(1));
        let read = clock
            .readings()
            .read(start + second * 30, wall + TimeDelta::seconds(3630));
        assert_eq!(read, wall + TimeDelta::seconds(3630));
    }
}
