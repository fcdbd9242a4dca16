//! Paces `runliveresponse` calls so fleetlr itself never causes a 429, while a response run
//! never waits longer than a set, short time for its call.
//!
//! The API allows N calls in any sliding window. The pacer keeps the times of fleetlr's last N
//! calls and allows another only when the oldest of them has left the window, so no window can
//! hold more than N. A call counts from when its answer arrived: the service counted it at some
//! moment between sending and answer, never later, so a call sent a window after that answer
//! reaches the service a window after the earlier one, however long either request travelled.
//! A small margin widens the window against the rest (how the service itself keeps time).
//! Unlike calls spaced evenly, calls a collection could not make while every session was taken
//! are not lost: they may be made as soon as sessions free, as long as the window has room.
//!
//! That freedom could let a collection fill the window at once and leave a response run waiting
//! for nearly a whole window. So a collection call is also refused when the last N−1 calls all
//! fall within the window less the response wait W: when a response run asks, and no other
//! response call was made within the window, a call leaves the window within W. With W one
//! interval (window / N) this costs a collection nothing in the long run (N−1 calls per
//! window − window / N is the same rate as N per window); a shorter W costs a collection that
//! has calls to make at every moment N−1 per (window − W) instead.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use fleetlr_store::Priority;
use tokio::time::Instant;

/// The call budget of one app+tenant.
pub struct CallPacer {
    calls: usize,
    /// The service's window widened by the margin.
    window: Duration,
    /// The window less the response wait: a collection call needs room for a response call
    /// within that wait.
    guarded_window: Duration,
    /// When fleetlr's last `calls` calls were made, oldest first.
    made: Mutex<VecDeque<Instant>>,
    /// A 429 that still arrived (someone else used the budget) holds every call until then.
    held_until: Mutex<Option<Instant>>,
}

impl CallPacer {
    /// At most `calls` per `window`, the window widened by `margin` (0.02 = 2%); a response
    /// call waits at most `response_wait` (at most one interval, window / calls).
    pub fn new(calls: NonZeroU32, window: Duration, margin: f64, response_wait: Duration) -> Self {
        let calls = calls.get() as usize;
        let window = window.mul_f64(1.0 + margin.max(0.0));
        let interval = window.div_f64(calls as f64);
        Self {
            calls,
            window,
            guarded_window: window.saturating_sub(response_wait.min(interval)),
            made: Mutex::new(VecDeque::with_capacity(calls)),
            held_until: Mutex::new(None),
        }
    }

    /// The rules a call of a run of `priority` must keep: at most this many calls within
    /// this span. Every call keeps the window; a collection call also leaves a response call
    /// its place within the guarded span.
    fn rules(&self, priority: Priority) -> impl Iterator<Item = (usize, Duration)> {
        let guard = (priority == Priority::Collection && self.calls > 1)
            .then_some((self.calls - 1, self.guarded_window));
        std::iter::once((self.calls, self.window)).chain(guard)
    }

    /// How many calls of a run of `priority` could go out now, one after another.
    pub fn places_free(&self, priority: Priority) -> usize {
        let now = Instant::now();
        let held = self.held_until.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_some_and(|until| until > now) {
            return 0;
        }
        let made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        self.rules(priority)
            .map(|(most, span)| {
                let within = made.iter().filter(|at| now < **at + span).count();
                most.saturating_sub(within)
            })
            .min()
            .unwrap_or(0)
    }

    /// Takes a place in the budget for a call of a run of `priority` if one is free now;
    /// otherwise says how long until one is.
    pub fn try_take(&self, priority: Priority) -> Result<(), Duration> {
        let now = Instant::now();
        let hold = *self.held_until.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = hold.filter(|until| *until > now) {
            return Err(until - now);
        }
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let free_at = self
            .rules(priority)
            .filter_map(|(most, span)| nth_latest(&made, most).map(|at| at + span))
            .max();
        if let Some(at) = free_at.filter(|at| *at > now) {
            return Err(at - now);
        }
        if made.len() == self.calls {
            made.pop_front();
        }
        made.push_back(now);
        Ok(())
    }

    /// The call whose place was taken last has its answer (or its request gave up): it counts
    /// from this moment, the latest the service can have counted it, so neither a slow step
    /// before sending nor the request's own transit can bring two calls closer together at the
    /// service than the pacer allowed. Calls go out one at a time, so the last place taken is
    /// this call's.
    pub fn answered(&self) {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(last) = made.back_mut() {
            *last = (*last).max(Instant::now());
        }
    }

