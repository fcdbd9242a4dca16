//! The JSON the REST API speaks, shared with the CLI so both sides read the same shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/runs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRun {
    /// A playbook from the daemon's playbook directory, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbook: Option<String>,
    /// Or a playbook sent with the request (YAML), with `name` naming it in the records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbook_yaml: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default)]
    pub targets: Targets,
    /// Parameter values; numbers and booleans are taken as their text.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// `response` or `collection`; the playbook's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Like `3d`, `12h`, `30m`; the playbook's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failure_percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<u32>,
    /// Who asked; recorded and put in every action's Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub rbac_group_ids: Vec<String>,
    #[serde(default)]
    pub filter: Option<String>,
}

/// A run with its progress.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub tenant: String,
    pub playbook: String,
    pub playbook_sha256: String,
    pub started_by: String,
    /// `cli`, `api`, `webhook` or `schedule`.
    pub trigger: String,
    /// What started it: the schedule's name for `schedule`, the hook, alert and rule for
    /// `webhook`.
    pub trigger_ref: Option<String>,
    pub priority: String,
    pub state: String,
    pub pause_reason: Option<String>,
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    #[schema(value_type = Object)]
    pub target_spec: serde_json::Value,
    pub max_failure_percent: Option<u8>,
    pub canary: Option<u32>,
    pub expires_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
    /// Targets per state (only states that occur).
    pub targets: BTreeMap<String, u64>,
    pub progress: Progress,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    pub ended: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TargetView {
    pub id: i64,
    pub device_id: String,
    pub device_name: Option<String>,
    pub state: String,
    pub call_index: u32,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub offline_count: u32,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutcomeView {
    pub id: i64,
    pub target_id: i64,
    pub device_id: String,
    pub machine_action_id: Option<String>,
    pub attempt: Option<u32>,
    pub call_index: u32,
    pub command_index: u32,
    pub step_id: String,
    pub command_type: String,
    pub outcome: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub errors: Vec<String>,
    pub exit_code: Option<i64>,
    pub output_preview: Option<String>,
    pub artifact: Option<ArtifactView>,
    pub recorded_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArtifactView {
    pub path: String,
    pub sha256: Option<String>,
    pub bytes: Option<u64>,
    /// Where to download it from this API.
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub target_id: Option<i64>,
    pub at: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// The answer of `POST /api/v1/runs/{id}/retry`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Retried {
    pub requeued: u64,
    pub run: RunView,
}

/// Every error, everywhere: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// `POST /api/v1/tokens` (admin).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Letters, digits, `-`, `_`, `.` or `@` (`auth::token_name_problem` says why).
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub name: String,
    pub role: String,
    pub created_at: String,
    pub created_by: String,
    pub revoked_at: Option<String>,
}

impl From<fleetlr_store::ApiToken> for TokenView {
    fn from(token: fleetlr_store::ApiToken) -> Self {
        Self {
            name: token.name,
            role: token.role.as_str().to_owned(),
            created_at: token.created_at,
            created_by: token.created_by,
            revoked_at: token.revoked_at,
        }
    }
}

/// The answer to creating a token: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub subject: Option<String>,
    pub outcome: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// The answer to a delivery on `POST /hooks/{name}` (202): what became of it per device and
/// rule, and the runs it started (already stored).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HookAccepted {
    /// Groups the delivery's records in `GET /api/v1/alerts`.
    pub delivery: String,
    pub alert_id: Option<String>,
    pub runs: Vec<String>,
    pub results: Vec<HookResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HookResult {
    pub device: Option<String>,
    pub rule: Option<String>,
    /// `started`, `duplicate`, `suppressed`, `ignored` or `failed`.
    pub outcome: String,
    pub reason: String,
    /// The run started, or the one that covers a duplicate or suppressed alert.
    pub run_id: Option<String>,
}

/// `POST /api/v1/hooks/{name}/test`: what a payload would do, nothing created.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HookTest {
    pub hook: String,
    /// The alert as the hook's mapping reads it; absent when the payload maps to nothing.
    pub alert: Option<TestedAlert>,
    /// Why the payload maps to nothing, or why no rule applies.
    pub ignored: Option<String>,
    /// One decision per device and rule taking this hook's alerts.
    pub decisions: Vec<RuleDecision>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TestedAlert {
    pub id: String,
    pub fields: BTreeMap<String, String>,
    pub devices: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleDecision {
    pub rule: String,
    pub device: String,
    pub fires: bool,
    /// Why the rule does not fire; empty when it does.
    pub reason: String,
    /// The run a delivery would create.
    pub run: Option<PlannedRun>,
    /// When the delivery history stands in the way: `duplicate: …` (this alert already
    /// started its run here) or `suppressed: …` (the rule's cooldown), with the run.
    pub history: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlannedRun {
    pub playbook: String,
    /// The tenant; the daemon's first when absent.
    pub tenant: Option<String>,
    pub priority: String,
    pub device: String,
    pub parameters: BTreeMap<String, String>,
    /// The alert fields the run gets (`{{ alert.NAME }}`).
    pub alert: BTreeMap<String, String>,
    pub started_by: String,
    pub trigger_ref: String,
    /// At most one run of this rule per device in this period.
    pub cooldown: Option<String>,
}

/// One recorded decision about a delivery (`GET /api/v1/alerts`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AlertDeliveryView {
    pub id: i64,
    pub delivery: String,
    pub received_at: String,
    pub hook: String,
    pub alert_id: Option<String>,
    pub device_id: Option<String>,
    pub rule: Option<String>,
    /// `started`, `duplicate`, `suppressed`, `ignored`, `refused` or `failed`.
    pub outcome: String,
    pub reason: String,
    /// The run started, or the one that covered a duplicate or suppressed delivery.
    pub run_id: Option<String>,
}

/// `POST /api/v1/schedules`: a playbook run at each fire time of a cron expression.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    /// Letters, digits, `-`, `_` and `.`; runs name it in `trigger_ref`.
    pub name: String,
    /// Five fields: minute hour day-of-month month day-of-week, e.g. `0 2 * * *`.
    pub cron: String,
    /// IANA time zone the expression is read in (`Europe/Paris`); `UTC` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// A playbook from the daemon's playbook directory, by name.
    pub playbook: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default)]
    pub targets: Targets,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// `response` or `collection`; the playbook's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Fire times missed while the daemon was down: `run_once` (default: the latest fires
    /// once at start-up) or `skip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed: Option<String>,
    /// A fire time while the previous run is still open: `skip` (default) or `queue` (fire
    /// when it ends; one waits at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<String>,
}

/// A schedule, its next fire time and what became of its latest one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    pub name: String,
    /// `config` (from the daemon's configuration file) or `api`.
    pub source: String,
    pub cron: String,
    pub timezone: String,
    pub playbook: String,
    pub tenant: Option<String>,
    #[schema(value_type = Object)]
    pub targets: serde_json::Value,
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    pub priority: Option<String>,
    pub missed: String,
    pub overlap: String,
    pub paused: bool,
    /// The next fire time (UTC); none while paused.
    pub next_fire_at: Option<String>,
    /// The same instant on the clocks of `timezone` (RFC 3339 with that zone's offset then).
    pub next_fire_local: Option<String>,
    /// A fire time waiting for the previous run to end.
    pub queued_fire_time: Option<String>,
    pub last_firing: Option<FiringView>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// What became of one fire time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FiringView {
    pub fire_time: String,
    /// `fired`, `skipped_overlap`, `skipped_missed` or `failed`.
    pub outcome: String,
    pub run_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}
