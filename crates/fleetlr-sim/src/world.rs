//! The whole simulated tenant behind one lock: devices, actions, library, identities, limits,
//! faults and the statistics tests read back.

use crate::actions::{Action, ActionKind, ActionRequest, ActionStatus, Behaviour};
use crate::clock::SimClock;
use crate::config::SimArgs;
use crate::devices::{Device, Group, build_fleet};
use crate::limits::SlidingWindow;
use crate::scenario::{
    AppSpec, FaultKind, FaultSpec, FilesSpec, Scenario, ScriptSpec, Timing, mix, unit,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

/// Every application permission the API knows; the default app holds all of them.
pub const ALL_ROLES: &[&str] = &[
    "Machine.Read.All",
    "Machine.ReadWrite.All",
    "Machine.LiveResponse",
    "Machine.Isolate",
    "Library.Manage",
];

pub struct App {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// DER of the app's registered certificate, for client assertions.
    pub certificate_der: Option<Vec<u8>>,
    pub roles: Vec<String>,
}

pub struct IssuedToken {
    pub app: usize,
    pub expires: Instant,
}

#[derive(Debug, Clone, Serialize)]
pub struct LibraryFile {
    pub name: String,
    pub sha256: String,
    pub description: Option<String>,
    pub parameters_description: Option<String>,
    pub has_parameters: bool,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub created_by: String,
}

/// A fault and how much of it is left.
#[derive(Debug)]
pub struct ActiveFault {
    pub spec: FaultSpec,
    pub starts: DateTime<Utc>,
    pub ends: Option<DateTime<Utc>>,
    pub hits: u64,
    pub seen: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct EndpointStats {
    pub calls: u64,
    pub statuses: BTreeMap<u16, u64>,
}

/// Counters tests and benchmarks read from `GET /_sim/stats`.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub endpoints: BTreeMap<String, EndpointStats>,
    /// Limits the simulator had to enforce, by limit (`rate_limit`, `session_cap`, `api_per_minute`,
    /// `api_per_hour`, `active_request_exists`, `disallowed_operation`).
    pub limits_enforced: BTreeMap<String, u64>,
    /// 429 responses served, whatever the cause (limits and injected storms).
    pub throttled_429: u64,
    pub peak_sessions: usize,
    pub faults_injected: BTreeMap<String, u64>,
    /// Every access token the token endpoint issued, in order, so a test can look for them
    /// wherever a client might have leaked them (revoking tokens does not forget them here).
    pub tokens_issued: Vec<String>,
}

pub struct World {
    pub args: SimArgs,
    pub clock: SimClock,
    pub seed: u64,
    pub groups: Vec<Group>,
    pub devices: Vec<Device>,
    device_ids: HashMap<String, usize>,
    device_names: HashMap<String, usize>,
    pub scripts: BTreeMap<String, ScriptSpec>,
    pub files: FilesSpec,
    pub timing: Timing,
    pub library: BTreeMap<String, LibraryFile>,
    pub actions: Vec<Action>,
    action_ids: HashMap<String, usize>,
    active: Vec<usize>,
    pub apps: Vec<App>,
    pub tokens: HashMap<String, IssuedToken>,
    pub lr_window: SlidingWindow,
    api_windows: HashMap<String, (SlidingWindow, SlidingWindow)>,
    pub faults: Vec<ActiveFault>,
    pub stats: Stats,
    pub secret: u64,
    counter: u64,
}

/// Why the service refused to create a live response action.
pub enum CreateRefusal {
    Busy,
    SessionCap,
}

impl World {
    pub fn new(args: SimArgs, scenario: Scenario, clock: SimClock) -> Self {
        let seed = args.seed;
        let epoch = clock.epoch();
        let (groups, devices) = build_fleet(&scenario, args.devices, seed, epoch);
        let device_ids = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.clone(), i))
            .collect();
        let device_names = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.to_lowercase(), i))
            .collect();
        let mut apps = vec![App {
            client_id: args.client_id.clone(),
            client_secret: Some(args.client_secret.clone()),
            certificate_der: None,
            roles: ALL_ROLES.iter().map(|r| (*r).to_owned()).collect(),
        }];
        apps.extend(scenario.apps.iter().map(|app: &AppSpec| {
            App {
                client_id: app.client_id.clone(),
                client_secret: app.client_secret.clone(),
                certificate_der: app
                    .certificate_pem
                    .as_deref()
                    .and_then(crate::http::assertion::pem_to_der),
                roles: app.roles.clone(),
            }
        }));
        let library = scenario
            .library
            .iter()
            .map(|seed_file| {
                let file = new_library_file(
                    &seed_file.name,
                    bytes::Bytes::from(seed_file.content.clone().into_bytes()),
                    seed_file.description.clone(),
                    None,
                    false,
                    "admin",
                    epoch,
                );
                (seed_file.name.clone(), file)
            })
            .collect();
        let faults = scenario
            .faults
            .iter()
            .map(|spec| activate_fault(spec.clone(), epoch, seed))
            .collect();
        Self {
            lr_window: SlidingWindow::new(args.rate_limit_per_minute, TimeDelta::seconds(60)),
            seed,
            groups,
            devices,
            device_ids,
            device_names,
            scripts: scenario.scripts,
            files: scenario.files,
            timing: scenario.timing,
            library,
            actions: Vec::new(),
            action_ids: HashMap::new(),
            active: Vec::new(),
            apps,
            tokens: HashMap::new(),
            api_windows: HashMap::new(),
            faults,
            stats: Stats::default(),
            secret: mix(seed, "blob-signing-key") ^ rand::random::<u64>(),
            counter: 0,
            clock,
            args,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Brings every unfinished action up to `now`.
    pub fn advance(&mut self, now: DateTime<Utc>) {
        let behaviour = Behaviour {
            seed: self.seed,
            scripts: &self.scripts,
            files: &self.files,
            timing: &self.timing,
            offline_queue_ttl: self.args.offline_queue_ttl,
            groups: &self.groups,
        };
        let actions = &mut self.actions;
        let devices = &mut self.devices;
        self.active.retain(|&i| {
            let action = &mut actions[i];
            !action.advance(&mut devices[action.device], &behaviour, now)
        });
    }

    pub fn device_index(&self, id_or_name: &str) -> Option<usize> {
        self.device_ids
            .get(id_or_name)
            .or_else(|| self.device_names.get(&id_or_name.to_lowercase()))
            .copied()
    }

    pub fn action_index(&self, id: &str) -> Option<usize> {
        self.action_ids.get(id).copied()
    }

    /// Live response sessions in use: InProgress actions, and Pending ones when they count.
    pub fn sessions_in_use(&self) -> usize {
        self.active
            .iter()
            .filter(|&&i| {
                let action = &self.actions[i];
                action.kind == ActionKind::LiveResponse
                    && (action.status == ActionStatus::InProgress
                        || (self.args.pending_counts_as_session
                            && action.status == ActionStatus::Pending))
            })
            .count()
    }

    /// The unfinished action of `kind` on a device, if any.
    pub fn active_action_on(&self, device: usize, kind: ActionKind) -> Option<usize> {
        self.active
            .iter()
            .copied()
            .find(|&i| self.actions[i].device == device && self.actions[i].kind == kind)
    }

    /// Creates an action after the per-device and session checks.
    pub fn create_action(
        &mut self,
        request: ActionRequest,
        now: DateTime<Utc>,
    ) -> Result<usize, CreateRefusal> {
        let (kind, device) = (request.kind, request.device);
        if self.active_action_on(device, kind).is_some() {
            return Err(CreateRefusal::Busy);
        }
        if kind == ActionKind::LiveResponse
            && self.sessions_in_use() >= self.args.max_sessions as usize
        {
            return Err(CreateRefusal::SessionCap);
        }
        self.counter += 1;
        let id = uuid_from(
            mix(self.seed, &format!("action/{}", self.counter)),
            self.counter,
        );
        let dispatch = self
            .timing
            .dispatch
            .pick(unit(self.seed, &format!("dispatch/{id}")));
        let index = self.actions.len();
        self.actions
            .push(Action::new(id.clone(), request, now, dispatch));
        self.action_ids.insert(id, index);
        self.active.push(index);
        self.stats.peak_sessions = self.stats.peak_sessions.max(self.sessions_in_use());
        Ok(index)
    }

    /// Checks the 100/min and 1,500/hour budgets of one endpoint; `Err` carries Retry-After seconds.
    pub fn check_api_budget(
        &mut self,
        endpoint: &str,
        now: DateTime<Utc>,
    ) -> Result<(), (u64, &'static str)> {
        let (minute, hour) = self
            .api_windows
            .entry(endpoint.to_owned())
            .or_insert_with(|| {
                (
                    SlidingWindow::new(self.args.api_limit_per_minute, TimeDelta::seconds(60)),
                    SlidingWindow::new(self.args.api_limit_per_hour, TimeDelta::hours(1)),
                )
            });
        minute.check(now).map_err(|wait| (wait, "api_per_minute"))?;
        hour.check(now).map_err(|wait| (wait, "api_per_hour"))?;
        minute.record(now);
        hour.record(now);
        Ok(())
    }

    pub fn count_limit(&mut self, limit: &str) {
        *self
            .stats
            .limits_enforced
            .entry(limit.to_owned())
            .or_default() += 1;
    }

    pub fn record_response(&mut self, endpoint: &str, status: u16) {
        let entry = self.stats.endpoints.entry(endpoint.to_owned()).or_default();
        entry.calls += 1;
        *entry.statuses.entry(status).or_default() += 1;
        if status == 429 {
            self.stats.throttled_429 += 1;
        }
    }

    /// The fault, if any, to apply to this request to `endpoint`.
    pub fn take_fault(&mut self, endpoint: &str, now: DateTime<Utc>) -> Option<FaultKind> {
        let seed = self.seed;
        for (i, fault) in self.faults.iter_mut().enumerate() {
            let applies = fault.spec.endpoint == "*" || fault.spec.endpoint == endpoint;
            let live = now >= fault.starts
                && fault.ends.is_none_or(|ends| now < ends)
                && fault.spec.count.is_none_or(|count| fault.hits < count);
            if !(applies && live) {
                continue;
            }
            fault.seen += 1;
            let hit = fault
                .spec
                .probability
                .is_none_or(|p| unit(seed, &format!("fault/{i}/{}", fault.seen)) < p);
            if hit {
                fault.hits += 1;
                let kind = fault.spec.kind.clone();
                let name = match &kind {
                    FaultKind::Status { status } => format!("status_{status}"),
                    FaultKind::Slow { .. } => "slow".to_owned(),
                    FaultKind::DropBefore => "drop_before".to_owned(),
                    FaultKind::DropAfter => "drop_after".to_owned(),
                };
                *self.stats.faults_injected.entry(name).or_default() += 1;
                return Some(kind);
            }
        }
        None
    }

    pub fn add_fault(&mut self, spec: FaultSpec) {
        let now = self.now();
        self.faults.push(activate_fault(spec, now, self.seed));
    }

    /// Signature of a result link, so links cannot be forged or extended.
    pub fn sign(&self, text: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{}:{text}", self.secret));
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest)
    }
}

