//! Scenario files: what the simulated tenant looks like and how its devices behave.
//!
//! Everything random is derived from the seed and a stable key (device index, script name,
//! rule number), never from iteration order, so one seed always gives the same world.

use crate::config::parse_duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The top level of a scenario YAML file. Every section is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Generated devices: how many and how they are spread over tags, groups and schedules.
    #[serde(default)]
    pub fleet: Fleet,
    /// Devices spelled out one by one, in addition to the generated ones.
    #[serde(default)]
    pub devices: Vec<ExplicitDevice>,
    /// Device groups; a group with `automation: false` refuses live response (DisallowedOperation).
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// What each library script does, by library file name.
    #[serde(default)]
    pub scripts: BTreeMap<String, ScriptSpec>,
    /// Files present in the live response library at start.
    #[serde(default)]
    pub library: Vec<LibrarySeed>,
    /// Which paths exist on devices for GetFile, and how large they are.
    #[serde(default)]
    pub files: FilesSpec,
    /// Faults injected into responses.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Extra Entra ID applications (the default app from the flags always exists).
    #[serde(default)]
    pub apps: Vec<AppSpec>,
    /// Timing of the service itself.
    #[serde(default)]
    pub timing: Timing,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// Number of generated devices; overrides `--devices` when given.
    pub count: Option<usize>,
    /// Tags given to a fraction of the generated devices.
    #[serde(default)]
    pub tags: Vec<TagShare>,
    /// Offline periods given to a fraction of the generated devices.
    #[serde(default)]
    pub offline: Vec<OfflineShare>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagShare {
    pub tag: String,
    pub fraction: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineShare {
    pub fraction: f64,
    /// When the device goes offline, from the start of the simulation (default: at start).
    #[serde(default)]
    pub from: Option<DurationRange>,
    /// When it comes back; absent means never.
    #[serde(default)]
    pub until: Option<DurationRange>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplicitDevice {
    pub name: String,
    pub id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub group: Option<String>,
    pub os_platform: Option<String>,
    #[serde(default)]
    pub offline: Vec<OfflineWindow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineWindow {
    #[serde(default)]
    pub from: Option<DurationRange>,
    pub until: Option<DurationRange>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    /// Whether the group has an automated remediation level (live response needs one).
    #[serde(default = "yes")]
    pub automation: bool,
    /// Share of generated devices placed in this group.
    #[serde(default)]
    pub fraction: f64,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptSpec {
    /// How long the script runs (a range draws per device).
    pub duration: Option<DurationRange>,
    pub exit_code: Option<i64>,
    pub output: Option<String>,
    pub errors: Option<String>,
    /// Exceptions for some devices; the first matching rule wins.
    #[serde(default)]
    pub rules: Vec<ScriptRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptRule {
    #[serde(default)]
    pub when: Selector,
    #[serde(default)]
    pub outcome: Outcome,
    pub duration: Option<DurationRange>,
    pub exit_code: Option<i64>,
    pub output: Option<String>,
    pub errors: Option<String>,
}

/// What happens to a command on a device.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The command completes (a RunScript with its exit code, which may be non-zero).
    #[default]
    Complete,
    /// The command fails with errors; later commands of the action are not executed.
    Fail,
    /// The script never finishes; the action times out after 10 minutes.
    Hang,
}

/// Chooses devices. Empty matches every device; several criteria must all hold.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Device names or ids.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Any of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    pub group: Option<String>,
    /// A deterministic share of the devices that pass the other criteria.
    pub fraction: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibrarySeed {
    pub name: String,
    #[serde(default)]
    pub content: String,
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSpec {
    /// Size of a file at a path no rule mentions; `missing: true` makes such paths absent.
    #[serde(default)]
    pub default: FileDefault,
    #[serde(default)]
    pub rules: Vec<FileRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDefault {
    pub size: ByteSize,
    #[serde(default)]
    pub missing: bool,
}

impl Default for FileDefault {
    fn default() -> Self {
        Self {
            size: ByteSize(16 * 1024),
            missing: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRule {
    /// A path pattern; `*` matches any run of characters, case-insensitively (Windows paths).
    pub path: String,
    pub size: Option<ByteSize>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub when: Selector,
}

// No `deny_unknown_fields` here: serde does not support it beside `flatten`; unknown keys are
// still refused, by `FaultKind`, which receives every key this struct does not consume.
#[derive(Debug, Clone, Deserialize)]
pub struct FaultSpec {
    /// Endpoint name as in `/_sim/stats` (`runliveresponse`, `machineactions.get`, `token`, …) or `*`.
    #[serde(default = "any_endpoint")]
    pub endpoint: String,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Chance that a matching request is hit (deterministic per seed and request number).
    pub probability: Option<f64>,
    /// Hit this many matching requests, then stop.
    pub count: Option<u64>,
    /// Start after this much simulated time.
    pub after: Option<DurationRange>,
    /// Stop after this much simulated time from the start of the fault.
    pub lasting: Option<DurationRange>,
}

fn any_endpoint() -> String {
    "*".to_owned()
}

/// The kinds of fault the simulator can inject.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Answer with this status and the documented error body (5xx, or 429 for a storm).
    Status { status: u16 },
    /// Wait this long (wall-clock, it is network latency) before handling the request.
    Slow { delay_ms: u64 },
    /// Close the connection without handling the request.
    DropBefore,
    /// Handle the request, then close the connection before the answer is sent.
    DropAfter,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    pub client_id: String,
    /// The app's client secret; an app may have a secret, a certificate, or both.
    pub client_secret: Option<String>,
    /// PEM of a certificate whose key may sign client assertions (certificate credentials).
    pub certificate_pem: Option<String>,
    /// Application permissions (`Machine.LiveResponse`, `Machine.Read.All`, `Library.Manage`, …).
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// Time between an action's creation and its first command on an online device.
    #[serde(default = "default_dispatch")]
    pub dispatch: DurationRange,
    /// Duration of a PutFile command.
    #[serde(default = "default_put_file")]
    pub put_file: DurationRange,
    /// Fixed part of a GetFile command's duration; the transfer adds size / bandwidth.
    #[serde(default = "default_get_file")]
    pub get_file: DurationRange,
    /// Device upload bandwidth for GetFile, in bytes per simulated second.
    #[serde(default = "default_bandwidth")]
    pub upload_bytes_per_second: u64,
    /// Default run time of a script the scenario does not describe.
    #[serde(default = "default_script")]
    pub script: DurationRange,
    /// How often a device sends its full report; `lastSeen` moves only at these moments.
    #[serde(default = "default_report_interval")]
    pub report_interval: DurationRange,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            dispatch: default_dispatch(),
            put_file: default_put_file(),
            get_file: default_get_file(),
            upload_bytes_per_second: default_bandwidth(),
            script: default_script(),
            report_interval: default_report_interval(),
        }
    }
}

fn secs(low: u64, high: u64) -> DurationRange {
    DurationRange {
        low: Duration::from_secs(low),
        high: Duration::from_secs(high),
    }
}
fn default_dispatch() -> DurationRange {
    secs(2, 5)
}
fn default_put_file() -> DurationRange {
    secs(2, 4)
}
fn default_get_file() -> DurationRange {
    secs(2, 4)
}
fn default_bandwidth() -> u64 {
    10 * 1024 * 1024
}
fn default_script() -> DurationRange {
    secs(5, 15)
}
fn default_report_interval() -> DurationRange {
    secs(24 * 3600, 24 * 3600)
}

/// A duration, or a range `low..high` from which a value is drawn per device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    pub low: Duration,
    pub high: Duration,
}

impl DurationRange {
    /// Picks a value in the range for a unit sample `u` in `[0, 1)`.
    pub fn pick(&self, u: f64) -> Duration {
        self.low + (self.high.saturating_sub(self.low)).mul_f64(u)
    }
}

impl<'de> Deserialize<'de> for DurationRange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = StringOrNumber::deserialize(deserializer)?.0;
        let parsed = match text.split_once("..") {
            Some((low, high)) => parse_duration(low)
                .and_then(|low| parse_duration(high).map(|high| DurationRange { low, high })),
            None => parse_duration(&text).map(|value| DurationRange {
                low: value,
                high: value,
            }),
        };
        match parsed {
            Ok(range) if range.low <= range.high => Ok(range),
            Ok(_) => Err(serde::de::Error::custom(format!(
                "range `{text}` ends before it starts"
            ))),
            Err(message) => Err(serde::de::Error::custom(message)),
        }
    }
}

/// A size in bytes: a number, or text such as `16KiB`, `1GiB`, `20MB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = StringOrNumber::deserialize(deserializer)?.0;
        parse_size(&text)
            .map(ByteSize)
            .map_err(serde::de::Error::custom)
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 16KiB or 1GiB"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{text}`; use B, KB, KiB, MB, MiB, GB or GiB"
            ));
        }
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| format!("size `{text}` is too large"))
}

