//! The scheduler that drives every target of every run to a recorded outcome inside the
//! platform's limits: per tenant, a loop that paces `runliveresponse` calls, shares session
//! slots (with a reserve for response runs), serves response runs first and runs of one priority
//! in turn, keeps offline devices in its own queue, polls in batches, captures results, and
//! resumes exactly where SQLite says after a crash. `Engine` is the handle callers use to
//! start and control runs; it also fires cron schedules (`schedules`) and prunes old runs
//! (`retention`).
//!
//! It decides *when* and *what*; it never formats HTTP itself (that is `fleetlr-defender`) and
//! never writes SQL (that is `fleetlr-store`).

pub mod artifacts;
pub mod budget;
pub mod control;
pub mod fairness;
pub mod library_sync;
pub mod metrics;
mod mix;
pub mod outcome;
pub mod pacer;
pub mod pickup;
pub mod playbooks;
mod recapture;
pub mod reconcile;
pub mod retention;
mod schedule_control;
pub mod schedules;
pub mod slots;
pub mod targets;
mod wall_clock;
mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleetlr_defender::DefenderClient;
use fleetlr_store::{NewRun, NewTarget, RunState, Store, TriggerKind};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use control::{ControlError, PlaybookRef, RunRequest, TargetSpec, Trigger, parameter_text};
pub use fleetlr_config::Limits;
pub use fleetlr_store::Priority;
pub use playbooks::PlaybookDir;
pub use schedule_control::{ScheduleError, ScheduleStatus};

use worker::{Tenant, Worker};

/// One tenant the engine drives.
pub struct TenantSetup {
    pub name: String,
    pub client: DefenderClient,
    pub limits: Limits,
}

/// Everything the engine needs besides the store.
pub struct EngineSetup {
    pub tenants: Vec<TenantSetup>,
    pub playbooks: PlaybookDir,
    pub artifacts_dir: PathBuf,
}

/// A handle on the running engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    tenants: BTreeMap<String, Arc<Tenant>>,
    default_tenant: String,
    playbooks: PlaybookDir,
    artifacts_dir: PathBuf,
    stop: CancellationToken,
    grace: Arc<Mutex<Duration>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// Tells the schedule loop that schedules were added, removed, paused or resumed.
    schedules_changed: Arc<tokio::sync::Notify>,
}

