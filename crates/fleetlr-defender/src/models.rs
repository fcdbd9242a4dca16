//! Wire models. Enums keep values they do not know (`Other`), fields may be missing or null, and
//! timestamps may carry 0 to 7 fractional digits, as the service sends them.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// Declares a string enum that keeps unknown values instead of failing.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name { $($variant,)+ Other(String) }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self { $(Self::$variant => stringify!($variant),)+ Self::Other(other) => other }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok(match text.as_str() { $(stringify!($variant) => Self::$variant,)+ _ => Self::Other(text) })
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

open_enum!(
    /// A machine action's status; `Pending` and `InProgress` are the unfinished ones.
    ActionStatus { Pending, InProgress, Succeeded, Failed, TimeOut, Cancelled }
);
open_enum!(
    /// A command's status within an action (documented: Created, Completed, Failed).
    CommandStatus { Created, Completed, Failed }
);
open_enum!(CommandType {
    PutFile,
    RunScript,
    GetFile
});

impl ActionStatus {
    /// Only the documented final statuses are final: an unknown one keeps being polled rather
    /// than ending a target before the service has.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::TimeOut | Self::Cancelled
        )
    }
}

/// Parses 0–7 fractional digits, with or without a `Z` (some fields omit it).
fn timestamp<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(&text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
        .map(|naive| Some(naive.and_utc()))
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a timestamp")))
}

/// `null` and absence both mean "none" for lists the service sometimes leaves null.
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    pub value: String,
}

/// A command as sent in a runliveresponse body and echoed in the action.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Command {
    #[serde(rename = "type")]
    pub kind: CommandType,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub params: Vec<Param>,
}

impl Command {
    pub fn put_file(file_name: impl Into<String>) -> Self {
        Self {
            kind: CommandType::PutFile,
            params: vec![Param {
                key: "FileName".into(),
                value: file_name.into(),
            }],
        }
    }

    /// `Args` is sent only when given: the service treats it as optional.
    pub fn run_script(script_name: impl Into<String>, args: Option<String>) -> Self {
        let mut params = vec![Param {
            key: "ScriptName".into(),
            value: script_name.into(),
        }];
        params.extend(args.map(|value| Param {
            key: "Args".into(),
            value,
        }));
        Self {
            kind: CommandType::RunScript,
            params,
        }
    }

    pub fn get_file(path: impl Into<String>) -> Self {
        Self {
            kind: CommandType::GetFile,
            params: vec![Param {
                key: "Path".into(),
                value: path.into(),
            }],
        }
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }
}

/// The body of `POST /api/machines/{id}/runliveresponse`: PascalCase at the top, as the
/// service requires (it is case-sensitive).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LiveResponseRequest {
    #[serde(rename = "Commands")]
    pub commands: Vec<Command>,
    #[serde(rename = "Comment")]
    pub comment: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CommandEntry {
    pub index: u32,
    #[serde(default, deserialize_with = "timestamp")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp")]
    pub end_time: Option<DateTime<Utc>>,
    pub command_status: CommandStatus,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub errors: Vec<String>,
    pub command: Command,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MachineAction {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub requestor: Option<String>,
    #[serde(default)]
    pub requestor_comment: Option<String>,
    pub status: ActionStatus,
    #[serde(default)]
    pub machine_id: Option<String>,
    #[serde(default)]
    pub computer_dns_name: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub creation_date_time_utc: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp")]
    pub last_update_date_time_utc: Option<DateTime<Utc>>,
    #[serde(default)]
    pub cancellation_requestor: Option<String>,
    #[serde(default)]
    pub cancellation_comment: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub commands: Vec<CommandEntry>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub id: String,
    #[serde(default)]
    pub computer_dns_name: Option<String>,
    #[serde(default)]
    pub os_platform: Option<String>,
    #[serde(default)]
    pub health_status: Option<String>,
    #[serde(default)]
    pub onboarding_status: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub last_seen: Option<DateTime<Utc>>,
    #[serde(default)]
    pub rbac_group_id: Option<i64>,
    #[serde(default)]
    pub rbac_group_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub machine_tags: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LibraryFile {
    pub file_name: String,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub has_parameters: bool,
    #[serde(default)]
    pub parameters_description: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub last_updated_time: Option<DateTime<Utc>>,
}

/// A RunScript result; `script_errors` may be null or empty.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ScriptTranscript {
    pub script_name: String,
    pub exit_code: i64,
    #[serde(default)]
    pub script_output: Option<String>,
    #[serde(default)]
    pub script_errors: Option<String>,
}

/// One page of an OData collection.
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_capture_parses() {
        let action: MachineAction = serde_json::from_str(r#"{
            "id": "c141bb71", "type": "LiveResponse", "title": null, "requestor": "M365DLiveResponse",
            "requestorComment": "Create Domain Admin", "status": "Succeeded", "machineId": "a9e1",
            "computerDnsName": "dc1", "creationDateTimeUtc": "2023-03-18T21:02:00.3538594Z",
            "lastUpdateDateTimeUtc": "2023-03-18T21:04:41.93163Z", "cancellationRequestor": null,
            "errorHResult": 0, "requestSource": "PublicApi", "relatedFileInfo": null,
            "commands": [{"index": 0, "startTime": null, "endTime": "2023-03-18T21:04:04.693Z",
                "commandStatus": "Completed", "errors": [],
                "command": {"type": "RunScript", "params": [{"key": "ScriptName", "value": "Add-DomainAdmin.ps1"}]}}],
            "troubleshootInfo": null, "somethingNew": 1}"#).expect("capture parses");
        assert_eq!(action.status, ActionStatus::Succeeded);
        assert_eq!(
            action.commands[0].command.param("ScriptName"),
            Some("Add-DomainAdmin.ps1")
        );
        assert!(action.commands[0].start_time.is_none());
        assert_eq!(
            action
                .creation_date_time_utc
                .map(|t| t.timestamp_subsec_nanos()),
            Some(353_859_400)
        );
    }

    #[test]
    fn unknown_values_are_kept() {
        let action: MachineAction = serde_json::from_str(
            r#"{"id": "a", "type": "Live Response", "status": "Queued", "commands": null}"#,
        )
        .expect("parses");
        assert_eq!(action.status, ActionStatus::Other("Queued".into()));
        assert!(!action.status.is_final());
        assert!(action.commands.is_empty());
    }

    #[test]
    fn the_request_body_uses_the_casing_the_service_requires() {
        let body = LiveResponseRequest {
            commands: vec![
                Command::run_script("minidump.ps1", Some("OfficeClickToRun".into())),
                Command::get_file("C:\\x.zip"),
            ],
            comment: "c".into(),
        };
        let json = serde_json::to_value(&body).expect("serialises");
        assert_eq!(json["Commands"][0]["type"], "RunScript");
        assert_eq!(json["Commands"][0]["params"][1]["key"], "Args");
        assert_eq!(json["Comment"], "c");
        let no_args = serde_json::to_value(Command::run_script("a.ps1", None)).expect("serialises");
        assert_eq!(no_args["params"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn transcripts_accept_null_errors() {
        let t: ScriptTranscript = serde_json::from_str(
            r#"{"script_name":"s.ps1","exit_code":0,"script_output":"x","script_errors":null}"#,
        )
        .expect("parses");
        assert_eq!(t.script_errors, None);
    }
}
