//! The budgets of the endpoints other than `runliveresponse` (machines, machine actions, result
//! links, cancel, library): each API documents its own 100 calls a minute and 1,500 an hour
//! (per app and tenant), so each endpoint gets its own budget and polling never waits behind
//! result-link fetches. fleetlr spends each at an even rate that fits the hourly limit, with a
//! small burst that fits the minute limit, and retries calls that meet someone else's 429 or a
//! transient failure.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleetlr_defender::Error;
use governor::clock::{Clock, Reference};
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter, middleware::NoOpMiddleware};
use tokio::time::Instant;

/// `tokio::time::Instant` as a governor reference, so budgets follow tokio's (pausable) clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TokioInstant(Instant);

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
struct TokioClock;

impl Clock for TokioClock {
    type Instant = TokioInstant;
    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

/// Attempts of one call before its error is handed to the caller.
const ATTEMPTS: u32 = 6;

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

pub struct ApiBudget {
    quota: Quota,
    /// One limiter per endpoint (as named in metrics), made on its first call.
    limiters: Mutex<HashMap<&'static str, Arc<Limiter>>>,
    time_scale: f64,
    tenant: String,
}

impl ApiBudget {
    /// `per_minute` and `per_hour` are the service's limits; `time_scale` speeds up a
    /// simulated tenant.
    pub fn new(per_minute: u32, per_hour: u32, time_scale: f64) -> Self {
        let scale = time_scale.max(1.0);
        // 90% of the hourly limit, evenly spread, leaves room for jitter and for a burst.
        let hourly = (f64::from(per_hour.max(1)) * 0.9).max(1.0);
        let period = Duration::from_secs(3600).div_f64(hourly).div_f64(scale);
        // A burst of a fifth of the minute limit can never, with the even rate, reach it.
        let burst = NonZeroU32::new((per_minute / 5).clamp(1, 20)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            quota,
            limiters: Mutex::new(HashMap::new()),
            time_scale: scale,
            tenant: String::new(),
        }
    }

    /// Names the tenant in the metrics of its calls.
    pub fn for_tenant(mut self, tenant: &str) -> Self {
        tenant.clone_into(&mut self.tenant);
        self
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Waits for a place in `endpoint`'s budget.
    async fn ready(&self, endpoint: &'static str) {
        let limiter = self
            .limiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(endpoint)
            .or_insert_with(|| Arc::new(RateLimiter::direct_with_clock(self.quota, TokioClock)))
            .clone();
        while let Err(not_until) = limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await;
        }
    }

    /// Makes a call to `endpoint` (named as in metrics) inside the budget, retrying 429s (after
    /// their `Retry-After`) and transient failures with a growing pause. Other errors are
    /// returned at once.
    pub async fn call<T, F, Fut>(&self, endpoint: &'static str, mut call: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut pause = Duration::from_secs(2);
        let mut attempt = 1;
        loop {
            self.ready(endpoint).await;
            let result = call().await;
            crate::metrics::api_call(&self.tenant, endpoint, &result);
            match result {
                Err(err) if attempt < ATTEMPTS && (err.is_rate_limited() || err.is_transient()) => {
                    let wait = err.retry_after().unwrap_or(pause).div_f64(self.time_scale);
                    tracing::debug!(error = %err, ?wait, attempt, "api call will be retried");
                    tokio::time::sleep(wait).await;
                    pause = (pause * 2).min(Duration::from_secs(60));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn spend(budget: &ApiBudget, endpoint: &'static str) {
        budget
            .call(endpoint, || async { Ok::<(), Error>(()) })
            .await
            .expect("the call succeeds");
    }

    #[tokio::test(start_paused = true)]
    async fn each_endpoint_spends_its_own_budget() {
        let budget = ApiBudget::new(100, 1500, 1.0);
        let start = tokio::time::Instant::now();
        // A burst of a fifth of the minute limit goes at once.
        for _ in 0..20 {
            spend(&budget, "machineactions.resultlink").await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Polling is not held up by the result links' spent burst.
        spend(&budget, "machineactions.list").await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        // The spent endpoint waits for its even rate: 90% of 1,500 an hour, 2.67 s apart.
        spend(&budget, "machineactions.resultlink").await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(2600) && waited <= Duration::from_millis(2700),
            "{waited:?}"
        );
    }
}
