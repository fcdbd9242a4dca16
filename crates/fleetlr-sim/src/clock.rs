//! Simulated time: wall-clock time since start, multiplied by the speed-up factor.

use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;
use tokio::time::Instant;

/// Maps tokio's monotonic clock onto a simulated UTC timeline that runs `speedup` times faster.
#[derive(Debug, Clone)]
pub struct SimClock {
    started: Instant,
    epoch: DateTime<Utc>,
    speedup: f64,
}

impl SimClock {
    pub fn new(speedup: f64) -> Self {
        Self {
            started: Instant::now(),
            epoch: Utc::now(),
            speedup,
        }
    }

    /// The current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        self.epoch + self.to_sim(self.started.elapsed())
    }

    /// When the simulation started, in simulated time (offsets in scenarios count from here).
    pub fn epoch(&self) -> DateTime<Utc> {
        self.epoch
    }

    /// Converts a wall-clock duration into the simulated duration that passes meanwhile.
    pub fn to_sim(&self, wall: Duration) -> TimeDelta {
        TimeDelta::from_std(wall.mul_f64(self.speedup)).unwrap_or(TimeDelta::MAX)
    }
}

/// `creationDateTimeUtc` style: seven fractional digits, as the real service sends.
pub fn format_7(at: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        at.format("%Y-%m-%dT%H:%M:%S"),
        at.timestamp_subsec_nanos() / 100
    )
}

/// `lastUpdateDateTimeUtc` style: up to seven fractional digits with trailing zeros trimmed.
pub fn format_trimmed(at: DateTime<Utc>) -> String {
    trimmed(at, 7)
}

/// Command `startTime`/`endTime` style: at most three fractional digits, trailing zeros trimmed.
pub fn format_millis(at: DateTime<Utc>) -> String {
    trimmed(at, 3)
}

fn trimmed(at: DateTime<Utc>, digits: u32) -> String {
    let fraction = at.timestamp_subsec_nanos() / 10u32.pow(9 - digits);
    let fraction = format!("{fraction:0width$}", width = digits as usize);
    let fraction = fraction.trim_end_matches('0');
    let base = at.format("%Y-%m-%dT%H:%M:%S");
    if fraction.is_empty() {
        format!("{base}Z")
    } else {
        format!("{base}.{fraction}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(nanos: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 3, 18, 21, 2, 0)
            .single()
            .expect("valid date")
            + TimeDelta::nanoseconds(i64::from(nanos))
    }

    #[test]
    fn timestamps_use_the_precision_of_each_field() {
        assert_eq!(format_7(at(353_859_400)), "2023-03-18T21:02:00.3538594Z");
        assert_eq!(
            format_trimmed(at(931_630_000)),
            "2023-03-18T21:02:00.93163Z"
        );
        assert_eq!(format_millis(at(920_000_000)), "2023-03-18T21:02:00.92Z");
        assert_eq!(format_millis(at(0)), "2023-03-18T21:02:00Z");
    }

    #[tokio::test(start_paused = true)]
    async fn simulated_time_runs_faster_by_the_speedup() {
        let clock = SimClock::new(60.0);
        let before = clock.now();
        tokio::time::advance(Duration::from_secs(1)).await;
        let elapsed = clock.now() - before;
        assert_eq!(elapsed.num_seconds(), 60);
    }
}
