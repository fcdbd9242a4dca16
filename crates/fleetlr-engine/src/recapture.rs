//! Results fetched again. A completed command whose result could not be written (the artifact
//! directory read-only or full) is recorded with the error and a retry time; this asks the
//! service for a fresh result link (it gives one for a completed command at any time) and
//! downloads it again, backing off while fleetlr's storage still fails, until it is captured
//! or, when the service no longer gives the result or the attempts run out, recorded as lost
//! with the reason.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fleetlr_store::{Captured, CommandType, PendingCapture, Store};

use crate::artifacts::{self, CaptureError, ResultSpot};
use crate::worker::Tenant;

/// Results fetched again per batch; the next batch comes at the next check.
pub(crate) const BATCH: u32 = 20;
/// How often the store is asked for results due again (wall-clock: fleetlr's own storage).
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Attempts after the first before a result is recorded as lost: with the back-off below,
/// about a day of a read-only or full artifact directory.
const MAX_ATTEMPTS: u32 = 150;
const FIRST_WAIT: Duration = Duration::from_secs(5);
const LONGEST_WAIT: Duration = Duration::from_secs(10 * 60);

/// One batch of results to fetch again, run off the scheduler loop.
pub(crate) struct Recapture {
    pub(crate) tenant: Arc<Tenant>,
    pub(crate) store: Store,
    pub(crate) artifacts: PathBuf,
}

impl Recapture {
    pub(crate) async fn run(self, due: Vec<PendingCapture>) {
        for pending in due {
            if let Err(err) = self.one(&pending).await {
                // Still pending in the store: the next check takes it again.
                tracing::warn!(outcome = pending.outcome_id, error = %err, "recording a result fetched again failed");
            }
        }
    }

    async fn one(&self, pending: &PendingCapture) -> fleetlr_store::Result<()> {
        let spot = ResultSpot {
            run_id: &pending.run_id,
            device_id: &pending.device_id,
            action_id: &pending.machine_action_id,
            call: pending.call_index,
            index: pending.command_index,
            name: &pending.name,
            transcript: pending.command_type == CommandType::RunScript,
        };
        let fetched = artifacts::fetch(
            &self.tenant.client,
            &self.tenant.budget,
            &self.artifacts,
            &spot,
        )
        .await;
        match fetched {
            Ok(evidence) => {
                tracing::info!(run = %pending.run_id, device = %pending.device_id, outcome = pending.outcome_id, "result fetched again and captured");
                let captured = Captured {
                    artifact_path: evidence.path,
                    sha256: evidence.sha256,
                    bytes: evidence.bytes,
                    exit_code: evidence.exit_code,
                    output_preview: evidence.output_preview,
                };
                self.store.record_capture(pending, &captured).await
            }
            Err(err) => {
                let retry_at = next_attempt(&err, pending.attempts).map(|wait| {
                    self.tenant.clock.now() + chrono::TimeDelta::from_std(wait).unwrap_or_default()
                });
                if retry_at.is_none() {
                    tracing::warn!(run = %pending.run_id, device = %pending.device_id, error = %err, "result lost");
                }
                self.store
                    .capture_failed(pending, &err.to_string(), retry_at)
                    .await
            }
        }
    }
}

/// When to try again after `attempts` earlier retries failed with `err`; `None`: give up.
fn next_attempt(err: &CaptureError, attempts: u32) -> Option<Duration> {
    let lasting = matches!(err, CaptureError::Link { lasting: true, .. });
    if lasting || attempts >= MAX_ATTEMPTS {
        return None;
    }
    Some(
        FIRST_WAIT
            .saturating_mul(1 << attempts.min(16))
            .min(LONGEST_WAIT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_failures_back_off_to_ten_minutes_and_refusals_give_up_at_once() {
        let local = CaptureError::Local("read-only".into());
        let secs = |n| next_attempt(&local, n).map(|d| d.as_secs());
        assert_eq!(
            [0, 1, 2, 7, 40].map(secs),
            [Some(5), Some(10), Some(20), Some(600), Some(600)]
        );
        assert_eq!(next_attempt(&local, MAX_ATTEMPTS), None);
        let gone = CaptureError::Link {
            message: "not found".into(),
            lasting: true,
        };
        assert_eq!(next_attempt(&gone, 0), None);
        let outage = CaptureError::Link {
            message: "503".into(),
            lasting: false,
        };
        assert_eq!(next_attempt(&outage, 0), Some(FIRST_WAIT));
    }
}
