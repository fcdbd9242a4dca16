//! Machine actions (`/api/machineactions`): what a live response, isolation or other device
//! action looks like while it runs and after.

use super::live_response::Command;
use super::wire::{null_as_default, open_enum, timestamp};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

open_enum!(
    /// A machine action's status (`Cancelled` with two L's, as the service spells it).
    ActionStatus {
        /// Queued, possibly for an offline device.
        Pending,
        /// Running on the device.
        InProgress,
        /// Finished; for live response, every command completed.
        Succeeded,
        /// Finished with a failure.
        Failed,
        /// Finished because the device or a command ran out of time.
        TimeOut,
        /// Cancelled through the API or the portal.
        Cancelled,
    }
);

impl ActionStatus {
    /// Whether the service is done with the action. Only the documented final statuses are final:
    /// an unknown one keeps being polled rather than ending a target before the service has.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::TimeOut | Self::Cancelled
        )
    }
}

open_enum!(
    /// What kind of action it is (`LiveResponse` for ours).
    ActionType {
        /// A live response session (`runliveresponse`).
        LiveResponse,
        /// An antivirus scan.
        RunAntiVirusScan,
        /// Offboarding the device.
        Offboard,
        /// Collecting the investigation package.
        CollectInvestigationPackage,
        /// Network isolation.
        Isolate,
        /// Release from isolation.
        Unisolate,
        /// Stop a process and quarantine its file.
        StopAndQuarantineFile,
        /// Restrict app execution.
        RestrictCodeExecution,
        /// Lift the app execution restriction.
        UnrestrictCodeExecution,
    }
);

open_enum!(
    /// A command's status within a live response action. Documented: `Created`, `Completed`,
    /// `Failed`; whether there is an in-progress value is not, hence `Other`.
    CommandStatus {
        /// Not finished (or not started).
        Created,
        /// Finished successfully.
        Completed,
        /// Failed; `errors` says why.
        Failed,
    }
);

/// A machine action as `GET /api/machineactions[/{id}]` and the action endpoints return it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MachineAction {
    /// The action id; required, as nothing can be tracked without it.
    pub id: String,
    /// The action type (`LiveResponse`, `Isolate`, …).
    #[serde(rename = "type", default)]
    pub kind: ActionType,
    /// The action's title, usually null.
    #[serde(default)]
    pub title: Option<String>,
    /// Who asked for it: a user, or the app's id or name for app tokens.
    #[serde(default)]
    pub requestor: Option<String>,
    /// The comment given when the action was requested; fleetlr puts its markers here.
    #[serde(default)]
    pub requestor_comment: Option<String>,
    /// Where the action is; unknown or missing values are not final.
    #[serde(default)]
    pub status: ActionStatus,
    /// The device's id.
    #[serde(default)]
    pub machine_id: Option<String>,
    /// The device's name.
    #[serde(default)]
    pub computer_dns_name: Option<String>,
    /// When the action was created.
    #[serde(default, deserialize_with = "timestamp")]
    pub creation_date_time_utc: Option<DateTime<Utc>>,
    /// When the action last changed (the docs once misspelled it `lastUpdateTimeUtc`).
    #[serde(default, alias = "lastUpdateTimeUtc", deserialize_with = "timestamp")]
    pub last_update_date_time_utc: Option<DateTime<Utc>>,
    /// Who cancelled it, once cancelled.
    #[serde(default)]
    pub cancellation_requestor: Option<String>,
    /// The cancellation comment.
    #[serde(default)]
    pub cancellation_comment: Option<String>,
    /// When it was cancelled.
    #[serde(default, deserialize_with = "timestamp")]
    pub cancellation_date_time_utc: Option<DateTime<Utc>>,
    /// The Windows HRESULT of a failure; 0 otherwise.
    #[serde(default, rename = "errorHResult")]
    pub error_hresult: Option<i64>,
    /// `Full`/`Selective` for isolation, `Quick`/`Full` for scans.
    #[serde(default)]
    pub scope: Option<String>,
    /// An id the requester attached.
    #[serde(default, alias = "externalID")]
    pub external_id: Option<String>,
    /// `PublicApi` for API-created actions.
    #[serde(default)]
    pub request_source: Option<String>,
    /// The file an action is about (quarantine), if any.
    #[serde(default)]
    pub related_file_info: Option<RelatedFileInfo>,
    /// The live response commands in request order; empty for other actions.
    #[serde(default, deserialize_with = "null_as_default")]
    pub commands: Vec<CommandEntry>,
    /// Undocumented troubleshooting data, kept as it came.
    #[serde(default)]
    pub troubleshoot_info: Option<serde_json::Value>,
}

