//! What callers (REST API, CLI, webhooks, schedules) ask of the engine, and how it can refuse.

use std::collections::BTreeMap;
use std::time::Duration;

use fleetlr_store::Priority;

/// A request to start a run. Validated and stored before `Engine::create_run` returns.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// Tenant name from the configuration; `None` means the only (or first) tenant.
    pub tenant: Option<String>,
    pub playbook: PlaybookRef,
    pub targets: TargetSpec,
    /// Parameter values as text; checked against the playbook's declarations.
    pub parameters: BTreeMap<String, String>,
    /// Overrides the playbook's priority.
    pub priority: Option<Priority>,
    /// Overrides the playbook's `expires_after`.
    pub expires_after: Option<Duration>,
    pub max_failure_percent: Option<u8>,
    pub canary: Option<u32>,
    /// The person, token or alert that asked; recorded and put into every action's Comment.
    pub started_by: String,
    pub trigger: Trigger,
    /// Alert fields, for runs started by an alert webhook.
    pub alert: Option<BTreeMap<String, String>>,
    /// What started the run, in the trigger's own terms (for a webhook: the hook and alert).
    pub trigger_ref: Option<String>,
    /// The alert claim the run fulfils; the run is stored only if the claim is still held.
    pub alert_claim: Option<fleetlr_store::ClaimToken>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Trigger {
    Cli,
    #[default]
    Api,
    Webhook,
    Schedule,
}

/// A parameter value as playbooks take it: text as written, numbers and booleans as their
/// JSON text (`7`, `true`).
pub fn parameter_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

/// Which playbook: one from the configured playbook directory, or YAML sent with the request.
#[derive(Debug, Clone)]
pub enum PlaybookRef {
    Named(String),
    Inline { name: String, yaml: String },
}

impl Default for PlaybookRef {
    fn default() -> Self {
        Self::Named(String::new())
    }
}

/// The devices of a run: the union of everything given, resolved through the Machines API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetSpec {
    /// Device ids or computer names (`GET /api/machines/{id}` accepts both).
    pub devices: Vec<String>,
    /// Machine tags: every device carrying any of them.
    pub tags: Vec<String>,
    /// RBAC device group ids.
    pub rbac_group_ids: Vec<String>,
    /// An OData `$filter` over `/api/machines`, passed through as written.
    pub filter: Option<String>,
}

impl TargetSpec {
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
            && self.tags.is_empty()
            && self.rbac_group_ids.is_empty()
            && self.filter.is_none()
    }
}

/// Why the engine refused a request. Messages are for the operator: they name the thing and
/// say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "unknown tenant `{0}`; the configured tenants are listed by `fleetlr validate --config`"
    )]
    UnknownTenant(String),
    #[error("no playbook named `{name}` in {dir}")]
    UnknownPlaybook { name: String, dir: String },
    #[error("playbook `{name}` is invalid:\n{problems}")]
    InvalidPlaybook { name: String, problems: String },
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),
    #[error("no targets given: name devices, tags, RBAC groups or an OData filter")]
    NoTargets,
    #[error("targets matched no device: {0}")]
    NoDevicesMatched(String),
    #[error("device `{0}` not found in the tenant")]
    UnknownDevice(String),
    #[error("resolving targets through the Machines API failed: {0}")]
    Resolve(#[source] fleetlr_defender::Error),
    #[error("syncing library files failed: {0}")]
    Library(String),
    #[error("run `{0}` not found")]
    UnknownRun(String),
    #[error("run `{id}` is {state}; {action} is not possible")]
    InvalidState {
        id: String,
        state: &'static str,
        action: &'static str,
    },
    #[error(transparent)]
    Store(#[from] fleetlr_store::StoreError),
}
