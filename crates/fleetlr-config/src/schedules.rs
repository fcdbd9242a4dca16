//! The configuration's `schedules:` block: playbooks run on cron expressions. Checked offline
//! here (cron, time zone, tenant, playbook file, targets); the daemon checks the rest (the
//! playbook compiles, the parameters bind) when it stores them at start-up.

use std::collections::BTreeMap;
use std::path::Path;

use fleetlr_store::{MissedPolicy, OverlapPolicy, Priority, ScheduleDef};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScheduleFile {
    name: String,
    cron: String,
    #[serde(default = "utc")]
    timezone: String,
    playbook: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    targets: TargetsFile,
    #[serde(default)]
    parameters: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    priority: Option<PriorityFile>,
    #[serde(default)]
    missed: MissedFile,
    #[serde(default)]
    overlap: OverlapFile,
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    #[serde(default)]
    devices: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    rbac_group_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PriorityFile {
    Response,
    Collection,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MissedFile {
    #[default]
    RunOnce,
    Skip,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OverlapFile {
    #[default]
    Skip,
    Queue,
}

impl ScheduleFile {
    pub(super) fn into_def(self) -> ScheduleDef {
        let parameters: BTreeMap<String, String> = self
            .parameters
            .into_iter()
            .map(|(name, value)| (name, fleetlr_engine::parameter_text(value)))
            .collect();
        ScheduleDef {
            name: self.name,
            cron: self.cron,
            timezone: self.timezone,
            playbook: self.playbook,
            tenant: self.tenant,
            targets: serde_json::to_value(&self.targets).unwrap_or_default(),
            parameters: serde_json::to_value(parameters).unwrap_or_default(),
            priority: self.priority.map(|p| match p {
                PriorityFile::Response => Priority::Response,
                PriorityFile::Collection => Priority::Collection,
            }),
            missed: match self.missed {
                MissedFile::RunOnce => MissedPolicy::RunOnce,
                MissedFile::Skip => MissedPolicy::Skip,
            },
            overlap: match self.overlap {
                OverlapFile::Skip => OverlapPolicy::Skip,
                OverlapFile::Queue => OverlapPolicy::Queue,
            },
        }
    }
}

/// Every problem of the configured schedules that can be seen without the daemon.
pub(super) fn problems(
    defs: &[ScheduleDef],
    tenants: &[&str],
    playbooks_dir: &Path,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, def) in defs.iter().enumerate() {
        let mut say =
            |problem: String| problems.push(format!("schedule `{}`: {problem}", def.name));
        if defs[..i].iter().any(|d| d.name == def.name) {
            say("the name is already used by an earlier schedule: give each its own `name`".into());
        }
        if let Err(problem) = fleetlr_engine::schedules::Timing::parse(&def.cron, &def.timezone) {
            say(problem);
        }
        if let Some(tenant) = &def.tenant
            && !tenants.contains(&tenant.as_str())
        {
            say(format!(
                "`tenant` `{tenant}` is not a configured tenant ({}): use one of their names",
                tenants.join(", ")
            ));
        }
        let file = playbooks_dir.join(format!("{}.yaml", def.playbook));
        if playbooks_dir.is_dir() && !file.is_file() {
            say(format!(
                "`playbook` `{}`: there is no {}: name a playbook of `playbooks_dir`",
                def.playbook,
                file.display()
            ));
        }
        let targets = &def.targets;
        let empty = ["devices", "tags", "rbac_group_ids"]
            .iter()
            .all(|key| targets[key].as_array().is_none_or(Vec::is_empty))
            && targets["filter"].is_null();
        if empty {
            say("`targets` is empty: give devices, tags, rbac_group_ids or a filter".into());
        }
    }
    problems
}
