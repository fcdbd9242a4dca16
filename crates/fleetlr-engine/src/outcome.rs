//! How a finished machine action becomes one outcome per command and the target's next move.
//! Pure: the same action always gives the same records, which is what makes a resumed run end
//! with exactly the records of an uninterrupted one.

use fleetlr_defender::models::{ActionStatus, CommandStatus, MachineAction};
use fleetlr_playbook::{Command, OnFailure, RenderedCall, RenderedCommand};
use fleetlr_store::{CommandType, NewOutcome, OutcomeKind, TargetState};

/// Where a target goes after a call, before times are attached (see `fleetlr_store::CallEnd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue {
        next_call: u32,
    },
    Ends(TargetState),
    /// Withdrawn before any command started: the device is offline; try the call again later.
    DeviceOffline,
}

pub fn command_type(command: &Command) -> CommandType {
    match command {
        Command::PutFile { .. } => CommandType::PutFile,
        Command::RunScript { .. } => CommandType::RunScript,
        Command::GetFile { .. } => CommandType::GetFile,
    }
}

/// An outcome with no evidence yet.
pub fn bare(
    call_index: u32,
    index: usize,
    command: &RenderedCommand,
    outcome: OutcomeKind,
) -> NewOutcome {
    NewOutcome {
        call_index,
        command_index: index as u32,
        step_id: command.step_id.to_string(),
        command_type: command_type(&command.command),
        outcome,
        started_at: None,
        ended_at: None,
        errors: Vec::new(),
        exit_code: None,
        output_preview: None,
        artifact_path: None,
        artifact_sha256: None,
        artifact_bytes: None,
        capture_retry: None,
    }
}

/// The error on a command fleetlr cancelled while withdrawing an action that had just started.
pub const WITHDRAWN_AS_STARTED: &str = "the device came online and started this as fleetlr withdrew the action (it had waited too long for a pickup); it may have partly run, so fleetlr did not send it again: retry the target to run it";

/// Judges a final action for call `call_index` of `calls`. `run_cancelling` says whether a
/// cancellation of the action was the run's own; `withdrawn`, whether fleetlr asked MDE to
/// cancel it because the device seemed offline.
pub fn judge(
    calls: &[RenderedCall],
    call_index: u32,
    action: &MachineAction,
    run_cancelling: bool,
    withdrawn: bool,
) -> (Vec<NewOutcome>, Next) {
    let Some(call) = calls.get(call_index as usize) else {
        return (Vec::new(), Next::Ends(TargetState::Failed));
    };
    let started = |i: usize| {
        action
            .commands
            .iter()
            .find(|c| c.index as usize == i)
            .is_some_and(|c| c.start_time.is_some() || c.command_status != CommandStatus::Created)
    };
    let nothing_started = (0..call.commands.len()).all(|i| !started(i));
    let mut failed_step: Option<(usize, OutcomeKind)> = None;
    let mut outcomes: Vec<NewOutcome> = call
        .commands
        .iter()
        .enumerate()
        .map(|(i, command)| {
            let reported = action.commands.iter().find(|c| c.index as usize == i);
            let kind = match reported.map(|c| &c.command_status) {
                Some(CommandStatus::Completed) => OutcomeKind::Completed,
                Some(CommandStatus::Failed) if action.status == ActionStatus::TimeOut => {
                    OutcomeKind::TimedOut
                }
                Some(CommandStatus::Failed) => OutcomeKind::Failed,
                _ => match &action.status {
                    // MDE gave up before the device took the action: it never came online.
                    ActionStatus::TimeOut if nothing_started => OutcomeKind::Expired,
                    ActionStatus::Cancelled => OutcomeKind::Cancelled,
                    _ if failed_step.is_some() => OutcomeKind::NotExecuted,
                    ActionStatus::TimeOut => OutcomeKind::TimedOut,
                    // Succeeded with a command not reported done, or a status we do not know:
                    // we cannot claim it ran.
                    _ => OutcomeKind::Failed,
                },
            };
            if failed_step.is_none() && kind != OutcomeKind::Completed {
                failed_step = Some((i, kind));
            }
            let mut outcome = bare(call_index, i, command, kind);
            if let Some(reported) = reported {
                outcome.started_at = reported.start_time.map(|t| t.to_rfc3339());
                outcome.ended_at = reported.end_time.map(|t| t.to_rfc3339());
                outcome.errors = reported.errors.clone();
            }
            outcome
        })
        .collect();
    let last_call = call_index as usize + 1 >= calls.len();
    let carry_on = || {
        if last_call {
            Next::Ends(TargetState::Succeeded)
        } else {
            Next::Continue {
                next_call: call_index + 1,
            }
        }
    };
    let next = match (&action.status, failed_step) {
        (ActionStatus::Cancelled, _) if run_cancelling => Next::Ends(TargetState::Cancelled),
        // fleetlr withdrew a Pending action from an offline device; nothing ran.
        (ActionStatus::Cancelled, _) if nothing_started => Next::DeviceOffline,
        (ActionStatus::Cancelled, _) if withdrawn => {
            // The device came back and started the call just as fleetlr withdrew it: a command
            // may have partly run, so it is not sent again behind the operator's back.
            for outcome in &mut outcomes {
                if outcome.outcome == OutcomeKind::Cancelled {
                    outcome.errors.push(WITHDRAWN_AS_STARTED.to_owned());
                }
            }
            Next::Ends(TargetState::Failed)
        }
        (ActionStatus::Cancelled, _) => Next::Ends(TargetState::Cancelled),
        (_, None) => carry_on(),
        (_, Some((i, kind))) => {
            let tolerated = call.commands[i].on_failure == OnFailure::Continue
                && !matches!(kind, OutcomeKind::Expired | OutcomeKind::Cancelled);
            match kind {
                _ if tolerated => carry_on(),
                OutcomeKind::Expired => Next::Ends(TargetState::Expired),
                OutcomeKind::TimedOut => Next::Ends(TargetState::TimedOut),
                _ => Next::Ends(TargetState::Failed),
            }
        }
    };
    (outcomes, next)
}

/// Outcomes for every command from call `from_call` on, when the target ends without running
/// them (expired, cancelled while queued, refused by the API). `first` is the outcome of the
/// first such command, with `error`; the rest are `rest`.
pub fn unrun(
    calls: &[RenderedCall],
    from_call: u32,
    first: OutcomeKind,
    rest: OutcomeKind,
    error: Option<&str>,
) -> Vec<NewOutcome> {
    let mut outcomes = Vec::new();
    for (call_index, call) in calls.iter().enumerate().skip(from_call as usize) {
        for (i, command) in call.commands.iter().enumerate() {
            let kind = if outcomes.is_empty() { first } else { rest };
            let mut outcome = bare(call_index as u32, i, command, kind);
            if outcomes.is_empty()
                && let Some(error) = error
            {
                outcome.errors.push(error.to_owned());
            }
            outcomes.push(outcome);
        }
    }
    outcomes
}

#[cfg(test)]
mod tests;
