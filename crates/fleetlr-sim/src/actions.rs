//! Machine actions and how they move through time on a simulated device.
//!
//! An action is a plan evaluated lazily: `advance(now)` applies every transition due by `now`
//! (dispatch, each command finishing, a device dropping off, the offline queue expiring). Nothing
//! runs in the background, so any read sees exactly the state the timeline implies.

use crate::clock::{format_7, format_millis, format_trimmed};
use crate::devices::Device;
use crate::scenario::{FilesSpec, Outcome, ScriptSpec, Selector, Timing, mix, unit};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// RunScript is stopped by the agent after ten minutes.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionKind {
    LiveResponse,
    Isolate,
    Unisolate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    TimeOut,
    Cancelled,
}

impl ActionStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::InProgress)
    }
}

/// Documented command statuses; a running command stays `Created` with a `startTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CommandStatus {
    Created,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandKind {
    PutFile {
        file_name: String,
    },
    RunScript {
        script_name: String,
        args: Option<String>,
    },
    GetFile {
        path: String,
    },
}

impl CommandKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::PutFile { .. } => "PutFile",
            Self::RunScript { .. } => "RunScript",
            Self::GetFile { .. } => "GetFile",
        }
    }

    pub fn params(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::PutFile { file_name } => vec![("FileName", file_name)],
            Self::RunScript { script_name, args } => {
                let mut params = vec![("ScriptName", script_name.as_str())];
                if let Some(args) = args {
                    params.push(("Args", args.as_str()));
                }
                params
            }
            Self::GetFile { path } => vec![("Path", path)],
        }
    }
}

/// What a finished command produced, downloadable through a result link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandResult {
    Transcript {
        script_name: String,
        exit_code: i64,
        output: String,
        errors: Option<String>,
    },
    File {
        path: String,
        size: u64,
    },
}

#[derive(Debug, Clone)]
pub struct Command {
    pub kind: CommandKind,
    pub status: CommandStatus,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub errors: Vec<String>,
    pub result: Option<CommandResult>,
}

#[derive(Debug, Clone)]
pub struct Cancellation {
    pub requestor: String,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// Where an action is on its timeline.
#[derive(Debug, Clone)]
enum Cursor {
    Queued,
    Running {
        index: usize,
        started: DateTime<Utc>,
        plan: Planned,
    },
    Done,
}

#[derive(Debug, Clone)]
struct Planned {
    ends: DateTime<Utc>,
    finish: Finish,
}

#[derive(Debug, Clone)]
enum Finish {
    Complete(Option<CommandResult>),
    Fail(String),
    TimeOut,
}

#[derive(Debug, Clone)]
pub struct Action {
    pub id: String,
    pub kind: ActionKind,
    pub device: usize,
    pub requestor: String,
    pub comment: Option<String>,
    pub status: ActionStatus,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub cancellation: Option<Cancellation>,
    pub scope: Option<String>,
    pub commands: Vec<Command>,
    dispatch: TimeDelta,
    cursor: Cursor,
}

/// What a caller asked for: an action of `kind` on `device`.
pub struct ActionRequest {
    pub kind: ActionKind,
    pub device: usize,
    pub requestor: String,
    pub comment: Option<String>,
    pub commands: Vec<CommandKind>,
}

/// What the simulated devices know: how scripts behave and which files exist.
pub struct Behaviour<'a> {
    pub seed: u64,
    pub scripts: &'a BTreeMap<String, ScriptSpec>,
    pub files: &'a FilesSpec,
    pub timing: &'a Timing,
    pub offline_queue_ttl: Duration,
    pub groups: &'a [crate::devices::Group],
}

impl Action {
    pub fn new(id: String, request: ActionRequest, now: DateTime<Utc>, dispatch: Duration) -> Self {
        let ActionRequest {
            kind,
            device,
            requestor,
            comment,
            commands,
        } = request;
        Self {
            id,
            kind,
            device,
            requestor,
            comment,
            status: ActionStatus::Pending,
            created: now,
            updated: now,
            cancellation: None,
            scope: None,
            commands: commands
                .into_iter()
                .map(|kind| Command {
                    kind,
                    status: CommandStatus::Created,
                    start: None,
                    end: None,
                    errors: Vec::new(),
                    result: None,
                })
                .collect(),
            dispatch: TimeDelta::from_std(dispatch).unwrap_or(TimeDelta::zero()),
            cursor: Cursor::Queued,
        }
    }

