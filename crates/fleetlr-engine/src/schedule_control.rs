//! What callers (configuration, REST API) do with schedules through the `Engine`: every
//! schedule is checked like a run request before it is stored (cron, time zone, tenant,
//! playbook, parameters, targets), and the engine fires them as a `schedules::Firer`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use fleetlr_store::{Firing, Schedule, ScheduleDef, ScheduleSource, StoreError};

use crate::schedules::{self, FireError, Firer, SystemClock, Timing, WallClock};
use crate::{ControlError, Engine, PlaybookRef, RunRequest, TargetSpec, Trigger};

/// A schedule as listed: with its next fire time and what became of its latest one.
#[derive(Debug, Clone)]
pub struct ScheduleStatus {
    pub schedule: Schedule,
    /// In the schedule's time zone (its offset then); none while paused.
    pub next_fire_at: Option<DateTime<FixedOffset>>,
    pub last_firing: Option<Firing>,
}

/// Why a schedule change was refused. Messages name the schedule and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule `{name}`: {problem}")]
    Invalid { name: String, problem: String },
    #[error("schedule `{0}` not found")]
    NotFound(String),
    #[error("a schedule named `{0}` exists: remove it first or choose another name")]
    Exists(String),
    #[error(
        "schedule `{0}` is defined in the daemon's configuration file: remove it there and restart"
    )]
    FromConfig(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ScheduleError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { id, .. } => Self::NotFound(id),
            other => Self::Store(other),
        }
    }
}

impl Engine {
    /// Starts the loop that fires schedules on the system clock; it stops with the engine.
    pub fn start_schedules(&self) {
        let clock: Arc<dyn WallClock> = Arc::new(SystemClock);
        let (store, engine) = (self.inner.store.clone(), self.clone());
        let task = tokio::spawn(schedules::run_loop(
            clock,
            self.inner.schedules_changed.clone(),
            self.inner.stop.clone(),
            move |now| {
                let (store, engine) = (store.clone(), engine.clone());
                async move { schedules::tick(&store, &engine, now).await }
            },
        ));
        self.inner
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    /// Every schedule, with its next fire time (what `fleetlr schedules list` and the web
    /// console show).
    pub async fn schedules(&self) -> Result<Vec<ScheduleStatus>, ScheduleError> {
        let now = Utc::now();
        let store = &self.inner.store;
        let mut listed = Vec::new();
        for schedule in store.schedules().await? {
            let last_firing = store
                .firings(&schedule.def.name, 1)
                .await?
                .into_iter()
                .next();
            listed.push(ScheduleStatus {
                next_fire_at: schedules::next_fire_at(&schedule, now),
                schedule,
                last_firing,
            });
        }
        Ok(listed)
    }

    pub async fn schedule(&self, name: &str) -> Result<ScheduleStatus, ScheduleError> {
        self.schedules()
            .await?
            .into_iter()
            .find(|s| s.schedule.def.name == name)
            .ok_or_else(|| ScheduleError::NotFound(name.to_owned()))
    }

    /// Every problem of a schedule that can be found without calling the API.
    pub fn check_schedule(&self, def: &ScheduleDef) -> Result<(), ScheduleError> {
        let invalid = |problem: String| ScheduleError::Invalid {
            name: def.name.clone(),
            problem,
        };
        if !is_schedule_name(&def.name) {
            return Err(invalid(
                "a name holds only letters, digits, `-`, `_` and `.`, starts with a letter or digit and is at most 64 long".into(),
            ));
        }
        Timing::parse(&def.cron, &def.timezone).map_err(invalid)?;
        if let Some(tenant) = &def.tenant
            && !self.inner.tenants.contains_key(tenant)
        {
            return Err(invalid(format!(
                "unknown tenant `{tenant}`; the configured tenants are {}",
                self.tenant_names().join(", ")
            )));
        }
        let request = run_request(def);
        if request.targets.is_empty() {
            return Err(invalid(ControlError::NoTargets.to_string()));
        }
        self.check_request(&request)
            .map(|_| ())
            .map_err(|err| invalid(err.to_string()))
    }

    /// Replaces the configuration's schedules (at start-up), each checked first.
    pub async fn configure_schedules(&self, defs: &[ScheduleDef]) -> Result<(), ScheduleError> {
        for def in defs {
            self.check_schedule(def)?;
        }
        self.inner
            .store
            .sync_config_schedules(defs, Utc::now())
            .await?;
        self.inner.schedules_changed.notify_one();
        Ok(())
    }

    /// Adds a schedule; its first fire time is the first one after now.
    pub async fn add_schedule(
        &self,
        def: &ScheduleDef,
        by: &str,
    ) -> Result<ScheduleStatus, ScheduleError> {
        self.check_schedule(def)?;
        self.inner
            .store
            .add_schedule(def, by, Utc::now())
            .await
            .map_err(|err| match err {
                StoreError::Conflict(_) => ScheduleError::Exists(def.name.clone()),
                other => other.into(),
            })?;
        self.inner.schedules_changed.notify_one();
        self.schedule(&def.name).await
    }

    /// Removes a schedule added through the API; its runs stay.
    pub async fn remove_schedule(&self, name: &str) -> Result<(), ScheduleError> {
        let store = &self.inner.store;
        if store.schedule(name).await?.source == ScheduleSource::Config {
            return Err(ScheduleError::FromConfig(name.to_owned()));
        }
        store.remove_schedule(name).await?;
        self.inner.schedules_changed.notify_one();
        Ok(())
    }

    /// Pauses (no fire time fires) or resumes (from the next fire time on) a schedule.
    pub async fn set_schedule_paused(
        &self,
        name: &str,
        paused: bool,
    ) -> Result<ScheduleStatus, ScheduleError> {
        self.inner
            .store
            .set_schedule_paused(name, paused, Utc::now())
            .await?;
        self.inner.schedules_changed.notify_one();
        self.schedule(name).await
    }
}

impl Firer for Engine {
    async fn fire(&self, schedule: &Schedule, slot: DateTime<Utc>) -> Result<String, FireError> {
        let name = schedule.def.name.as_str();
        match self
            .create(run_request(&schedule.def), Some((name, slot)))
            .await
        {
            Ok(id) => Ok(id),
            Err(ControlError::Store(StoreError::Conflict(_))) => Err(FireError::AlreadyDecided),
            Err(err) => Err(FireError::Refused(err.to_string())),
        }
    }
}

/// The run request a schedule makes at each fire time.
fn run_request(def: &ScheduleDef) -> RunRequest {
    let strings = |key: &str| -> Vec<String> {
        def.targets[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let parameters: BTreeMap<String, String> = def
        .parameters
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), crate::parameter_text(v.clone())))
                .collect()
        })
        .unwrap_or_default();
    RunRequest {
        tenant: def.tenant.clone(),
        playbook: PlaybookRef::Named(def.playbook.clone()),
        targets: TargetSpec {
            devices: strings("devices"),
            tags: strings("tags"),
            rbac_group_ids: strings("rbac_group_ids"),
            filter: def.targets["filter"].as_str().map(str::to_owned),
        },
        parameters,
        priority: def.priority,
        started_by: format!("schedule:{}", def.name),
        trigger: Trigger::Schedule,
        ..RunRequest::default()
    }
}

/// Names appear in URLs, the CLI and run records.
fn is_schedule_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