impl Engine {
    /// Starts one scheduler per tenant. Each first loads what a previous process left in
    /// flight; `is_ready` says when all have.
    pub fn start(store: Store, setup: EngineSetup) -> Self {
        let stop = CancellationToken::new();
        let grace = Arc::new(Mutex::new(Duration::from_secs(30)));
        let default_tenant = setup
            .tenants
            .first()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let tenants: BTreeMap<String, Arc<Tenant>> = setup
            .tenants
            .into_iter()
            .map(|t| {
                (
                    t.name.clone(),
                    Arc::new(Tenant::new(t.name, t.client, t.limits)),
                )
            })
            .collect();
        let workers = tenants
            .values()
            .map(|tenant| {
                let worker = Worker::new(
                    tenant.clone(),
                    store.clone(),
                    setup.artifacts_dir.clone(),
                    stop.clone(),
                );
                tokio::spawn(worker.run(grace.clone()))
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                store,
                tenants,
                default_tenant,
                playbooks: setup.playbooks,
                artifacts_dir: setup.artifacts_dir,
                stop,
                grace,
                workers: Mutex::new(workers),
                schedules_changed: Arc::default(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn artifacts_dir(&self) -> &Path {
        &self.inner.artifacts_dir
    }

    pub fn playbooks(&self) -> &PlaybookDir {
        &self.inner.playbooks
    }

    pub fn tenant_names(&self) -> Vec<String> {
        self.inner.tenants.keys().cloned().collect()
    }

    /// Whether every tenant's scheduler has loaded its state and is scheduling.
    pub fn is_ready(&self) -> bool {
        !self.inner.stop.is_cancelled()
            && self
                .inner
                .tenants
                .values()
                .all(|t| t.ready.load(Ordering::SeqCst))
    }

    /// Validates a request, resolves its targets, puts its library files in place, and stores
    /// the run. Once this returns the run is durable and will be driven to the end.
    #[tracing::instrument(name = "create_run", skip_all, fields(started_by = %request.started_by))]
    pub async fn create_run(&self, request: RunRequest) -> Result<String, ControlError> {
        self.create(request, None).await
    }

    /// [`Engine::create_run`]; with `firing`, the run of that schedule's fire time, stored
    /// together with the record that the time fired (refused if it was already decided).
    async fn create(
        &self,
        request: RunRequest,
        firing: Option<(&str, chrono::DateTime<chrono::Utc>)>,
    ) -> Result<String, ControlError> {
        let tenant_name = request
            .tenant
            .clone()
            .unwrap_or_else(|| self.inner.default_tenant.clone());
        let tenant = self
            .inner
            .tenants
            .get(&tenant_name)
            .ok_or_else(|| ControlError::UnknownTenant(tenant_name.clone()))?;
        let CheckedRequest {
            name,
            source,
            compiled,
            catalogue,
        } = self.check_request(&request)?;
        let playbooks = &self.inner.playbooks;
        let devices = targets::resolve(&tenant.client, &tenant.budget, &request.targets).await?;
        let files: Vec<&str> = compiled
            .library_files()
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let local = playbooks
            .library_files(&files)
            .map_err(|err| ControlError::Library(format!("reading library files: {err}")))?;
        let client = &tenant.client;
        library_sync::sync_library(client, &tenant.budget, &local)
            .await
            .map_err(|err| ControlError::Library(err.to_string()))?;
        let policy = &compiled.playbook.policy;
        let priority = request
            .priority
            .unwrap_or_else(|| run_priority(policy.priority));
        let expires_after = request.expires_after.unwrap_or(policy.expires_after);
        let expires_at = tenant.clock.now()
            + chrono::TimeDelta::from_std(tenant.limits.wall(expires_after))
                .unwrap_or(chrono::TimeDelta::MAX);
        let used: BTreeMap<String, fleetlr_playbook::FileFacts> = catalogue
            .files
            .into_iter()
            .filter(|(file, _)| files.contains(&file.as_str()))
            .collect();
        let new_run = NewRun {
            tenant: tenant_name,
            playbook_name: name,
            playbook_sha256: playbooks::sha256_hex(source.as_bytes()),
            playbook_source: source,
            parameters: serde_json::to_value(&request.parameters).unwrap_or_default(),
            started_by: request.started_by.clone(),
            trigger_kind: match request.trigger {
                Trigger::Cli => TriggerKind::Cli,
                Trigger::Api => TriggerKind::Api,
                Trigger::Webhook => TriggerKind::Webhook,
                Trigger::Schedule => TriggerKind::Schedule,
            },
            trigger_ref: firing
                .map(|(schedule, _)| schedule.to_owned())
                .or_else(|| request.trigger_ref.clone()),
            priority,
            expires_at,
            max_failure_percent: request.max_failure_percent.or(policy.max_failure_percent),
            canary: request.canary.or(Some(policy.canary).filter(|n| *n > 0)),
            library: playbooks::facts_to_json(&used),
            alert: request
                .alert
                .as_ref()
                .and_then(|alert| serde_json::to_value(alert).ok()),
            target_spec: serde_json::json!({
                "devices": request.targets.devices,
                "tags": request.targets.tags,
                "rbac_group_ids": request.targets.rbac_group_ids,
                "filter": request.targets.filter,
            }),
            alert_claim: request.alert_claim,
        };
        // Devices MDE already reports inactive wait in fleetlr's queue, not in a session slot.
        let recheck_at = tenant.clock.now()
            + chrono::TimeDelta::from_std(tenant.limits.wall(tenant.limits.inactive_recheck))
                .unwrap_or(chrono::TimeDelta::MAX);
        let new_targets: Vec<NewTarget> = devices
            .into_iter()
            .map(|d| NewTarget {
                device_id: d.id,
                device_name: d.name,
                inactive_recheck_at: (!d.active).then_some(recheck_at),
            })
            .collect();
        let store = &self.inner.store;
        let id = match firing {
            Some((schedule, slot)) => {
                store
                    .create_scheduled_run(schedule, slot, &new_run, &new_targets)
                    .await?
            }
            None => store.create_run(&new_run, &new_targets).await?,
        };
        tenant.wake.notify_one();
        Ok(id)
    }

    /// Reads and compiles a request's playbook and binds its parameters: everything about a
    /// request that can be checked without calling the API.
    fn check_request(&self, request: &RunRequest) -> Result<CheckedRequest, ControlError> {
        let playbooks = &self.inner.playbooks;
        let (name, source) = match &request.playbook {
            PlaybookRef::Named(name) => {
                let file = playbooks
                    .read(name)
                    .map_err(|err| {
                        ControlError::Library(format!("reading playbook `{name}`: {err}"))
                    })?
                    .ok_or_else(|| ControlError::UnknownPlaybook {
                        name: name.clone(),
                        dir: playbooks.dir().display().to_string(),
                    })?;
                (file.name, file.text)
            }
            PlaybookRef::Inline { name, yaml } => (name.clone(), yaml.clone()),
        };
        let catalogue = playbooks.catalogue().map_err(|err| {
            ControlError::Library(format!("reading {}: {err}", playbooks.dir().display()))
        })?;
        let compiled = fleetlr_playbook::load(&name, &source, &catalogue).map_err(|problems| {
            ControlError::InvalidPlaybook {
                name: name.clone(),
                problems: problems.to_string(),
            }
        })?;
        compiled
            .bind_parameters(&request.parameters)
            .map_err(|errors| {
                ControlError::InvalidParameters(
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
        if compiled.needs_alert() {
            let Some(alert) = &request.alert else {
                return Err(ControlError::InvalidParameters(format!(
                    "playbook `{name}` uses alert fields; it can only be started by an alert"
                )));
            };
            // Checked here rather than when rendering, so a run is never stored that could
            // only fail on every device.
            let missing: Vec<&str> = compiled
                .playbook
                .alert_fields
                .iter()
                .map(|field| field.name.as_str())
                .filter(|field| !alert.contains_key(*field))
                .collect();
            if !missing.is_empty() {
                return Err(ControlError::InvalidParameters(format!(
                    "playbook `{name}` needs alert field(s) {} that the alert does not provide",
                    missing.join(", ")
                )));
            }
        }
        Ok(CheckedRequest {
            name,
            source,
            compiled,
            catalogue,
        })
    }

    /// The machine tags of one device (by id or computer name) in a tenant (`None`: the
    /// default one), through the Machines API inside the tenant's budget.
    pub async fn device_tags(
        &self,
        tenant: Option<&str>,
        device: &str,
    ) -> Result<Vec<String>, ControlError> {
        let name = tenant.unwrap_or(&self.inner.default_tenant);
        let tenant = self
            .inner
            .tenants
            .get(name)
            .ok_or_else(|| ControlError::UnknownTenant(name.to_owned()))?;
        targets::machine_tags(&tenant.client, &tenant.budget, device).await
    }

    /// Cancels a run: queued targets end as cancelled, actions in flight are cancelled through
    /// the API.
    pub async fn cancel_run(&self, id: &str, by: &str) -> Result<(), ControlError> {
        let run = self.open_run(id, "cancel").await?;
        self.inner
            .store
            .set_run_state(id, RunState::Cancelling, &format!("cancelled by {by}"))
            .await?;
        self.wake(&run.tenant);
        Ok(())
    }

    /// Stops submitting a run's targets; actions in flight finish and are recorded.
    pub async fn pause_run(&self, id: &str, by: &str) -> Result<(), ControlError> {
        let run = self.open_run(id, "pause").await?;
        if !matches!(run.state, RunState::Queued | RunState::Running) {
            return Err(invalid(id, run.state, "pause"));
        }
        self.inner
            .store
            .set_run_state(id, RunState::Paused, &format!("paused by {by}"))
            .await?;
        Ok(())
    }

    /// Resumes a paused run. A run paused by its canary or circuit breaker resumes without
    /// them: the operator has seen the failures and decided.
    pub async fn resume_run(&self, id: &str, by: &str) -> Result<(), ControlError> {
        let run = self.open_run(id, "resume").await?;
        if run.state != RunState::Paused {
            return Err(invalid(id, run.state, "resume"));
        }
        let store = &self.inner.store;
        if run
            .pause_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("canary") || r.starts_with("circuit breaker"))
        {
            store.clear_guards(id).await?;
        }
        store
            .set_run_state(id, RunState::Running, &format!("resumed by {by}"))
            .await?;
        self.wake(&run.tenant);
        Ok(())
    }

    /// Queues a run's failed, timed-out and expired targets again, inside the same run.
    pub async fn retry_run(&self, id: &str, by: &str) -> Result<u64, ControlError> {
        let store = &self.inner.store;
        let run = store.run(id).await.map_err(|err| not_found(id, err))?;
        if matches!(run.state, RunState::Cancelled | RunState::Cancelling) {
            return Err(invalid(id, run.state, "retry"));
        }
        let retried = store.retry_targets(id, by).await?;
        // Retried targets get the full expiry window again.
        self.wake(&run.tenant);
        Ok(retried)
    }

    /// Stops scheduling: no new submissions; result captures get `grace` to end. What is in
    /// flight stays recorded and is resumed by the next start.
    pub async fn shutdown(&self, grace: Duration) {
        *self.inner.grace.lock().unwrap_or_else(|p| p.into_inner()) = grace;
        self.inner.stop.cancel();
        let workers: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.inner.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for worker in workers {
            if tokio::time::timeout(grace + Duration::from_secs(1), worker)
                .await
                .is_err()
            {
                tracing::warn!("a tenant scheduler did not stop within the grace period");
            }
        }
    }

    async fn open_run(
        &self,
        id: &str,
        action: &'static str,
    ) -> Result<fleetlr_store::Run, ControlError> {
        let run = self
            .inner
            .store
            .run(id)
            .await
            .map_err(|err| not_found(id, err))?;
        if run.state.is_terminal() || run.state == RunState::Cancelling {
            return Err(invalid(id, run.state, action));
        }
        Ok(run)
    }

    fn wake(&self, tenant: &str) {
        if let Some(tenant) = self.inner.tenants.get(tenant) {
            tenant.wake.notify_one();
        }
    }
}

/// A priority as written in a playbook or an alert rule, as runs are stored with it.
pub fn run_priority(priority: fleetlr_playbook::Priority) -> Priority {
    match priority {
        fleetlr_playbook::Priority::Response => Priority::Response,
        fleetlr_playbook::Priority::Collection => Priority::Collection,
    }
}

/// A request's playbook, compiled, with the catalogue it was compiled against.
struct CheckedRequest {
    name: String,
    source: String,
    compiled: fleetlr_playbook::CompiledPlaybook,
    catalogue: fleetlr_playbook::Catalogue,
}

fn invalid(id: &str, state: RunState, action: &'static str) -> ControlError {
    ControlError::InvalidState {
        id: id.to_owned(),
        state: state.as_str(),
        action,
    }
}

fn not_found(id: &str, err: fleetlr_store::StoreError) -> ControlError {
    match err {
        fleetlr_store::StoreError::NotFound { .. } => ControlError::UnknownRun(id.to_owned()),
        other => ControlError::Store(other),
    }
}
