//! The playbook format as a JSON Schema, for editors to check playbooks while they are typed.
//!
//! These types exist only to describe the format: playbooks are read by `parse.rs`, which
//! reports every problem with its position. A test keeps the keys here and there equal.

use std::collections::BTreeMap;

use schemars::JsonSchema;

// Fields are read only by the schema generator.
#[allow(dead_code)]
/// A fleetlr playbook: Live Response steps run on every targeted device.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "fleetlr playbook")]
struct PlaybookFile {
    /// Short name used on command lines and in API comments.
    #[schemars(pattern(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"))]
    name: String,
    /// What the playbook does and when to use it.
    description: String,
    /// Typed values a run supplies, used as `{{ params.NAME }}`.
    #[serde(default)]
    parameters: BTreeMap<String, ParameterSpec>,
    /// Fields an alert webhook provides (name: description), used as `{{ alert.NAME }}`.
    /// Declaring any makes the playbook alert-started.
    #[serde(default)]
    alert_fields: BTreeMap<String, String>,
    /// Run defaults that a run may override.
    #[serde(default)]
    policy: Option<Policy>,
    /// Steps in order; fleetlr packs them into as few API calls as the API allows.
    #[schemars(length(min = 1))]
    steps: Vec<StepSpec>,
}

#[allow(dead_code)] // read only by the schema generator
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct ParameterSpec {
    #[serde(rename = "type")]
    kind: ParamType,
    description: Option<String>,
    /// Makes the parameter optional; without it a run must supply a value.
    default: Option<DefaultValue>,
    /// The allowed values of an enum parameter.
    values: Option<Vec<String>>,
}

#[allow(dead_code)] // read only by the schema generator
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
enum ParamType {
    String,
    Int,
    Bool,
    Enum,
}

#[allow(dead_code)] // read only by the schema generator
#[derive(JsonSchema)]
#[serde(untagged)]
enum DefaultValue {
    Text(String),
    Int(i64),
    Bool(bool),
}

#[allow(dead_code)] // read only by the schema generator
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct Policy {
    /// `response` runs are served before `collection` runs. Default: collection.
    priority: Option<PriorityName>,
    /// How long offline devices are waited for, e.g. `90m`, `3d`. Default: 3d, at most 30d.
    #[schemars(pattern(DURATION_PATTERN))]
    expires_after: Option<String>,
    /// Stop starting new devices once more than this share of finished devices failed.
    #[schemars(range(min = 0, max = 100))]
    max_failure_percent: Option<u8>,
    /// The first N devices must all succeed before the others start. Default: 0.
    canary: Option<u32>,
}

#[allow(dead_code)] // read only by the schema generator
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
enum PriorityName {
    Response,
    Collection,
}

const DURATION_PATTERN: &str = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$";

#[allow(dead_code)] // read only by the schema generator
/// One Live Response command: exactly one of `put_file`, `run_script`, `get_file`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    "oneOf" = [{"required": ["put_file"]}, {"required": ["run_script"]}, {"required": ["get_file"]}],
    "dependentRequired" = {"args": ["run_script"]}
))]
struct StepSpec {
    /// Stable identity of the step; derived from position and kind when absent.
    #[schemars(pattern(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"))]
    id: Option<String>,
    description: Option<String>,
    /// Library file to put on the device (a file in playbooks/scripts/).
    #[schemars(pattern(LIBRARY_NAME_PATTERN))]
    put_file: Option<String>,
    /// Library script to run (a file in playbooks/scripts/).
    #[schemars(pattern(LIBRARY_NAME_PATTERN))]
    run_script: Option<String>,
    /// Script arguments; templated. `; & | ! $ ( )` are refused by Live Response.
    #[schemars(pattern(r"^[^;&|!$()]*$"))]
    args: Option<String>,
    /// Absolute path of the file to collect; templated. Use single quotes for Windows paths.
    get_file: Option<String>,
    /// `stop` (default, the API's behaviour) or `continue` with the next steps.
    on_failure: Option<OnFailureName>,
    /// Planning estimate, e.g. `2m`; at most 10m for run_script (the API's timeout).
    #[schemars(pattern(DURATION_PATTERN))]
    expected_duration: Option<String>,
}

const LIBRARY_NAME_PATTERN: &str = r"^[A-Za-z0-9._-]+$";

#[allow(dead_code)] // read only by the schema generator
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
enum OnFailureName {
    Stop,
    Continue,
}

/// The JSON Schema of the playbook format, pretty-printed.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(PlaybookFile);
    // A schema is plain JSON values, which always serialize.
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{PARAMETER_KEYS, PLAYBOOK_KEYS, POLICY_KEYS, STEP_KEYS};

    fn keys(schema: &serde_json::Value, pointer: &str) -> Vec<String> {
        let props = schema
            .pointer(pointer)
            .and_then(|v| v.as_object())
            .expect(pointer);
        let mut keys: Vec<String> = props.keys().cloned().collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn schema_and_reader_accept_the_same_keys() {
        let schema: serde_json::Value =
            serde_json::from_str(&json_schema()).expect("should succeed");
        assert_eq!(keys(&schema, "/properties"), sorted(PLAYBOOK_KEYS));
        assert_eq!(
            keys(&schema, "/$defs/ParameterSpec/properties"),
            sorted(PARAMETER_KEYS)
        );
        assert_eq!(
            keys(&schema, "/$defs/Policy/properties"),
            sorted(POLICY_KEYS)
        );
        assert_eq!(
            keys(&schema, "/$defs/StepSpec/properties"),
            sorted(STEP_KEYS)
        );
        assert_eq!(
            schema.pointer("/$defs/StepSpec/additionalProperties"),
            Some(&serde_json::json!(false))
        );
    }
}
