//! Retention: runs that ended longer ago than the configured period are removed with their
//! records and collected files; open runs and the audit log are kept whatever their age.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fleetlr_store::{Store, StoreError};

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub runs: Vec<String>,
    /// Artifact directories removed (runs that collected no file have none).
    pub artifact_dirs: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("removing the collected files of run {run} in {path}")]
    Artifacts {
        run: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the period {0:?} reaches before any representable time")]
    Period(Duration),
}

/// Removes runs that ended more than `older_than` ago, then their artifact directories
/// (`<artifacts_dir>/<run>/`). The records go first: a crash in between leaves files without a
/// run, which the next prune does not see but which harm nothing.
pub async fn prune(
    store: &Store,
    artifacts_dir: &Path,
    older_than: Duration,
) -> Result<PruneReport, PruneError> {
    let before = chrono::TimeDelta::from_std(older_than)
        .ok()
        .and_then(|period| chrono::Utc::now().checked_sub_signed(period))
        .ok_or(PruneError::Period(older_than))?;
    let runs = store.prune_runs(before).await?;
    let mut artifact_dirs = 0;
    for run in &runs {
        let path = artifacts_dir.join(run);
        match tokio::fs::remove_dir_all(&path).await {
            Ok(()) => artifact_dirs += 1,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(PruneError::Artifacts {
                    run: run.clone(),
                    path,
                    source,
                });
            }
        }
    }
    Ok(PruneReport {
        runs,
        artifact_dirs,
    })
}

impl crate::Engine {
    /// Prunes runs older than `keep_for` now and every `every` after, until the engine stops.
    pub fn start_retention(&self, keep_for: Duration, every: Duration) {
        let (store, artifacts, stop) = (
            self.inner.store.clone(),
            self.inner.artifacts_dir.clone(),
            self.inner.stop.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                match prune(&store, &artifacts, keep_for).await {
                    Ok(report) if report.runs.is_empty() => {}
                    Ok(report) => tracing::info!(
                        runs = report.runs.len(),
                        artifact_dirs = report.artifact_dirs,
                        "pruned runs past the retention period"
                    ),
                    Err(err) => tracing::error!(error = %err, "pruning old runs failed"),
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
            }
        });
        self.inner
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetlr_store::{NewRun, NewTarget, Priority, RunState, TriggerKind};

    fn new_run() -> NewRun {
        NewRun {
            tenant: "lab".into(),
            playbook_name: "triage".into(),
            playbook_sha256: "00".repeat(32),
            playbook_source: String::new(),
            parameters: serde_json::json!({}),
            started_by: "test".into(),
            trigger_kind: TriggerKind::Cli,
            trigger_ref: None,
            priority: Priority::Collection,
            expires_at: chrono::Utc::now() + chrono::TimeDelta::days(1),
            max_failure_percent: None,
            canary: None,
            library: serde_json::json!({}),
            alert: None,
            target_spec: serde_json::json!({}),
            alert_claim: None,
        }
    }

    #[tokio::test]
    async fn ended_runs_go_with_their_files_and_open_runs_and_the_audit_log_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("fleetlr.db"))
            .await
            .expect("store");
        let artifacts = dir.path().join("artifacts");
        let target = [NewTarget {
            device_id: "d1".into(),
            device_name: None,
            inactive_recheck_at: None,
        }];
        let mut runs = Vec::new();
        for state in [
            RunState::Finished,
            RunState::Cancelled,
            RunState::Running,
            RunState::Paused,
        ] {
            let id = store.create_run(&new_run(), &target).await.expect("run");
            store
                .set_run_state(&id, state, "test")
                .await
                .expect("state");
            std::fs::create_dir_all(artifacts.join(&id).join("d1")).expect("artifact dir");
            std::fs::write(artifacts.join(&id).join("d1/c0-0-x.zip"), "x").expect("artifact");
            runs.push(id);
        }
        store
            .audit(
                "alice",
                "operator",
                "run.create",
                None,
                "ok",
                &serde_json::json!({}),
            )
            .await
            .expect("audited");
        // Nothing ended a day ago yet.
        let report = prune(&store, &artifacts, Duration::from_secs(86_400))
            .await
            .expect("pruned");
        assert_eq!(report, PruneReport::default());
        let report = prune(&store, &artifacts, Duration::ZERO)
            .await
            .expect("pruned");
        let mut ended = runs[..2].to_vec();
        ended.sort();
        assert_eq!(report.runs, ended);
        assert_eq!(report.artifact_dirs, 2);
        for id in &runs[..2] {
            assert!(store.run(id).await.is_err(), "{id} removed");
            assert!(store.targets(id).await.expect("targets").is_empty());
            assert!(store.events(id).await.expect("events").is_empty());
            assert!(!artifacts.join(id).exists());
        }
        for id in &runs[2..] {
            assert!(store.run(id).await.is_ok(), "open run {id} kept");
            assert!(artifacts.join(id).exists());
        }
        assert_eq!(store.audit_log(10).await.expect("audit").len(), 1);
    }
}
