//! Sliding-window rate limits, as the service enforces them per application and tenant.

use chrono::{DateTime, TimeDelta, Utc};
use std::collections::VecDeque;

/// At most `limit` calls in any window of `window` length, counted from the calls accepted.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: u32,
    window: TimeDelta,
    calls: VecDeque<DateTime<Utc>>,
}

impl SlidingWindow {
    pub fn new(limit: u32, window: TimeDelta) -> Self {
        Self {
            limit,
            window,
            calls: VecDeque::new(),
        }
    }

    /// Whether a call at `now` fits; when it does not, how many whole seconds until it would.
    pub fn check(&mut self, now: DateTime<Utc>) -> Result<(), u64> {
        while self
            .calls
            .front()
            .is_some_and(|first| *first + self.window <= now)
        {
            self.calls.pop_front();
        }
        if self.calls.len() < self.limit as usize {
            return Ok(());
        }
        let oldest = self.calls.front().copied().unwrap_or(now);
        let wait = (oldest + self.window - now).num_milliseconds().max(0) as u64;
        Err(wait.div_ceil(1000).max(1))
    }

    pub fn record(&mut self, now: DateTime<Utc>) {
        self.calls.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_eleventh_call_in_any_minute_and_says_when_to_retry() {
        let start = Utc::now();
        let mut window = SlidingWindow::new(10, TimeDelta::seconds(60));
        for i in 0..10 {
            let at = start + TimeDelta::seconds(i * 5);
            assert_eq!(window.check(at), Ok(()));
            window.record(at);
        }
        assert_eq!(window.check(start + TimeDelta::seconds(50)), Err(10));
        // Sliding, not fixed: the first call leaves the window exactly 60 s after it was made.
        assert_eq!(window.check(start + TimeDelta::seconds(60)), Ok(()));
    }
}
