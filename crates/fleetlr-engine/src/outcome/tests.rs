use super::*;
use fleetlr_defender::models::MachineAction;
use fleetlr_playbook::{Catalogue, FileFacts, RenderedCall, TemplateContext};
use std::collections::BTreeMap;

/// A call of run-script steps, compiled and rendered the way a run does it.
fn call(steps: &[(&str, OnFailure)]) -> RenderedCall {
    let mut yaml = String::from("name: t\ndescription: t\nsteps:\n");
    let mut catalogue = Catalogue::new("scripts");
    for (step, on_failure) in steps {
        let policy = match on_failure {
            OnFailure::Stop => "stop",
            OnFailure::Continue => "continue",
        };
        yaml.push_str(&format!(
            "  - id: {step}\n    run_script: {step}.ps1\n    on_failure: {policy}\n"
        ));
        catalogue.files.insert(
            format!("{step}.ps1"),
            FileFacts {
                size: 1,
                sha256: "00".repeat(32),
            },
        );
    }
    let compiled =
        fleetlr_playbook::load("t.yaml", &yaml, &catalogue).expect("test playbook compiles");
    let params = BTreeMap::new();
    let ctx = TemplateContext {
        run_id: "r",
        device_id: "d",
        device_name: "d",
        params: &params,
        alert: None,
    };
    let mut calls = fleetlr_playbook::render(&compiled, &ctx).expect("renders");
    assert_eq!(calls.len(), 1, "run-script steps share one call");
    calls.remove(0)
}

fn action(status: &str, commands: &[(&str, bool)]) -> MachineAction {
    serde_json::from_value(serde_json::json!({
        "id": "a1",
        "status": status,
        "commands": commands.iter().enumerate().map(|(i, (s, started))| serde_json::json!({
            "index": i,
            "commandStatus": s,
            "startTime": if *started { Some("2026-11-23T10:00:00Z") } else { None },
            "errors": if *s == "Failed" { vec!["boom"] } else { vec![] },
        })).collect::<Vec<_>>(),
    }))
    .expect("machine action")
}

fn kinds(outcomes: &[fleetlr_store::NewOutcome]) -> Vec<OutcomeKind> {
    outcomes.iter().map(|o| o.outcome).collect()
}

#[test]
fn a_succeeded_call_moves_on_and_the_last_one_ends_the_target() {
    let calls = [
        call(&[("a", OnFailure::Stop)]),
        call(&[("b", OnFailure::Stop)]),
    ];
    let done = action("Succeeded", &[("Completed", true)]);
    let (outcomes, next) = judge(&calls, 0, &done, false, false);
    assert_eq!(kinds(&outcomes), [OutcomeKind::Completed]);
    assert_eq!(next, Next::Continue { next_call: 1 });
    assert_eq!(
        judge(&calls, 1, &done, false, false).1,
        Next::Ends(TargetState::Succeeded)
    );
}

#[test]
fn commands_after_a_failure_are_not_executed() {
    let calls = [call(&[
        ("a", OnFailure::Stop),
        ("b", OnFailure::Stop),
        ("c", OnFailure::Stop),
    ])];
    let failed = action(
        "Failed",
        &[("Completed", true), ("Failed", true), ("Created", false)],
    );
    let (outcomes, next) = judge(&calls, 0, &failed, false, false);
    assert_eq!(
        kinds(&outcomes),
        [
            OutcomeKind::Completed,
            OutcomeKind::Failed,
            OutcomeKind::NotExecuted
        ]
    );
    assert_eq!(outcomes[1].errors, ["boom"]);
    assert_eq!(next, Next::Ends(TargetState::Failed));
}

#[test]
fn a_tolerated_failure_lets_the_target_go_on() {
    let calls = [
        call(&[("a", OnFailure::Continue)]),
        call(&[("b", OnFailure::Stop)]),
    ];
    let failed = action("Failed", &[("Failed", true)]);
    assert_eq!(
        judge(&calls, 0, &failed, false, false).1,
        Next::Continue { next_call: 1 }
    );
}

#[test]
fn a_script_timeout_and_an_offline_expiry_are_told_apart() {
    let calls = [call(&[("a", OnFailure::Stop), ("b", OnFailure::Stop)])];
    let timed_out = action("TimeOut", &[("Failed", true), ("Created", false)]);
    let (outcomes, next) = judge(&calls, 0, &timed_out, false, false);
    assert_eq!(
        kinds(&outcomes),
        [OutcomeKind::TimedOut, OutcomeKind::NotExecuted]
    );
    assert_eq!(next, Next::Ends(TargetState::TimedOut));
    let never_started = action("TimeOut", &[("Created", false), ("Created", false)]);
    let (outcomes, next) = judge(&calls, 0, &never_started, false, false);
    assert_eq!(
        kinds(&outcomes),
        [OutcomeKind::Expired, OutcomeKind::Expired]
    );
    assert_eq!(next, Next::Ends(TargetState::Expired));
}

#[test]
fn a_withdrawn_pending_action_is_an_offline_device_unless_the_run_was_cancelled() {
    let calls = [call(&[("a", OnFailure::Stop)])];
    let cancelled = action("Cancelled", &[("Created", false)]);
    assert_eq!(
        judge(&calls, 0, &cancelled, false, false).1,
        Next::DeviceOffline
    );
    let (outcomes, next) = judge(&calls, 0, &cancelled, true, false);
    assert_eq!(kinds(&outcomes), [OutcomeKind::Cancelled]);
    assert_eq!(next, Next::Ends(TargetState::Cancelled));
    let started = action("Cancelled", &[("Created", true)]);
    assert_eq!(
        judge(&calls, 0, &started, false, false).1,
        Next::Ends(TargetState::Cancelled)
    );
    // Started just as fleetlr withdrew it: not offline, not the operator's cancellation, and
    // not sent again, since it may have partly run.
    let (outcomes, next) = judge(&calls, 0, &started, false, true);
    assert_eq!(next, Next::Ends(TargetState::Failed));
    assert_eq!(kinds(&outcomes), [OutcomeKind::Cancelled]);
    assert_eq!(outcomes[0].errors, [WITHDRAWN_AS_STARTED]);
    assert_eq!(
        judge(&calls, 0, &cancelled, false, true).1,
        Next::DeviceOffline
    );
}

#[test]
fn unrun_commands_get_an_outcome_each_from_the_given_call_on() {
    let calls = [
        call(&[("a", OnFailure::Stop)]),
        call(&[("b", OnFailure::Stop), ("c", OnFailure::Stop)]),
    ];
    let outcomes = unrun(
        &calls,
        1,
        OutcomeKind::Failed,
        OutcomeKind::NotExecuted,
        Some("refused"),
    );
    assert_eq!(
        kinds(&outcomes),
        [OutcomeKind::Failed, OutcomeKind::NotExecuted]
    );
    assert_eq!((outcomes[0].call_index, outcomes[0].errors.len()), (1, 1));
}