/// The file a machine action concerns.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RelatedFileInfo {
    /// The hash.
    #[serde(default)]
    pub file_identifier: Option<String>,
    /// `Sha1`, `Sha256` or `Md5`.
    #[serde(default)]
    pub file_identifier_type: Option<String>,
}

/// One command of a live response action and how it went.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CommandEntry {
    /// The command's position in the request (0-based): the `index` of its result link.
    /// Required: a guessed index would attach results to the wrong command.
    pub index: u32,
    /// When the device started it; may stay null even on a completed command.
    #[serde(default, deserialize_with = "timestamp")]
    pub start_time: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default, deserialize_with = "timestamp")]
    pub end_time: Option<DateTime<Utc>>,
    /// How it went.
    #[serde(default)]
    pub command_status: CommandStatus,
    /// The service's failure messages.
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<String>,
    /// The command as requested; the service may fill it in a moment after creating the action.
    #[serde(default)]
    pub command: Option<Command>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CommandType;
    use chrono::Timelike;

    /// §1.2 of the reference, verbatim: the runliveresponse response.
    const RUN_LIVE_RESPONSE_RESPONSE: &str = r#"{
    "@odata.context": "https://api.security.microsoft.com/api/$metadata#MachineActions/$entity",
    "id": "{machine_action_id}",
    "type": "LiveResponse",
    "requestor": "analyst@microsoft.com",
    "requestorComment": "Testing Live Response API",
    "status": "Pending",
    "machineId": "{machine_id}",
    "computerDnsName": "hostname",
    "creationDateTimeUtc": "2021-02-04T15:36:52.7788848Z",
    "lastUpdateDateTimeUtc": "2021-02-04T15:36:52.7788848Z",
    "errorHResult": 0,
    "commands": [
        {
            "index": 0,
            "startTime": null,
            "endTime": null,
            "commandStatus": "Created",
            "errors": [],
            "command": {
                "type": "RunScript",
                "params": [
                    {
                        "key": "ScriptName",
                        "value": "minidump.ps1"
                    },{
                        "key": "Args",
                        "value": "OfficeClickToRun"
                    }
                ]
            }
        }, {
            "index": 1,
            "startTime": null,
            "endTime": null,
            "commandStatus": "Created",
            "errors": [],
            "command": {
                "type": "GetFile",
                "params": [{
                        "key": "Path", "value": "C:\\windows\\TEMP\\OfficeClickToRun.dmp.zip"
                    }
                ]
            }
        }
    ]
}"#;

    /// §1.3 of the reference, verbatim: a real list item with every field.
    const REAL_CAPTURE: &str = r#"{
    "id": "c141bb71-8125-4234-a184-XXXXXXXXX",
    "type": "LiveResponse",
    "title": null,
    "requestor": "M365DLiveResponse",
    "requestorComment": "Create Domain Admin",
    "status": "Succeeded",
    "machineId": "a9e15a8b846d93d43d6XXXXXXX",
    "computerDnsName": "dc1.corp.cloud-architekt.net",
    "creationDateTimeUtc": "2023-03-18T21:02:00.3538594Z",
    "lastUpdateDateTimeUtc": "2023-03-18T21:04:41.93163Z",
    "cancellationRequestor": null,
    "cancellationComment": null,
    "cancellationDateTimeUtc": null,
    "errorHResult": 0,
    "scope": null,
    "externalId": null,
    "requestSource": "PublicApi",
    "relatedFileInfo": null,
    "commands": [
        {
            "index": 0,
            "startTime": "2023-03-18T21:04:01.92Z",
            "endTime": "2023-03-18T21:04:04.693Z",
            "commandStatus": "Completed",
            "errors": [],
            "command": {
                "type": "RunScript",
                "params": [ { "key": "ScriptName", "value": "Add-DomainAdmin.ps1" } ]
            }
        }
    ],
    "troubleshootInfo": null
}"#;

    /// §2.1 of the reference, verbatim: an isolation action without `commands`.
    const ISOLATE_ACTION: &str = r#"{
    "@odata.context": "https://api.securitycenter.microsoft.com/api/$metadata#MachineActions/$entity",
    "id": "5382f7ea-7557-4ab7-9782-d50480024a4e",
    "type": "Isolate",
    "scope": "Selective",
    "requestor": "Analyst@TestPrd.onmicrosoft.com",
    "requestorComment": "test for docs",
    "status": "Succeeded",
    "machineId": "7b1f4967d9728e5aa3c06a9e617a22a4a5a17378",
    "computerDnsName": "desktop-test",
    "creationDateTimeUtc": "2019-01-02T14:39:38.2262283Z",
    "lastUpdateDateTimeUtc": "2019-01-02T14:40:44.6596267Z",
    "relatedFileInfo": null
}"#;

    fn parse(json: &str) -> MachineAction {
        serde_json::from_str(json).expect("machine action parses")
    }

    #[test]
    fn the_documented_run_live_response_response_parses() {
        let action = parse(RUN_LIVE_RESPONSE_RESPONSE);
        assert_eq!(action.kind, ActionType::LiveResponse);
        assert_eq!(action.status, ActionStatus::Pending);
        assert!(!action.status.is_final());
        assert_eq!(action.error_hresult, Some(0));
        assert_eq!(action.commands.len(), 2);
        let get_file = &action.commands[1];
        assert_eq!(get_file.index, 1);
        assert_eq!(get_file.command_status, CommandStatus::Created);
        let command = get_file.command.as_ref().expect("command");
        assert_eq!(command.kind, CommandType::GetFile);
        assert_eq!(
            command.param("Path"),
            Some("C:\\windows\\TEMP\\OfficeClickToRun.dmp.zip")
        );
        assert_eq!(
            action.commands[0]
                .command
                .as_ref()
                .and_then(|c| c.param("Args")),
            Some("OfficeClickToRun")
        );
    }

    #[test]
    fn the_real_capture_parses_with_every_field() {
        let action = parse(REAL_CAPTURE);
        assert_eq!(action.status, ActionStatus::Succeeded);
        assert!(action.status.is_final());
        assert_eq!(action.request_source.as_deref(), Some("PublicApi"));
        assert_eq!(
            action.creation_date_time_utc.map(|t| t.nanosecond()),
            Some(353_859_400)
        );
        assert_eq!(
            action.last_update_date_time_utc.map(|t| t.nanosecond()),
            Some(931_630_000)
        );
        let entry = &action.commands[0];
        assert_eq!(entry.command_status, CommandStatus::Completed);
        assert_eq!(entry.start_time.map(|t| t.nanosecond()), Some(920_000_000));
        assert_eq!(entry.end_time.map(|t| t.nanosecond()), Some(693_000_000));
        assert!(entry.errors.is_empty());
    }

    #[test]
    fn an_action_without_commands_parses() {
        let action = parse(ISOLATE_ACTION);
        assert_eq!(action.kind, ActionType::Isolate);
        assert_eq!(action.scope.as_deref(), Some("Selective"));
        assert!(action.commands.is_empty());
    }

    #[test]
    fn unknown_values_are_kept_and_nulls_tolerated() {
        let action = parse(
            r#"{"id": "a", "type": "Live Response", "status": "Queued", "commands": [
                {"index": 0, "startTime": null, "endTime": "2021-09-01T09:20:33.353Z",
                 "commandStatus": "Running", "errors": null, "command": null}],
                "lastUpdateTimeUtc": "2021-09-01T09:20:33Z", "somethingNew": {"x": 1}}"#,
        );
        assert_eq!(action.kind, ActionType::Other("Live Response".into()));
        assert_eq!(action.status, ActionStatus::Other("Queued".into()));
        assert!(!action.status.is_final());
        assert!(action.last_update_date_time_utc.is_some());
        let entry = &action.commands[0];
        assert_eq!(entry.command_status.as_str(), "Running");
        assert!(entry.errors.is_empty() && entry.command.is_none());
    }

    #[test]
    fn a_missing_or_null_status_is_not_final() {
        for json in [r#"{"id": "a"}"#, r#"{"id": "a", "status": null}"#] {
            let action = parse(json);
            assert_eq!(action.status, ActionStatus::Other(String::new()));
            assert!(!action.status.is_final());
        }
    }

    #[test]
    fn failed_command_errors_are_kept() {
        let action = parse(
            r#"{"id": "a", "status": "Failed", "commands": [{"index": 0,
                "commandStatus": "Failed", "errors": ["File not found", "second"],
                "command": {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\x"}]}}]}"#,
        );
        assert_eq!(action.commands[0].command_status, CommandStatus::Failed);
        assert_eq!(action.commands[0].errors, ["File not found", "second"]);
    }
}
