//! From a delivered JSON payload to an [`Alert`]: its id, title, severity, category, the
//! devices it concerns, and the text fields playbooks may use as `{{ alert.NAME }}`.
//!
//! Built-in formats read the shapes SOC tools send: a Defender for Endpoint alert (`defender`),
//! a Microsoft Graph security alert v2 (`graph`, devices in `evidence`), a Sentinel incident as
//! a Logic App's incident trigger receives it (`sentinel`), and `generic`, where JSON pointers
//! name the alert id and device id. Every format also takes extra fields by JSON pointer.
//! Unknown members are ignored; a payload without an alert id or a device maps to nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// A JSON pointer (RFC 6901): empty, or `/`-separated tokens with `~0` and `~1` escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer(String);

impl Pointer {
    pub fn parse(text: &str) -> Result<Self, String> {
        if !(text.is_empty() || text.starts_with('/')) {
            return Err(format!(
                "`{text}` is not a JSON pointer: start it with `/`, as in /alert/id"
            ));
        }
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(format!(
                    "`{text}` is not a JSON pointer: `~` must be followed by 0 (for ~) or 1 (for /)"
                ));
            }
        }
        Ok(Self(text.to_owned()))
    }

    /// The value at the pointer as text: strings as they are, numbers and booleans written
    /// out, arrays and objects as compact JSON; `None` when absent, null or empty.
    pub fn text(&self, payload: &Value) -> Option<String> {
        payload.pointer(&self.0).and_then(as_text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which payload shape a hook receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Defender,
    Graph,
    Sentinel,
    Generic {
        alert_id: Pointer,
        /// A string, or an array of strings for several devices.
        device_id: Pointer,
    },
}

impl Format {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Defender => "defender",
            Self::Graph => "graph",
            Self::Sentinel => "sentinel",
            Self::Generic { .. } => "generic",
        }
    }

    /// The fields this format can provide (when the payload has them).
    fn provides(&self) -> &'static [&'static str] {
        const COMMON: &[&str] = &[
            "id",
            "title",
            "severity",
            "category",
            "device_id",
            "device_name",
        ];
        const EVIDENCE: &[&str] = &[
            "id",
            "title",
            "severity",
            "category",
            "device_id",
            "device_name",
            "description",
            "process_name",
            "process_id",
            "process_command_line",
            "file_name",
            "file_path",
            "sha256",
        ];
        match self {
            Self::Defender | Self::Graph => EVIDENCE,
            Self::Sentinel => &[
                "id",
                "title",
                "severity",
                "category",
                "device_id",
                "device_name",
                "description",
                "incident_number",
                "incident_url",
                "process_id",
                "process_command_line",
                "file_name",
                "file_path",
                "sha256",
            ],
            Self::Generic { .. } => COMMON,
        }
    }
}

/// How a hook reads its payloads: a format and extra fields by pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub format: Format,
    /// Field name → where it is in the payload; these win over the format's own.
    pub fields: BTreeMap<String, Pointer>,
}

/// Alert severities, lowest first. Unknown or unspecified severities are none of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
}

impl Severity {
    /// Case-insensitive, as every source spells them differently (`High`, `high`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Some(Self::Informational),
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" | "critical" => Some(Self::High),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Informational => "informational",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// An alert as fleetlr sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: String,
    /// Alert-wide fields, `id`, `title`, `severity` and `category` among them when present.
    pub fields: BTreeMap<String, String>,
    pub devices: Vec<AlertDevice>,
}

/// A device an alert concerns, with the fields of its own evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDevice {
    /// The MDE device id, or a computer name (the Machines API accepts both).
    pub id: String,
    pub fields: BTreeMap<String, String>,
}

impl Alert {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn severity(&self) -> Option<Severity> {
        self.field("severity").and_then(Severity::parse)
    }