    /// Calls a previous process made (from the submission ledger, in any order, each when its
    /// answer was recorded): they still count against the window, so a restart cannot send a
    /// window's worth again at once.
    pub fn remember(&self, made_at: impl IntoIterator<Item = Instant>) {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<Instant> = made.drain(..).chain(made_at).collect();
        all.sort();
        let keep = all.len().saturating_sub(self.calls);
        made.extend(all.into_iter().skip(keep));
    }

    /// Waits until a call of a run of `priority` may be made, and takes its place.
    pub async fn ready(&self, priority: Priority) {
        while let Err(wait) = self.try_take(priority) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Absorbs a 429 caused by someone else: no call before `retry_after` has passed.
    pub fn hold_for(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut held = self.held_until.lock().unwrap_or_else(|p| p.into_inner());
        *held = Some(held.map_or(until, |current| current.max(until)));
    }
}

/// The time of the `n`th most recent call, when there have been `n`.
fn nth_latest(made: &VecDeque<Instant>, n: usize) -> Option<Instant> {
    made.len().checked_sub(n).and_then(|i| made.get(i)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    /// Ten calls a minute; a response call waits at most one interval.
    fn ten_a_minute(margin: f64) -> CallPacer {
        ten_a_minute_answering_within(margin, MINUTE)
    }

    fn ten_a_minute_answering_within(margin: f64, response_wait: Duration) -> CallPacer {
        CallPacer::new(
            NonZeroU32::new(10).expect("nonzero"),
            MINUTE,
            margin,
            response_wait,
        )
    }

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

    /// Asks for a call every `step` for `span`, with the given priority pattern, and returns
    /// when each call was allowed and with which priority.
    async fn ask_every(
        pacer: &CallPacer,
        step: Duration,
        span: Duration,
        priority_of: impl Fn(usize) -> Priority,
    ) -> Vec<(Instant, Priority)> {
        let end = Instant::now() + span;
        let mut made = Vec::new();
        let mut asked = 0;
        while Instant::now() < end {
            let priority = priority_of(asked);
            if pacer.try_take(priority).is_ok() {
                made.push((Instant::now(), priority));
                asked += 1;
            }
            tokio::time::sleep(step).await;
        }
        made
    }

    #[tokio::test(start_paused = true)]
    async fn no_sixty_second_window_ever_holds_more_than_ten_calls() {
        let pacer = ten_a_minute(0.0);
        // Irregular demand: bursts of asks, pauses, and both priorities.
        let mut calls = Vec::new();
        for round in 0..40_u64 {
            let priority = if round % 3 == 0 {
                Priority::Response
            } else {
                Priority::Collection
            };
            for (at, _) in ask_every(
                &pacer,
                Duration::from_millis(250),
                Duration::from_secs(round % 7 * 5 + 1),
                |_| priority,
            )
            .await
            {
                calls.push(at);
            }
            tokio::time::sleep(Duration::from_secs(round % 5 * 7)).await;
        }
        assert!(calls.len() > 100, "{} calls", calls.len());
        assert_eq!(max_in_any_window(&calls, MINUTE), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_collection_catches_up_calls_it_could_not_make_and_keeps_its_rate() {
        let pacer = ten_a_minute(0.0);
        // Calls not made while every session was taken are made as soon as sessions free, all
        // but the place kept for a response run.
        let burst = ask_every(
            &pacer,
            Duration::from_millis(100),
            Duration::from_secs(1),
            |_| Priority::Collection,
        )
        .await;
        assert_eq!(burst.len(), 9);
        // Asking all the time, a collection makes no more than ten calls a minute, and no
        // fewer.
        let made = ask_every(&pacer, Duration::from_millis(100), MINUTE * 10, |_| {
            Priority::Collection
        })
        .await;
        // Over ten minutes and a second: ten calls a minute, and one for the minute begun.
        let all = burst.len() + made.len();
        assert!((100..=101).contains(&all), "{all} calls");
    }

    /// A collection asks all the time (in bursts, as sessions free, then steadily); after more
    /// than a window without a response call, a response run asks: returns how long it waited,
    /// round after round.
    async fn response_waits_under_a_busy_collection(pacer: &CallPacer) -> Vec<Duration> {
        let mut waits = Vec::new();
        for round in 0..30_u64 {
            ask_every(
                pacer,
                Duration::from_millis(100),
                pacer.window + Duration::from_secs(round % 4 * 30),
                |_| Priority::Collection,
            )
            .await;
            let asked = Instant::now();
            pacer.ready(Priority::Response).await;
            waits.push(Instant::now() - asked);
            tokio::time::sleep(Duration::from_secs(round % 6 * 9)).await;
        }
        waits
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_call_waits_at_most_one_interval_after_a_window_without_one() {
        let pacer = ten_a_minute(0.05);
        let interval = MINUTE.mul_f64(1.05) / 10;
        let waits = response_waits_under_a_busy_collection(&pacer).await;
        let longest = waits.iter().max().copied().unwrap_or_default();
        assert!(longest <= interval, "waited {longest:?}");
        // The collection really kept the window full: some response run waited.
        assert!(longest > interval / 2, "waited {longest:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_response_wait_is_kept_and_costs_a_collection_what_it_says() {
        let wait = Duration::from_secs(4);
        let pacer = ten_a_minute_answering_within(0.0, wait);
        let waits = response_waits_under_a_busy_collection(&pacer).await;
        let longest = waits.iter().max().copied().unwrap_or_default();
        assert!(longest <= wait, "waited {longest:?}");
        // The worst case: nine collection calls at once, the tenth as soon as the guard lets
        // it (56 s on), and then a response run finds the window full for the whole wait.
        let pacer = ten_a_minute_answering_within(0.0, wait);
        for _ in 0..9 {
            pacer.ready(Priority::Collection).await;
        }
        let start = Instant::now();
        pacer.ready(Priority::Collection).await;
        assert_eq!(Instant::now() - start, MINUTE - wait);
        let asked = Instant::now();
        pacer.ready(Priority::Response).await;
        assert_eq!(Instant::now() - asked, wait);
        // A collection asking all the time makes 9 calls per 56 s, not 10 per 60 s.
        let pacer = ten_a_minute_answering_within(0.0, wait);
        let made = ask_every(&pacer, Duration::from_millis(100), MINUTE * 56, |_| {
            Priority::Collection
        })
        .await;
        // 9 at once, then 9 per 56 s: 59 more periods in 56 minutes, and one begun.
        assert!(
            (9 + 59 * 9..=9 + 60 * 9).contains(&made.len()),
            "{} calls",
            made.len()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn free_places_are_counted_as_the_calls_would_be_allowed() {
        let pacer = ten_a_minute_answering_within(0.0, Duration::from_secs(4));
        assert_eq!(pacer.places_free(Priority::Collection), 9);
        assert_eq!(pacer.places_free(Priority::Response), 10);
        for _ in 0..7 {
            pacer.ready(Priority::Collection).await;
        }
        assert_eq!(pacer.places_free(Priority::Collection), 2);
        tokio::time::sleep(Duration::from_secs(57)).await;
        // Out of the guarded span (56 s), still in the window.
        assert_eq!(pacer.places_free(Priority::Collection), 3);
        assert_eq!(pacer.places_free(Priority::Response), 3);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(pacer.places_free(Priority::Collection), 9);
        pacer.hold_for(Duration::from_secs(1));
        assert_eq!(pacer.places_free(Priority::Response), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_margin_widens_the_window() {
        let pacer = ten_a_minute(0.02);
        for _ in 0..10 {
            pacer.ready(Priority::Response).await;
        }
        let start = Instant::now();
        pacer.ready(Priority::Response).await;
        assert_eq!(Instant::now() - start, Duration::from_millis(61_200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_counts_from_when_it_is_answered() {
        let pacer = ten_a_minute(0.0);
        for _ in 0..10 {
            pacer.ready(Priority::Response).await;
        }
        // The last call's answer came 5 s after its place was taken.
        tokio::time::sleep(Duration::from_secs(5)).await;
        pacer.answered();
        let start = Instant::now();
        for _ in 0..10 {
            pacer.ready(Priority::Response).await;
        }
        // The first nine leave the window after 55 s, the tenth after 60 s.
        assert_eq!(Instant::now() - start, MINUTE);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_made_before_a_restart_still_fill_the_window() {
        let pacer = ten_a_minute(0.0);
        tokio::time::sleep(MINUTE).await;
        // Ten calls in the last 50 s before this process started, newest first.
        let now = Instant::now();
        pacer.remember((0..10).map(|i| now - Duration::from_secs(5 * i + 5)));
        let start = Instant::now();
        pacer.ready(Priority::Response).await;
        // The oldest, 50 s ago, leaves the window 10 s from now.
        assert_eq!(Instant::now() - start, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_foreign_429_holds_calls_for_its_retry_after() {
        let pacer = ten_a_minute(0.0);
        pacer.ready(Priority::Collection).await;
        let start = Instant::now();
        pacer.hold_for(Duration::from_secs(30));
        pacer.ready(Priority::Response).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(30));
    }
}
