//! Turning what an operator targeted (device ids or names, tags, RBAC groups, an OData filter)
//! into devices, through the Machines API (paged, and batched where the API allows).

use serde::Deserialize;

use fleetlr_defender::DefenderClient;
use fleetlr_defender::models::{HealthStatus, Machine};
use fleetlr_defender::odata::{Filter, ODataQuery};

use crate::budget::ApiBudget;
use crate::control::{ControlError, TargetSpec};

/// Device ids or names per `in (...)` query, well inside URL length limits.
const PER_QUERY: usize = 50;

/// A device a run will target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub name: Option<String>,
    /// Whether MDE reports the sensor as active; an inactive device waits in fleetlr's queue.
    pub active: bool,
}

/// Whether the device can be expected to pick up an action soon. Unknown health counts as
/// active: the pending-action check catches an offline device anyway.
pub fn is_active(machine: &Machine) -> bool {
    is_active_health(machine.health_status.as_ref())
}

fn is_active_health(health: Option<&HealthStatus>) -> bool {
    !matches!(
        health,
        Some(
            HealthStatus::Inactive
                | HealthStatus::NoSensorData
                | HealthStatus::NoSensorDataImpairedCommunication
        )
    )
}

/// Resolves `spec` to devices, each once, in a stable order (by id).
pub async fn resolve(
    client: &DefenderClient,
    budget: &ApiBudget,
    spec: &TargetSpec,
) -> Result<Vec<Device>, ControlError> {
    if spec.is_empty() {
        return Err(ControlError::NoTargets);
    }
    let mut found: Vec<Device> = Vec::new();
    let named = |device: &Device, wanted: &str| {
        device.id.eq_ignore_ascii_case(wanted)
            || device
                .name
                .as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case(wanted))
    };
    for batch in spec.devices.chunks(PER_QUERY) {
        let filter = Filter::is_in("id", batch.iter().map(String::as_str)).or(Filter::is_in(
            "computerDnsName",
            batch.iter().map(String::as_str),
        ));
        let devices = list_devices(client, budget, filter).await?;
        if let Some(missing) = batch
            .iter()
            .find(|wanted| !devices.iter().any(|d| named(d, wanted)))
        {
            return Err(ControlError::UnknownDevice(missing.clone()));
        }
        add_devices(&mut found, devices);
    }
    for tag in &spec.tags {
        let devices = list_devices(client, budget, Filter::has_tag(tag)).await?;
        add_devices(&mut found, devices);
    }
    for group in &spec.rbac_group_ids {
        let filter = Filter::raw(format!("rbacGroupId eq {}", group_literal(group)));
        add_devices(&mut found, list_devices(client, budget, filter).await?);
    }
    if let Some(filter) = &spec.filter {
        let devices = list_devices(client, budget, Filter::raw(filter.clone())).await?;
        add_devices(&mut found, devices);
    }
    if found.is_empty() {
        return Err(ControlError::NoDevicesMatched(describe(spec)));
    }
    // In id order, each device once (as first found): a list sorted in place rather than a
    // map keyed by a copy of every id, which for a whole fleet (100,000 devices) weighed 10 MB.
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found.dedup_by(|later, first| later.id == first.id);
    Ok(found)
}

/// The machine tags of one device, by id or computer name.
pub async fn machine_tags(
    client: &DefenderClient,
    budget: &ApiBudget,
    device: &str,
) -> Result<Vec<String>, ControlError> {
    let wanted = [device];
    let filter = Filter::is_in("id", wanted).or(Filter::is_in("computerDnsName", wanted));
    list(client, budget, filter)
        .await?
        .into_iter()
        .next()
        .map(|machine| machine.machine_tags)
        .ok_or_else(|| ControlError::UnknownDevice(device.to_owned()))
}

/// RBAC group ids are numbers in the API; anything else is quoted as a string literal.
fn group_literal(group: &str) -> String {
    if !group.is_empty() && group.chars().all(|c| c.is_ascii_digit()) {
        group.to_owned()
    } else {
        fleetlr_defender::odata::literal(group)
    }
}

async fn list(
    client: &DefenderClient,
    budget: &ApiBudget,
    filter: Filter,
) -> Result<Vec<Machine>, ControlError> {
    let query = ODataQuery::new().filter(filter);
    budget
        .call("machines.list", || client.list_all_machines(&query))
        .await
        .map_err(ControlError::Resolve)
}

/// The fields of a device a run keeps. Tags, groups and filters can select a whole fleet,
/// whose full records would weigh many times more.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceFields {
    id: String,
    computer_dns_name: Option<String>,
    health_status: Option<HealthStatus>,
}

async fn list_devices(
    client: &DefenderClient,
    budget: &ApiBudget,
    filter: Filter,
) -> Result<Vec<Device>, ControlError> {
    let query = ODataQuery::new().filter(filter);
    budget
        .call("machines.list", || {
            client.list_all_machines_as(&query, |fields: DeviceFields| Device::from(fields))
        })
        .await
        .map_err(ControlError::Resolve)
}

impl From<DeviceFields> for Device {
    fn from(fields: DeviceFields) -> Self {
        Self {
            active: is_active_health(fields.health_status.as_ref()),
            id: fields.id,
            name: fields.computer_dns_name,
        }
    }
}

fn add_devices(found: &mut Vec<Device>, devices: Vec<Device>) {
    if found.is_empty() {
        *found = devices;
    } else {
        found.extend(devices);
    }
}

fn describe(spec: &TargetSpec) -> String {
    let mut parts = Vec::new();
    if !spec.tags.is_empty() {
        parts.push(format!("tags {}", spec.tags.join(", ")));
    }
    if !spec.rbac_group_ids.is_empty() {
        parts.push(format!("RBAC groups {}", spec.rbac_group_ids.join(", ")));
    }
    if let Some(filter) = &spec.filter {
        parts.push(format!("filter `{filter}`"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_read_from_its_few_fields_whatever_else_the_record_holds() {
        let page = r#"[
            {"id": "a1", "computerDnsName": "ws-1.corp", "healthStatus": "Inactive",
             "machineTags": ["prod"], "ipAddresses": [{"ipAddress": "10.0.0.1"}], "riskScore": "High"},
            {"id": "b2", "computerDnsName": null, "healthStatus": "SomethingNew"},
            {"id": "c3"}
        ]"#;
        let devices: Vec<Device> = serde_json::from_str::<Vec<DeviceFields>>(page)
            .expect("fields parse")
            .into_iter()
            .map(Device::from)
            .collect();
        let expected = [
            ("a1", Some("ws-1.corp"), false),
            ("b2", None, true),
            ("c3", None, true),
        ];
        for (device, (id, name, active)) in devices.iter().zip(expected) {
            assert_eq!(
                (device.id.as_str(), device.name.as_deref(), device.active),
                (id, name, active)
            );
        }
    }
}