    /// What a run on `device` gets as its alert fields: the alert's, then the device's.
    pub fn fields_for(&self, device: &AlertDevice) -> BTreeMap<String, String> {
        let mut fields = self.fields.clone();
        fields.insert("device_id".into(), device.id.clone());
        fields.extend(device.fields.clone());
        fields
    }
}

impl Mapping {
    /// Every field name this mapping can provide, for checking rules and playbooks offline.
    pub fn provides(&self) -> BTreeSet<&str> {
        self.format
            .provides()
            .iter()
            .copied()
            .chain(self.fields.keys().map(String::as_str))
            .collect()
    }

    /// The alert in `payload`, or why there is none.
    pub fn map(&self, payload: &Value) -> Result<Alert, String> {
        let mut alert = match &self.format {
            Format::Defender => defender(payload),
            Format::Graph => graph(payload),
            Format::Sentinel => sentinel(payload),
            Format::Generic {
                alert_id,
                device_id,
            } => generic(payload, alert_id, device_id),
        }?;
        for (name, pointer) in &self.fields {
            if let Some(value) = pointer.text(payload) {
                alert.fields.insert(name.clone(), value);
            }
        }
        alert.fields.insert("id".into(), alert.id.clone());
        if alert.devices.is_empty() {
            return Err(format!(
                "alert `{}` names no device fleetlr can act on",
                alert.id
            ));
        }
        Ok(alert)
    }
}

/// Adds a device unless the alert already names it (the first mention wins).
fn add_device(devices: &mut Vec<AlertDevice>, id: String, fields: BTreeMap<String, String>) {
    if !devices.iter().any(|d| d.id == id) {
        devices.push(AlertDevice { id, fields });
    }
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) if text.trim().is_empty() => None,
        Value::String(text) => Some(text.clone()),
        Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
            Some(value.to_string())
        }
    }
}

fn text_at(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(as_text)
}

/// Copies `pairs` (field name, member) from `value` into `fields` where present.
fn copy(fields: &mut BTreeMap<String, String>, value: &Value, pairs: &[(&str, &str)]) {
    for (name, key) in pairs {
        if let Some(text) = text_at(value, key) {
            fields.insert((*name).to_owned(), text);
        }
    }
}

/// `C:\dir` and `x.exe` → `C:\dir\x.exe`; a path that already ends in the name is kept.
fn join_path(dir: Option<String>, name: Option<&String>) -> Option<String> {
    match (dir, name) {
        (Some(dir), Some(name)) if !dir.ends_with(name.as_str()) => {
            let separator = if dir.contains('\\') { '\\' } else { '/' };
            Some(format!(
                "{}{separator}{name}",
                dir.trim_end_matches(['\\', '/'])
            ))
        }
        (Some(dir), _) => Some(dir),
        (None, name) => name.cloned(),
    }
}

/// The id and alert-wide fields, which Defender and Graph alerts name alike.
fn alert_header(
    payload: &Value,
    format: &str,
) -> Result<(String, BTreeMap<String, String>), String> {
    let id = text_at(payload, "id").ok_or_else(|| {
        format!(
            "the payload has no `id`, so it is not a {format} alert (is the hook's format right?)"
        )
    })?;
    let mut fields = BTreeMap::new();
    copy(
        &mut fields,
        payload,
        &[
            ("title", "title"),
            ("severity", "severity"),
            ("category", "category"),
            ("description", "description"),
        ],
    );
    Ok((id, fields))
}

