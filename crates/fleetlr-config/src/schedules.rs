//! The configuration's `schedules:` block: playbooks run on cron expressions. Checked offline
//! here (cron and time zone through [`ReferenceChecks`], tenant, playbook file, targets); the
//! daemon checks the rest (the playbook compiles, the parameters bind) when it stores them at
//! start-up.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::ReferenceChecks;

/// One schedule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    pub name: String,
    pub cron: String,
    #[serde(default = "utc")]
    pub timezone: String,
    pub playbook: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub targets: TargetsFile,
    #[serde(default)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub priority: Option<PriorityFile>,
    #[serde(default)]
    pub missed: MissedFile,
    #[serde(default)]
    pub overlap: OverlapFile,
}

fn utc() -> String {
    "UTC".into()
}

/// `targets:` the devices a schedule's runs go to, as the store keeps them (JSON).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub rbac_group_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityFile {
    Response,
    Collection,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedFile {
    #[default]
    RunOnce,
    Skip,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapFile {
    #[default]
    Skip,
    Queue,
}

/// Every problem of the configured schedules that can be seen without the daemon.
pub(super) fn problems(
    defs: &[ScheduleFile],
    tenants: &[&str],
    playbooks_dir: &Path,
    refs: &impl ReferenceChecks,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, def) in defs.iter().enumerate() {
        let mut say =
            |problem: String| problems.push(format!("schedule `{}`: {problem}", def.name));
        if defs[..i].iter().any(|d| d.name == def.name) {
            say("the name is already used by an earlier schedule: give each its own `name`".into());
        }
        if let Err(problem) = refs.timing(&def.cron, &def.timezone) {
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
        let empty = targets.devices.is_empty()
            && targets.tags.is_empty()
            && targets.rbac_group_ids.is_empty()
            && targets.filter.is_none();
        if empty {
            say("`targets` is empty: give devices, tags, rbac_group_ids or a filter".into());
        }
    }
    problems
}