fn activate_fault(spec: FaultSpec, from: DateTime<Utc>, seed: u64) -> ActiveFault {
    let pick = |range: Option<&crate::scenario::DurationRange>, key: &str| {
        range.map_or(Duration::ZERO, |r| r.pick(unit(seed, key)))
    };
    let starts = from
        + TimeDelta::from_std(pick(spec.after.as_ref(), "fault/after"))
            .unwrap_or(TimeDelta::zero());
    let ends = spec.lasting.as_ref().map(|r| {
        starts + TimeDelta::from_std(r.pick(unit(seed, "fault/lasting"))).unwrap_or(TimeDelta::MAX)
    });
    ActiveFault {
        spec,
        starts,
        ends,
        hits: 0,
        seen: 0,
    }
}

pub fn new_library_file(
    name: &str,
    content: bytes::Bytes,
    description: Option<String>,
    parameters_description: Option<String>,
    has_parameters: bool,
    created_by: &str,
    now: DateTime<Utc>,
) -> LibraryFile {
    use sha2::Digest;
    let sha256 = sha2::Sha256::digest(&content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    LibraryFile {
        name: name.to_owned(),
        sha256,
        description,
        parameters_description,
        has_parameters,
        created: now,
        updated: now,
        created_by: created_by.to_owned(),
    }
}

/// A version-4-shaped UUID from deterministic bits, so action ids repeat for a seed.
fn uuid_from(bits: u64, counter: u64) -> String {
    let low = mix(bits, &counter.to_string());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        bits >> 32,
        (bits >> 16) & 0xffff,
        bits & 0xfff,
        0x8000 | (low >> 48 & 0x3fff),
        low & 0xffff_ffff_ffff
    )
}