/// A Defender for Endpoint alert (`GET /api/alerts/{id}`, with `evidence` when expanded).
fn defender(payload: &Value) -> Result<Alert, String> {
    let (id, fields) = alert_header(payload, "Defender for Endpoint")?;
    let mut device_fields = BTreeMap::new();
    copy(
        &mut device_fields,
        payload,
        &[("device_name", "computerDnsName")],
    );
    let evidence = payload["evidence"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let of_type = |kind: &str| {
        evidence.iter().find(|e| {
            e["entityType"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
    };
    if let Some(process) = of_type("Process") {
        copy(
            &mut device_fields,
            process,
            &[
                ("process_name", "fileName"),
                ("process_id", "processId"),
                ("process_command_line", "processCommandLine"),
            ],
        );
        evidence_file(
            &mut device_fields,
            process,
            "fileName",
            "filePath",
            "sha256",
        );
    }
    if let Some(file) = of_type("File") {
        evidence_file(&mut device_fields, file, "fileName", "filePath", "sha256");
    }
    let devices = text_at(payload, "machineId")
        .map(|id| AlertDevice {
            id,
            fields: device_fields,
        })
        .into_iter()
        .collect();
    Ok(Alert {
        id,
        fields,
        devices,
    })
}

/// `file_name`, `file_path` (directory and name joined) and `sha256` of a file in evidence; a
/// later call (the File evidence after the Process image) wins.
fn evidence_file(
    fields: &mut BTreeMap<String, String>,
    file: &Value,
    name_key: &str,
    dir_key: &str,
    hash_key: &str,
) {
    let name = text_at(file, name_key);
    if let Some(path) = join_path(text_at(file, dir_key), name.as_ref()) {
        fields.insert("file_path".into(), path);
    }
    if let Some(name) = name {
        fields.insert("file_name".into(), name);
    }
    if let Some(hash) = text_at(file, hash_key) {
        fields.insert("sha256".into(), hash);
    }
}

const GRAPH_DEVICE: &str = "#microsoft.graph.security.deviceEvidence";
const GRAPH_PROCESS: &str = "#microsoft.graph.security.processEvidence";
const GRAPH_FILE: &str = "#microsoft.graph.security.fileEvidence";

/// A Microsoft Graph security alert (v2): devices are `deviceEvidence` with `mdeDeviceId`;
/// process and file evidence belong to the device with their `mdeDeviceId`, or to every device
/// when they name none.
fn graph(payload: &Value) -> Result<Alert, String> {
    let (id, fields) = alert_header(payload, "Microsoft Graph security")?;
    let evidence = payload["evidence"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let of_type = |kind: &'static str| {
        evidence
            .iter()
            .filter(move |e| e["@odata.type"].as_str() == Some(kind))
    };
    let belongs = |item: &Value, device: &str| {
        text_at(item, "mdeDeviceId").is_none_or(|id| id.eq_ignore_ascii_case(device))
    };
    let mut devices: Vec<AlertDevice> = Vec::new();
    for device in of_type(GRAPH_DEVICE) {
        let Some(device_id) = text_at(device, "mdeDeviceId") else {
            continue;
        };
        let mut device_fields = BTreeMap::new();
        copy(
            &mut device_fields,
            device,
            &[("device_name", "deviceDnsName")],
        );
        if let Some(process) = of_type(GRAPH_PROCESS).find(|p| belongs(p, &device_id)) {
            copy(
                &mut device_fields,
                process,
                &[
                    ("process_id", "processId"),
                    ("process_command_line", "processCommandLine"),
                ],
            );
            let image = &process["imageFile"];
            if let Some(name) = text_at(image, "fileName") {
                device_fields.insert("process_name".into(), name);
            }
            evidence_file(&mut device_fields, image, "fileName", "filePath", "sha256");
        }
        if let Some(file) = of_type(GRAPH_FILE).find(|f| belongs(f, &device_id)) {
            evidence_file(
                &mut device_fields,
                &file["fileDetails"],
                "fileName",
                "filePath",
                "sha256",
            );
        }
        add_device(&mut devices, device_id, device_fields);
    }
    Ok(Alert {
        id,
        fields,
        devices,
    })
}

/// A Sentinel incident as the Logic Apps "Microsoft Sentinel incident" trigger receives it
/// (`triggerBody()`: the incident under `object`), or the incident itself
/// (`triggerBody()?['object']`). Devices are the `Host` entities of `relatedEntities`: their
/// MDE id when `additionalData.MdatpDeviceId` carries it, else the host name with its DNS
/// domain, which the Machines API also accepts.
fn sentinel(payload: &Value) -> Result<Alert, String> {
    let incident = if payload.get("object").is_some() {
        &payload["object"]
    } else {
        payload
    };
    let properties = &incident["properties"];
    if !properties.is_object() {
        return Err(
            "the payload has no incident `properties` (nor `object.properties`), so it is not a Sentinel incident (is the hook's format right?)"
                .into(),
        );
    }
    let id = text_at(incident, "name")
        .or_else(|| text_at(properties, "incidentNumber"))
        .ok_or("the incident has neither `name` nor `properties.incidentNumber`")?;
    let mut fields = BTreeMap::new();
    copy(
        &mut fields,
        properties,
        &[
            ("title", "title"),
            ("severity", "severity"),
            ("description", "description"),
            ("incident_number", "incidentNumber"),
            ("incident_url", "incidentUrl"),
        ],
    );
    // Incidents carry MITRE tactics rather than a category; the first stands for it.
    if let Some(tactic) = properties["additionalData"]["tactics"]
        .as_array()
        .and_then(|tactics| tactics.first())
        .and_then(as_text)
    {
        fields.insert("category".into(), tactic);
    }
    let entities = properties["relatedEntities"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let of_kind = |kind: &'static str| {
        entities
            .iter()
            .filter(move |e| {
                e["kind"]
                    .as_str()
                    .is_some_and(|k| k.eq_ignore_ascii_case(kind))
            })
            .map(|e| &e["properties"])
    };
    // Process and File entities are not tied to a host in the incident; with one host they
    // are its evidence, with several they are left out rather than guessed.
    let hosts: Vec<&Value> = of_kind("Host").collect();
    let mut evidence = BTreeMap::new();
    if hosts.len() == 1 {
        if let Some(process) = of_kind("Process").next() {
            copy(
                &mut evidence,
                process,
                &[
                    ("process_id", "processId"),
                    ("process_command_line", "commandLine"),
                ],
            );
        }
        if let Some(file) = of_kind("File").next() {
            evidence_file(&mut evidence, file, "fileName", "directory", "sha256");
        }
    }
    let mut devices: Vec<AlertDevice> = Vec::new();
    for host in hosts {
        let fqdn = text_at(host, "hostName").map(|name| match text_at(host, "dnsDomain") {
            Some(domain) if !name.contains('.') => format!("{name}.{domain}"),
            _ => name,
        });
        let Some(device_id) = text_at(&host["additionalData"], "MdatpDeviceId").or(fqdn.clone())
        else {
            continue;
        };
        let mut device_fields = evidence.clone();
        if let Some(fqdn) = fqdn {
            device_fields.insert("device_name".into(), fqdn);
        }
        add_device(&mut devices, device_id, device_fields);
    }
    Ok(Alert {
        id,
        fields,
        devices,
    })
}

/// Any JSON: the alert id and device id(s) where the pointers say; `title`, `severity`,
/// `category` and `device_name` come from the hook's fields of those names.
fn generic(payload: &Value, alert_id: &Pointer, device_id: &Pointer) -> Result<Alert, String> {
    let id = alert_id.text(payload).ok_or_else(|| {
        format!(
            "the payload has nothing at `{}` (the hook's alert_id pointer)",
            alert_id.as_str()
        )
    })?;
    let ids: Vec<String> = match payload.pointer(device_id.as_str()) {
        Some(Value::Array(items)) => items.iter().filter_map(as_text).collect(),
        Some(value) => as_text(value).into_iter().collect(),
        None => Vec::new(),
    };
    let mut devices: Vec<AlertDevice> = Vec::new();
    for id in ids {
        add_device(&mut devices, id, BTreeMap::new());
    }
    if devices.is_empty() {
        return Err(format!(
            "alert `{id}` has no device at `{}` (the hook's device_id pointer)",
            device_id.as_str()
        ));
    }
    Ok(Alert {
        id,
        fields: BTreeMap::new(),
        devices,
    })
}

#[cfg(test)]
mod tests;
