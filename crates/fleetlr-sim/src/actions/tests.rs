use super::*;
use crate::devices::build_fleet;
use crate::scenario::Scenario;

struct Fixture {
    scenario: Scenario,
    devices: Vec<Device>,
    groups: Vec<crate::devices::Group>,
    epoch: DateTime<Utc>,
}

fn fixture(text: &str) -> Fixture {
    let scenario: Scenario = fleetlr_playbook::yaml::from_str("s", text).expect("scenario");
    let epoch = Utc::now();
    let (groups, devices) = build_fleet(&scenario, 1, 3, epoch);
    Fixture {
        scenario,
        devices,
        groups,
        epoch,
    }
}

impl Fixture {
    fn behaviour(&self) -> Behaviour<'_> {
        Behaviour {
            seed: 3,
            scripts: &self.scenario.scripts,
            files: &self.scenario.files,
            timing: &self.scenario.timing,
            offline_queue_ttl: Duration::from_secs(3 * 86_400),
            groups: &self.groups,
        }
    }

    /// Creates an action at the epoch and advances it to `at` seconds after it.
    fn run(&mut self, commands: Vec<CommandKind>, at: i64) -> Action {
        let request = ActionRequest {
            kind: ActionKind::LiveResponse,
            device: 0,
            requestor: "app".into(),
            comment: None,
            commands,
        };
        let mut action = Action::new("a".into(), request, self.epoch, Duration::from_secs(3));
        let behaviour = Behaviour { ..self.behaviour() };
        let mut device = self.devices[0].clone();
        action.advance(&mut device, &behaviour, self.epoch + TimeDelta::seconds(at));
        action
    }
}

fn script(name: &str) -> CommandKind {
    CommandKind::RunScript {
        script_name: name.into(),
        args: None,
    }
}

fn get(path: &str) -> CommandKind {
    CommandKind::GetFile { path: path.into() }
}

#[test]
fn a_script_then_get_file_succeeds_with_results() {
    let mut f = fixture("scripts: {t.ps1: {duration: 60s, exit_code: 3, output: hi}}");
    let running = f.run(vec![script("t.ps1"), get("C:\\out.zip")], 30);
    assert_eq!(running.status, ActionStatus::InProgress);
    assert_eq!(running.commands[0].status, CommandStatus::Created);
    assert!(running.commands[0].start.is_some());
    let done = f.run(vec![script("t.ps1"), get("C:\\out.zip")], 3600);
    assert_eq!(done.status, ActionStatus::Succeeded);
    assert!(matches!(
        done.commands[0].result,
        Some(CommandResult::Transcript { exit_code: 3, .. })
    ));
    assert!(matches!(
        done.commands[1].result,
        Some(CommandResult::File { size: 16384, .. })
    ));
}

#[test]
fn a_failed_command_leaves_the_rest_not_executed() {
    let mut f = fixture("scripts: {t.ps1: {rules: [{outcome: fail, errors: boom}]}}");
    let done = f.run(vec![script("t.ps1"), get("C:\\out.zip")], 3600);
    assert_eq!(done.status, ActionStatus::Failed);
    assert_eq!(done.commands[0].status, CommandStatus::Failed);
    assert_eq!(done.commands[0].errors, vec!["boom".to_owned()]);
    assert_eq!(done.commands[1].status, CommandStatus::Created);
    assert!(done.commands[1].start.is_none());
}

#[test]
fn a_script_longer_than_ten_minutes_times_out() {
    let mut f = fixture("scripts: {slow.ps1: {duration: 11m}}");
    let done = f.run(vec![script("slow.ps1")], 3600);
    assert_eq!(done.status, ActionStatus::TimeOut);
    let command = &done.commands[0];
    assert_eq!(
        command
            .end
            .zip(command.start)
            .map(|(e, s)| (e - s).num_seconds()),
        Some(600)
    );
}

#[test]
fn an_offline_device_keeps_the_action_pending_until_it_returns() {
    let mut f = fixture("fleet: {offline: [{fraction: 1.0, until: 2h}]}");
    assert_eq!(
        f.run(vec![script("t.ps1")], 3600).status,
        ActionStatus::Pending
    );
    assert_eq!(
        f.run(vec![script("t.ps1")], 3 * 3600).status,
        ActionStatus::Succeeded
    );
}

#[test]
fn the_offline_queue_expires_into_timeout() {
    let mut f = fixture("fleet: {offline: [{fraction: 1.0}]}");
    let done = f.run(vec![script("t.ps1")], 4 * 86_400);
    assert_eq!(done.status, ActionStatus::TimeOut);
    assert_eq!((done.updated - done.created).num_days(), 3);
}

#[test]
fn a_missing_file_fails_get_file() {
    let mut f = fixture("files: {rules: [{path: 'C:\\gone\\*', missing: true}]}");
    let done = f.run(vec![get("C:\\GONE\\x.zip")], 3600);
    assert_eq!(done.status, ActionStatus::Failed);
}

#[test]
fn a_device_dropping_off_mid_command_fails_it() {
    let mut f = fixture(
        "scripts: {t.ps1: {duration: 5m}}\ndevices: [{name: d, offline: [{from: 2m, until: 1h}]}]",
    );
    f.devices.swap(0, 1);
    let done = f.run(vec![script("t.ps1")], 600);
    assert_eq!(done.status, ActionStatus::Failed);
    assert!(done.commands[0].errors[0].contains("disconnected"));
}

#[test]
fn cancel_only_applies_to_unfinished_actions() {
    let mut f = fixture("{}");
    let mut action = f.run(vec![script("t.ps1")], 1);
    assert!(action.cancel("me".into(), Some("stop".into()), f.epoch));
    assert_eq!(action.status, ActionStatus::Cancelled);
    assert!(!action.cancel("me".into(), None, f.epoch));
}

#[test]
fn json_has_the_documented_shape() {
    let mut f = fixture("{}");
    let action = f.run(vec![script("t.ps1")], 0);
    let json = action.to_json(&f.devices[0]);
    assert_eq!(json["type"], "LiveResponse");
    assert_eq!(json["status"], "Pending");
    assert_eq!(json["requestSource"], "PublicApi");
    assert_eq!(json["commands"][0]["commandStatus"], "Created");
    assert_eq!(
        json["commands"][0]["command"]["params"][0]["key"],
        "ScriptName"
    );
    assert_eq!(
        json["creationDateTimeUtc"].as_str().map(|s| s.len()),
        Some(28)
    );
}
