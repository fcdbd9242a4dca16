//! A playbook after it has been read and checked: every value here is known to be usable.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::names::{LibraryName, StepId};
use crate::template::Template;

/// A checked playbook, in the order the author wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Playbook {
    pub name: String,
    pub description: String,
    pub parameters: Vec<Parameter>,
    /// Fields an alert webhook must provide; non-empty makes this an alert-started playbook.
    pub alert_fields: Vec<AlertField>,
    pub policy: RunPolicy,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parameter {
    pub name: String,
    pub kind: ParamKind,
    /// `None` makes the parameter required.
    pub default: Option<ParamValue>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    String,
    Int,
    Bool,
    /// One of these strings.
    Enum(Vec<String>),
}

/// A parameter's value, typed by its declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    String(String),
    Int(i64),
    Bool(bool),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::String(s) => f.write_str(s),
            ParamValue::Int(n) => write!(f, "{n}"),
            ParamValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertField {
    pub name: String,
    pub description: String,
}

/// How a run of the playbook behaves unless the run overrides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunPolicy {
    pub priority: Priority,
    /// How long an offline device is waited for before its commands expire.
    #[serde(with = "seconds")]
    pub expires_after: Duration,
    /// Stop launching new devices once more than this share of finished devices failed.
    pub max_failure_percent: Option<u8>,
    /// The first N devices must all succeed before any other device starts.
    pub canary: u32,
}

impl RunPolicy {
    pub const DEFAULT_EXPIRES_AFTER: Duration = Duration::from_secs(3 * 86_400);
    /// fleetlr's own ceiling: a run waiting longer than this is almost surely a typo.
    pub const MAX_EXPIRES_AFTER: Duration = Duration::from_secs(30 * 86_400);
}

impl Default for RunPolicy {
    fn default() -> Self {
        Self {
            priority: Priority::Collection,
            expires_after: Self::DEFAULT_EXPIRES_AFTER,
            max_failure_percent: None,
            canary: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Incident response: served before any collection run.
    Response,
    /// Bulk collection.
    Collection,
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Priority::Response => "response",
            Priority::Collection => "collection",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub id: StepId,
    pub action: Action,
    pub on_failure: OnFailure,
    /// The author's estimate, for planning; `None` uses [`Action::default_duration`].
    #[serde(with = "optional_seconds")]
    pub expected_duration: Option<Duration>,
    pub description: Option<String>,
}

impl Step {
    pub fn expected_duration(&self) -> Duration {
        self.expected_duration
            .unwrap_or_else(|| self.action.default_duration())
    }
}

/// What a step does: one Live Response command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    PutFile {
        file: LibraryFile,
    },
    RunScript {
        script: LibraryFile,
        args: Option<Template>,
    },
    GetFile {
        path: Template,
    },
}

impl Action {
    /// The API's order inside one call: PutFile, then RunScript, then GetFile.
    pub fn phase(&self) -> u8 {
        match self {
            Action::PutFile { .. } => 0,
            Action::RunScript { .. } => 1,
            Action::GetFile { .. } => 2,
        }
    }

    /// The YAML key and API command name of this kind of step.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::PutFile { .. } => "put_file",
            Action::RunScript { .. } => "run_script",
            Action::GetFile { .. } => "get_file",
        }
    }

    /// A planning guess when the author gave none: scripts do the work, transfers are quick.
    pub fn default_duration(&self) -> Duration {
        match self {
            Action::PutFile { .. } => Duration::from_secs(30),
            Action::RunScript { .. } => Duration::from_secs(120),
            Action::GetFile { .. } => Duration::from_secs(60),
        }
    }
}

/// What happens to the rest of a device's steps when this one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The API's own behaviour: later steps are not executed.
    #[default]
    Stop,
    /// Later steps still run.
    Continue,
}

/// A file of the Live Response library that a step uses, with the facts needed to sync it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LibraryFile {
    pub name: LibraryName,
    pub size: u64,
    /// Lower-case hex, as the library API reports it.
    pub sha256: String,
}

/// Facts about a file beside the playbook, supplied by the caller (the crate does no IO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    pub size: u64,
    pub sha256: String,
}

/// The library files available to playbooks: the files in `playbooks/scripts/`, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    pub files: BTreeMap<String, FileFacts>,
    /// Largest file the library accepts.
    pub max_file_bytes: u64,
    /// Where the files live, for messages (e.g. `playbooks/scripts`).
    pub location: String,
}

impl Catalogue {
    /// The library API's documented upload limit is 20 MB (older docs: 4 MB; the portal: 250 MB),
    /// so the default is the documented API value, counted in decimal megabytes to stay under it.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 20_000_000;

    pub fn new(location: impl Into<String>) -> Self {
        Self {
            files: BTreeMap::new(),
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            location: location.into(),
        }
    }
}

mod seconds {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

mod optional_seconds {
    use std::time::Duration;

    // serde's `with` hands over a reference to the field, so the signature is fixed.
    #[allow(clippy::ref_option)]
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }
}

impl Action {
    /// The library file the step uses, if any.
    pub fn library_file(&self) -> Option<&LibraryFile> {
        match self {
            Action::PutFile { file } | Action::RunScript { script: file, .. } => Some(file),
            Action::GetFile { .. } => None,
        }
    }
}
