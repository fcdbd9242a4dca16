//! The live response request body and the RunScript transcript.

use super::wire::{null_as_default, open_enum};
use serde::{Deserialize, Serialize};

open_enum!(
    /// A live response command. The service runs them in the order PutFile, RunScript, GetFile.
    CommandType {
        /// Copy a library file to the device (`FileName`).
        PutFile,
        /// Run a library script (`ScriptName`, optional `Args`).
        RunScript,
        /// Collect a file from the device (`Path`).
        GetFile,
    }
);

/// One `{key, value}` parameter of a command; keys are PascalCase (`ScriptName`, `Args`, …).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Param {
    /// The parameter name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub key: String,
    /// Its value.
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
}

impl Param {
    fn new(key: &str, value: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            value: value.into(),
        }
    }
}

/// A command as sent in a runliveresponse body and echoed back in the action. Its keys are
/// lower-case (`type`, `params`) while the body around it is PascalCase: the service is
/// case-sensitive, so the casing here is deliberate.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Command {
    /// Which command.
    #[serde(rename = "type", default)]
    pub kind: CommandType,
    /// Its parameters.
    #[serde(default, deserialize_with = "null_as_default")]
    pub params: Vec<Param>,
}

impl Command {
    /// `PutFile` of a library file.
    pub fn put_file(file_name: impl Into<String>) -> Self {
        Self {
            kind: CommandType::PutFile,
            params: vec![Param::new("FileName", file_name)],
        }
    }

    /// `RunScript` of a library script. `Args` is sent only when given: the service treats it
    /// as optional, and an empty `Args` would reach the script as an argument.
    pub fn run_script(script_name: impl Into<String>, args: Option<String>) -> Self {
        let mut params = vec![Param::new("ScriptName", script_name)];
        params.extend(args.map(|args| Param::new("Args", args)));
        Self {
            kind: CommandType::RunScript,
            params,
        }
    }

    /// `GetFile` of a path on the device (backslashes as they are; JSON escapes them).
    pub fn get_file(path: impl Into<String>) -> Self {
        Self {
            kind: CommandType::GetFile,
            params: vec![Param::new("Path", path)],
        }
    }

    /// The value of parameter `key`, if present.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }
}

/// The body of `POST /api/machines/{id}/runliveresponse`, PascalCase at the top as the service
/// requires (`Commands`, `Comment`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct LiveResponseRequest {
    /// The commands, in the order the service will run them.
    #[serde(rename = "Commands")]
    pub commands: Vec<Command>,
    /// The comment stored on the action (`requestorComment`).
    #[serde(rename = "Comment")]
    pub comment: String,
}

impl LiveResponseRequest {
    /// A request for `commands` with `comment`.
    pub fn new(comment: impl Into<String>, commands: Vec<Command>) -> Self {
        Self {
            commands,
            comment: comment.into(),
        }
    }
}

/// The downloaded result of a RunScript command. Keys are snake_case, unlike the rest of the API.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ScriptTranscript {
    /// The script that ran.
    #[serde(default, deserialize_with = "null_as_default")]
    pub script_name: String,
    /// Its exit code, when the service reported one.
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// Its standard output (a PowerShell transcript on Windows).
    #[serde(default)]
    pub script_output: Option<String>,
    /// Its standard error: `null` or `""` when there was none.
    #[serde(default)]
    pub script_errors: Option<String>,
}

impl ScriptTranscript {
    /// The script's standard error, `None` when it wrote nothing (null and `""` alike).
    pub fn errors(&self) -> Option<&str> {
        self.script_errors.as_deref().filter(|e| !e.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_request_body_has_the_exact_documented_casing() {
        let request = LiveResponseRequest::new(
            "Testing Live Response API",
            vec![
                Command::run_script("minidump.ps1", Some("OfficeClickToRun".into())),
                Command::get_file("C:\\windows\\TEMP\\OfficeClickToRun.dmp.zip"),
            ],
        );
        // §1.1 of the reference, verbatim, as a value: same keys, same order of commands.
        let documented: serde_json::Value = serde_json::from_str(
            r#"{
   "Commands":[
      {
         "type":"RunScript",
         "params":[
            {
               "key":"ScriptName",
               "value":"minidump.ps1"
            },
            {
               "key":"Args",
               "value":"OfficeClickToRun"
            }

         ]
      },
      {
         "type":"GetFile",
         "params":[
            {
               "key":"Path",
               "value":"C:\\windows\\TEMP\\OfficeClickToRun.dmp.zip"
            }
         ]
      }
   ],
   "Comment":"Testing Live Response API"
}"#,
        )
        .expect("documented body parses");
        assert_eq!(
            serde_json::to_value(&request).expect("serialises"),
            documented
        );
    }

    #[test]
    fn args_are_sent_only_when_given() {
        let body = serde_json::to_value(Command::run_script("a.ps1", None)).expect("serialises");
        assert_eq!(
            body,
            json!({"type": "RunScript", "params": [{"key": "ScriptName", "value": "a.ps1"}]})
        );
        let put = serde_json::to_value(Command::put_file("tool.exe")).expect("serialises");
        assert_eq!(
            put,
            json!({"type": "PutFile", "params": [{"key": "FileName", "value": "tool.exe"}]})
        );
    }

    #[test]
    fn the_documented_transcript_parses() {
        // §3 of the reference, verbatim.
        let transcript: ScriptTranscript = serde_json::from_str(
            r#"{
    "script_name": "minidump.ps1",
    "exit_code": 0,
    "script_output": "Transcript started, output file is C:\\ProgramData\\Microsoft\\Windows Defender Advanced Threat Protection\\Temp\\PSScriptOutputs\\PSScript_Transcript_{TRANSCRIPT_ID}.txt\nC:\\windows\\TEMP\\OfficeClickToRun.dmp.zip\\n51 MB\\n\\u0000\\u0000\\u0000",
    "script_errors":""
}"#,
        )
        .expect("transcript parses");
        assert_eq!(transcript.script_name, "minidump.ps1");
        assert_eq!(transcript.exit_code, Some(0));
        assert!(
            transcript
                .script_output
                .as_deref()
                .is_some_and(|o| o.starts_with("Transcript started"))
        );
        assert_eq!(transcript.errors(), None);
    }

    #[test]
    fn transcript_errors_may_be_null_or_text() {
        let null: ScriptTranscript = serde_json::from_str(
            r#"{"exit_code": 0, "script_errors": null, "script_name": "script4.ps1",
                "script_output": "Transcript started x is smaller than y"}"#,
        )
        .expect("parses");
        assert_eq!((null.script_errors.as_deref(), null.errors()), (None, None));
        let failed: ScriptTranscript = serde_json::from_str(
            r#"{"script_name": "s.ps1", "exit_code": 3, "script_output": null, "script_errors": "boom"}"#,
        )
        .expect("parses");
        assert_eq!((failed.exit_code, failed.errors()), (Some(3), Some("boom")));
    }
}
