//! Paces `runliveresponse` calls so fleetlr itself never causes a 429.
//!
//! The API allows N calls in any sliding window. A GCRA with burst 1 spaces calls evenly at
//! `window / N`, so no window of that length can hold more than N of them; a burst of N would
//! allow 2N across a window boundary. A small margin widens the spacing so that network jitter
//! cannot squeeze N+1 arrivals into one window at the service.

use governor::clock::{Clock, Reference};
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter, middleware::NoOpMiddleware};
use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// `tokio::time::Instant` as a governor reference, so pacing follows tokio's (pausable) clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokioInstant(Instant);

impl Add<Nanos> for TokioInstant {
    type Output = Self;
    fn add(self, other: Nanos) -> Self {
        Self(self.0 + Duration::from(other))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_duration_since(earlier.0))
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        Self(
            self.0
                .checked_sub(Duration::from(duration))
                .unwrap_or(self.0),
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = TokioInstant;
    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

/// The call budget of one app+tenant.
pub struct CallPacer {
    limiter: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>,
    /// A 429 that still arrived (someone else used the budget) holds every call until then.
    held_until: Mutex<Option<Instant>>,
}

impl CallPacer {
    /// At most `calls` per `window`, spaced by `window / calls` widened by `margin` (0.02 = 2%).
    pub fn new(calls: NonZeroU32, window: Duration, margin: f64) -> Self {
        let spacing = window
            .div_f64(f64::from(calls.get()))
            .mul_f64(1.0 + margin.max(0.0));
        let quota = Quota::with_period(spacing.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::direct_with_clock(quota, TokioClock),
            held_until: Mutex::new(None),
        }
    }

    /// Waits until a call may be made, and takes its place in the budget.
    pub async fn ready(&self) {
        while let Err(wait) = self.try_take() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a place in the budget if one is free now; otherwise says how long until one is.
    pub fn try_take(&self) -> Result<(), Duration> {
        let hold = *self.held_until.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = hold.filter(|until| *until > Instant::now()) {
            return Err(until - Instant::now());
        }
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(TokioClock.now()))
    }

    /// Absorbs a 429 caused by someone else: no call before `retry_after` has passed.
    pub fn hold_for(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut held = self.held_until.lock().unwrap_or_else(|p| p.into_inner());
        *held = Some(held.map_or(until, |current| current.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_in_any_window(calls: &[Instant], window: Duration) -> usize {
        calls
            .iter()
            .enumerate()
            .map(|(i, start)| {
                calls[i..]
                    .iter()
                    .take_while(|t| **t - *start < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn no_sixty_second_window_ever_holds_more_than_ten_calls() {
        let pacer = CallPacer::new(
            NonZeroU32::new(10).expect("nonzero"),
            Duration::from_secs(60),
            0.0,
        );
        let mut calls = Vec::new();
        for _ in 0..100 {
            pacer.ready().await;
            calls.push(Instant::now());
        }
        assert_eq!(max_in_any_window(&calls, Duration::from_secs(60)), 10);
        // Evenly spaced: 100 calls take 99 intervals of 6 s, never faster.
        assert_eq!(calls[99] - calls[0], Duration::from_secs(594));
    }

    #[tokio::test(start_paused = true)]
    async fn the_margin_widens_the_spacing() {
        let pacer = CallPacer::new(
            NonZeroU32::new(10).expect("nonzero"),
            Duration::from_secs(60),
            0.02,
        );
        pacer.ready().await;
        let first = Instant::now();
        pacer.ready().await;
        assert_eq!(Instant::now() - first, Duration::from_millis(6120));
    }

    #[tokio::test(start_paused = true)]
    async fn a_foreign_429_holds_calls_for_its_retry_after() {
        let pacer = CallPacer::new(
            NonZeroU32::new(10).expect("nonzero"),
            Duration::from_secs(60),
            0.0,
        );
        pacer.ready().await;
        let start = Instant::now();
        pacer.hold_for(Duration::from_secs(30));
        pacer.ready().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(30));
    }
}