    /// Applies every transition due by `now`. Returns true once the action is final.
    pub fn advance(
        &mut self,
        device: &mut Device,
        world: &Behaviour<'_>,
        now: DateTime<Utc>,
    ) -> bool {
        loop {
            match self.cursor.clone() {
                Cursor::Done => return true,
                Cursor::Queued => {
                    let expires = self.created
                        + TimeDelta::from_std(world.offline_queue_ttl).unwrap_or(TimeDelta::MAX);
                    let start = device
                        .next_online(self.created + self.dispatch)
                        .filter(|s| *s < expires);
                    match start {
                        Some(start) if start <= now => self.start(device, world, start),
                        Some(_) => return false,
                        None if expires <= now => {
                            self.finish(ActionStatus::TimeOut, expires);
                        }
                        None => return false,
                    }
                }
                Cursor::Running {
                    index,
                    started,
                    plan,
                } => {
                    if let Some(off) = device.next_offline(started).filter(|off| *off < plan.ends) {
                        if off > now {
                            return false;
                        }
                        self.fail_command(
                            index,
                            started,
                            off,
                            "The device disconnected while the command was running".into(),
                        );
                        continue;
                    }
                    if plan.ends > now {
                        return false;
                    }
                    match plan.finish {
                        Finish::Complete(result) => {
                            let command = &mut self.commands[index];
                            command.status = CommandStatus::Completed;
                            command.end = Some(plan.ends);
                            command.result = result;
                            self.updated = plan.ends;
                            self.next_command(device, world, index + 1, plan.ends);
                        }
                        Finish::Fail(error) => self.fail_command(index, started, plan.ends, error),
                        Finish::TimeOut => {
                            let command = &mut self.commands[index];
                            command.status = CommandStatus::Failed;
                            command.end = Some(plan.ends);
                            command
                                .errors
                                .push("Script execution timed out after 10 minutes".into());
                            self.finish(ActionStatus::TimeOut, plan.ends);
                        }
                    }
                }
            }
        }
    }

    fn start(&mut self, device: &mut Device, world: &Behaviour<'_>, at: DateTime<Utc>) {
        self.status = ActionStatus::InProgress;
        self.updated = at;
        self.next_command(device, world, 0, at);
    }

    fn next_command(
        &mut self,
        device: &mut Device,
        world: &Behaviour<'_>,
        index: usize,
        at: DateTime<Utc>,
    ) {
        let Some(command) = self.commands.get_mut(index) else {
            match self.kind {
                ActionKind::Isolate => device.isolated = true,
                ActionKind::Unisolate => device.isolated = false,
                ActionKind::LiveResponse => {}
            }
            self.finish(ActionStatus::Succeeded, at);
            return;
        };
        command.start = Some(at);
        let plan = plan_command(&command.kind, device, world, at);
        self.cursor = Cursor::Running {
            index,
            started: at,
            plan,
        };
    }

    /// A failed command fails the action; the commands after it are never executed.
    fn fail_command(
        &mut self,
        index: usize,
        started: DateTime<Utc>,
        at: DateTime<Utc>,
        error: String,
    ) {
        let command = &mut self.commands[index];
        command.status = CommandStatus::Failed;
        command.start = Some(started);
        command.end = Some(at);
        command.errors.push(error);
        self.finish(ActionStatus::Failed, at);
    }

    fn finish(&mut self, status: ActionStatus, at: DateTime<Utc>) {
        self.status = status;
        self.updated = at;
        self.cursor = Cursor::Done;
    }

    /// Cancels a non-final action. The device may still finish a running script; MDE stops
    /// reporting it, so neither do we.
    pub fn cancel(
        &mut self,
        requestor: String,
        comment: Option<String>,
        now: DateTime<Utc>,
    ) -> bool {
        if self.status.is_final() {
            return false;
        }
        self.cancellation = Some(Cancellation {
            requestor,
            comment,
            at: now,
        });
        self.finish(ActionStatus::Cancelled, now);
        true
    }