/// Accepts `30s` as well as a bare YAML number for durations and sizes.
struct StringOrNumber(String);

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(u64),
            Float(f64),
        }
        Ok(StringOrNumber(match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text,
            Raw::Int(value) => value.to_string(),
            Raw::Float(value) => value.to_string(),
        }))
    }
}

/// A deterministic pseudo-random number for `(seed, key)`: splitmix64 over an FNV-1a hash.
pub fn mix(seed: u64, key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = hash ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A deterministic sample in `[0, 1)` for `(seed, key)`.
pub fn unit(seed: u64, key: &str) -> f64 {
    (mix(seed, key) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ranges_parse() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("20MB"), Ok(20_000_000));
        assert!(parse_size("3 parsecs").is_err());
        let range: DurationRange = fleetlr_playbook::yaml::from_str("t", "30s..9m").expect("range");
        assert_eq!(range.pick(0.0), Duration::from_secs(30));
        assert_eq!(range.pick(0.5), Duration::from_secs(285));
    }

    #[test]
    fn a_full_scenario_parses() {
        let text = r#"
fleet:
  count: 10
  tags: [{tag: prod, fraction: 0.5}]
  offline: [{fraction: 0.2, until: 10m..1h}]
groups: [{name: Tier0, automation: false, fraction: 0.1}]
scripts:
  triage.ps1:
    duration: 30s..9m
    rules:
      - when: {fraction: 0.1}
        outcome: fail
        errors: "access denied"
files:
  rules: [{path: 'C:\big\*.zip', size: 1GiB}]
faults:
  - {endpoint: runliveresponse, kind: status, status: 503, probability: 0.1}
  - {kind: drop_after, count: 2}
"#;
        let scenario: Scenario =
            fleetlr_playbook::yaml::from_str("s.yaml", text).expect("scenario");
        assert_eq!(scenario.fleet.count, Some(10));
        assert_eq!(scenario.faults[0].kind, FaultKind::Status { status: 503 });
        assert_eq!(scenario.faults[1].kind, FaultKind::DropAfter);
    }

    #[test]
    fn unknown_keys_are_refused_with_a_position() {
        let err = fleetlr_playbook::yaml::from_str::<Scenario>("s.yaml", "fleet:\n  cuont: 3\n")
            .expect_err("typo must fail");
        assert!(err.to_string().starts_with("s.yaml:2:3:"), "{err}");
    }

    #[test]
    fn a_typo_in_a_fault_is_refused() {
        let err = fleetlr_playbook::yaml::from_str::<Scenario>(
            "s.yaml",
            "faults: [{kind: status, status: 500, probabilty: 0.5}]",
        )
        .expect_err("typo must fail");
        assert!(err.to_string().contains("probabilty"), "{err}");
    }

    #[test]
    fn samples_are_stable_and_spread() {
        assert_eq!(mix(7, "device-1"), mix(7, "device-1"));
        assert_ne!(mix(7, "device-1"), mix(8, "device-1"));
        let mean = (0..1000).map(|i| unit(1, &i.to_string())).sum::<f64>() / 1000.0;
        assert!((0.45..0.55).contains(&mean), "mean {mean}");
    }
}
