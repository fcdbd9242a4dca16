//! Packing a playbook's steps into the fewest `runliveresponse` calls the API allows.
//!
//! Inside one call the API runs PutFile commands, then RunScript, then GetFile, and when one
//! command fails the rest of that call is not executed. So a call is a run of consecutive steps
//! whose phases never go backwards, and a step with `on_failure: continue` must be the last of
//! its call: its failure then suppresses nothing. Greedy packing is optimal here because any
//! slice of a valid call is itself a valid call.

use serde::Serialize;

use crate::model::{LibraryFile, OnFailure, Playbook, Step};

/// What the engine executes: the playbook and its steps grouped into API calls.
///
/// Per device, calls run in order. When a command fails, the API marks the rest of its call
/// not executed; the next call then starts only if the failed step has
/// [`OnFailure::Continue`] (such a step is always the last of its call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompiledPlaybook {
    pub playbook: Playbook,
    pub calls: Vec<Call>,
}

/// One `runliveresponse` call: its commands in API order, each a step of the playbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    pub commands: Vec<Step>,
}

impl Call {
    fn accepts(&self, step: &Step) -> bool {
        self.commands.last().is_none_or(|last| {
            last.on_failure == OnFailure::Stop && last.action.phase() <= step.action.phase()
        })
    }
}

/// Groups the steps into calls; a checked playbook always compiles.
pub fn compile(playbook: Playbook) -> CompiledPlaybook {
    let mut calls: Vec<Call> = Vec::new();
    for step in &playbook.steps {
        match calls.last_mut() {
            Some(call) if call.accepts(step) => call.commands.push(step.clone()),
            _ => calls.push(Call {
                commands: vec![step.clone()],
            }),
        }
    }
    CompiledPlaybook { playbook, calls }
}

impl CompiledPlaybook {
    /// The library files the run needs, each once, to sync by content hash before it starts.
    pub fn library_files(&self) -> Vec<&LibraryFile> {
        let mut files: Vec<&LibraryFile> = Vec::new();
        for step in &self.playbook.steps {
            if let Some(file) = step.action.library_file()
                && !files.iter().any(|f| f.name == file.name)
            {
                files.push(file);
            }
        }
        files
    }

    /// Whether runs must be started by an alert that provides the declared fields.
    pub fn needs_alert(&self) -> bool {
        !self.playbook.alert_fields.is_empty()
    }
}