    /// The MachineAction entity with every field, in the order the service sends them.
    pub fn to_json(&self, device: &Device) -> serde_json::Value {
        let cancellation = self.cancellation.as_ref();
        serde_json::json!({
            "id": self.id,
            "type": self.kind,
            "title": null,
            "requestor": self.requestor,
            "requestorComment": self.comment,
            "status": self.status,
            "machineId": device.id,
            "computerDnsName": device.name,
            "creationDateTimeUtc": format_7(self.created),
            "lastUpdateDateTimeUtc": format_trimmed(self.updated),
            "cancellationRequestor": cancellation.map(|c| &c.requestor),
            "cancellationComment": cancellation.and_then(|c| c.comment.as_ref()),
            "cancellationDateTimeUtc": cancellation.map(|c| format_7(c.at)),
            "errorHResult": 0,
            "scope": self.scope,
            "externalId": null,
            "requestSource": "PublicApi",
            "relatedFileInfo": null,
            "commands": self.commands.iter().enumerate().map(|(index, c)| serde_json::json!({
                "index": index,
                "startTime": c.start.map(format_millis),
                "endTime": c.end.map(format_millis),
                "commandStatus": c.status,
                "errors": c.errors,
                "command": {
                    "type": c.kind.type_name(),
                    "params": c.kind.params().into_iter()
                        .map(|(key, value)| serde_json::json!({"key": key, "value": value}))
                        .collect::<Vec<_>>(),
                },
            })).collect::<Vec<_>>(),
            "troubleshootInfo": null,
        })
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// Decides how a command will end on `device`, deterministically for the seed.
fn plan_command(
    kind: &CommandKind,
    device: &Device,
    world: &Behaviour<'_>,
    at: DateTime<Utc>,
) -> Planned {
    let key = format!(
        "{}/{}",
        device.id,
        kind.params().first().map_or("", |p| p.1)
    );
    match kind {
        CommandKind::PutFile { .. } => Planned {
            ends: at
                + delta(
                    world
                        .timing
                        .put_file
                        .pick(unit(world.seed, &format!("{key}/put"))),
                ),
            finish: Finish::Complete(None),
        },
        CommandKind::GetFile { path } => {
            let fixed = world
                .timing
                .get_file
                .pick(unit(world.seed, &format!("{key}/get")));
            match file_size(world, device, path) {
                Some(size) => {
                    let transfer = Duration::from_secs_f64(
                        size as f64 / world.timing.upload_bytes_per_second.max(1) as f64,
                    );
                    Planned {
                        ends: at + delta(fixed + transfer),
                        finish: Finish::Complete(Some(CommandResult::File {
                            path: path.clone(),
                            size,
                        })),
                    }
                }
                None => Planned {
                    ends: at + delta(fixed),
                    finish: Finish::Fail(format!("File {path} was not found on the device")),
                },
            }
        }
        CommandKind::RunScript { script_name, .. } => {
            plan_script(script_name, device, world, at, &key)
        }
    }
}

fn plan_script(
    script: &str,
    device: &Device,
    world: &Behaviour<'_>,
    at: DateTime<Utc>,
    key: &str,
) -> Planned {
    let spec = world.scripts.get(script);
    let rule = spec.and_then(|spec| {
        spec.rules
            .iter()
            .enumerate()
            .find(|(i, rule)| selects(&rule.when, device, world, &format!("{key}/rule/{i}")))
            .map(|(_, rule)| rule)
    });
    let duration = rule
        .and_then(|r| r.duration)
        .or_else(|| spec.and_then(|s| s.duration))
        .unwrap_or(world.timing.script)
        .pick(unit(world.seed, &format!("{key}/duration")));
    let outcome = rule.map_or(Outcome::Complete, |r| r.outcome);
    if outcome == Outcome::Hang || duration >= SCRIPT_TIMEOUT {
        return Planned {
            ends: at + delta(SCRIPT_TIMEOUT),
            finish: Finish::TimeOut,
        };
    }
    let errors = rule
        .and_then(|r| r.errors.clone())
        .or_else(|| spec.and_then(|s| s.errors.clone()));
    if outcome == Outcome::Fail {
        let message = errors.unwrap_or_else(|| format!("Script {script} failed to run"));
        return Planned {
            ends: at + delta(duration),
            finish: Finish::Fail(message),
        };
    }
    let exit_code = rule
        .and_then(|r| r.exit_code)
        .or_else(|| spec.and_then(|s| s.exit_code))
        .unwrap_or(0);
    let output = rule
        .and_then(|r| r.output.clone())
        .or_else(|| spec.and_then(|s| s.output.clone()))
        .unwrap_or_else(|| format!("{script} completed on {}", device.name));
    let transcript = CommandResult::Transcript {
        script_name: script.to_owned(),
        exit_code,
        output: format!(
            "Transcript started, output file is C:\\ProgramData\\Microsoft\\Windows Defender Advanced Threat Protection\\Temp\\PSScriptOutputs\\PSScript_Transcript_{{{:08X}}}.txt\n{output}",
            mix(world.seed, key) as u32
        ),
        errors,
    };
    Planned {
        ends: at + delta(duration),
        finish: Finish::Complete(Some(transcript)),
    }
}

/// Whether `selector` picks `device`; `key` keeps fractional picks independent per rule.
pub fn selects(selector: &Selector, device: &Device, world: &Behaviour<'_>, key: &str) -> bool {
    let by_device = selector.devices.is_empty()
        || selector
            .devices
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&device.name) || *d == device.id);
    let by_tag = selector.tags.is_empty() || selector.tags.iter().any(|t| device.tags.contains(t));
    let by_group = selector.group.as_ref().is_none_or(|name| {
        device
            .group
            .and_then(|g| world.groups.get(g))
            .is_some_and(|g| &g.name == name)
    });
    // Per device and rule, not per command, so a device that fails a script fails it every time.
    let device_key = format!(
        "{}/{}",
        device.id,
        key.rsplit_once("/rule/").map_or(key, |(_, rule)| rule)
    );
    let by_fraction = selector
        .fraction
        .is_none_or(|f| unit(world.seed, &device_key) < f);
    by_device && by_tag && by_group && by_fraction
}

fn file_size(world: &Behaviour<'_>, device: &Device, path: &str) -> Option<u64> {
    for (i, rule) in world.files.rules.iter().enumerate() {
        if glob_matches(&rule.path, path)
            && selects(&rule.when, device, world, &format!("files/rule/{i}"))
        {
            return if rule.missing {
                None
            } else {
                Some(rule.size.map_or(world.files.default.size.0, |s| s.0))
            };
        }
    }
    (!world.files.default.missing).then_some(world.files.default.size.0)
}

/// Case-insensitive match where `*` stands for any run of characters.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_lowercase();
    let text = text.to_lowercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(stripped) = rest.strip_prefix(part) else {
                return false;
            };
            rest = stripped;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(found) = rest.find(part) else {
                return false;
            };
            rest = &rest[found + part.len()..];
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests;
