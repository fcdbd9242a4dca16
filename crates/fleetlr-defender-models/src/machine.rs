//! Devices (`/api/machines`).

use super::wire::{null_as_default, open_enum, string_or_number, timestamp};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

open_enum!(
    /// Whether the sensor reports; live response needs an `Active` device.
    HealthStatus {
        /// Reporting.
        Active,
        /// Stopped reporting for a while.
        Inactive,
        /// Reporting with communication problems.
        ImpairedCommunication,
        /// No sensor data.
        NoSensorData,
        /// No sensor data and communication problems.
        NoSensorDataImpairedCommunication,
        /// The service does not know.
        Unknown,
    }
);

open_enum!(
    /// Onboarding state (the docs write `onboarded`, the service `Onboarded`: matched either way).
    OnboardingStatus {
        /// Onboarded.
        Onboarded,
        /// Seen on the network and onboardable.
        CanBeOnboarded,
        /// Not supported.
        Unsupported,
        /// Not enough information.
        InsufficientInfo,
    }
);

open_enum!(
    /// Risk score.
    RiskScore {
        /// No risk.
        None,
        /// Informational.
        Informational,
        /// Low.
        Low,
        /// Medium.
        Medium,
        /// High.
        High,
    }
);

open_enum!(
    /// Exposure level.
    ExposureLevel {
        /// None.
        None,
        /// Low.
        Low,
        /// Medium.
        Medium,
        /// High.
        High,
    }
);

open_enum!(
    /// Device value.
    DeviceValue {
        /// Normal.
        Normal,
        /// Low.
        Low,
        /// High.
        High,
    }
);

open_enum!(
    /// How `isolate` cuts a device off.
    IsolationType {
        /// Everything but the Defender service.
        Full,
        /// Outlook, Teams and Skype keep working.
        Selective,
        /// Contain an unmanaged device.
        UnManagedDevice,
    }
);

/// A device known to Defender for Endpoint.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    /// The device id; required, as every device call needs it.
    pub id: String,
    /// The device's fully qualified name.
    #[serde(default)]
    pub computer_dns_name: Option<String>,
    /// First seen.
    #[serde(default, deserialize_with = "timestamp")]
    pub first_seen: Option<DateTime<Utc>>,
    /// Last full device report (normally daily; not the portal's "last seen").
    #[serde(default, deserialize_with = "timestamp")]
    pub last_seen: Option<DateTime<Utc>>,
    /// `Windows10`, `WindowsServer2019`, `Linux`, …
    #[serde(default)]
    pub os_platform: Option<String>,
    /// The OS version (`21H1`), when sent.
    #[serde(default)]
    pub os_version: Option<String>,
    /// The OS build, when known.
    #[serde(default)]
    pub os_build: Option<i64>,
    /// Deprecated by the service in favour of `osArchitecture`.
    #[serde(default)]
    pub os_processor: Option<String>,
    /// `32-bit` or `64-bit`.
    #[serde(default)]
    pub os_architecture: Option<String>,
    /// The OS version string.
    #[serde(default)]
    pub version: Option<String>,
    /// The sensor's version.
    #[serde(default)]
    pub agent_version: Option<String>,
    /// Onboarding state (the docs spell the key `onboardingstatus`).
    #[serde(default, alias = "onboardingstatus")]
    pub onboarding_status: Option<OnboardingStatus>,
    /// Sensor health.
    #[serde(default)]
    pub health_status: Option<HealthStatus>,
    /// Last internal IP address.
    #[serde(default)]
    pub last_ip_address: Option<String>,
    /// Last external IP address.
    #[serde(default)]
    pub last_external_ip_address: Option<String>,
    /// The device group's id, as decimal text (a number on the wire, kept lossless either way).
    #[serde(default, deserialize_with = "string_or_number")]
    pub rbac_group_id: Option<String>,
    /// The device group's name (not filterable server-side).
    #[serde(default)]
    pub rbac_group_name: Option<String>,
    /// Risk score.
    #[serde(default)]
    pub risk_score: Option<RiskScore>,
    /// Exposure level.
    #[serde(default)]
    pub exposure_level: Option<ExposureLevel>,
    /// Device value.
    #[serde(default)]
    pub device_value: Option<DeviceValue>,
    /// The Entra ID device id.
    #[serde(default)]
    pub aad_device_id: Option<String>,
    /// Whether the device is Entra ID joined.
    #[serde(default)]
    pub is_aad_joined: Option<bool>,
    /// Tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub machine_tags: Vec<String>,
    /// Network interfaces.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ip_addresses: Vec<IpAddress>,
    /// Antivirus status.
    #[serde(default)]
    pub defender_av_status: Option<String>,
    /// Who manages the device (`MicrosoftDefenderForEndpoint`, `Intune`, …).
    #[serde(default)]
    pub managed_by: Option<String>,
    /// Whether the device may be a duplicate of another.
    #[serde(default)]
    pub is_potential_duplication: Option<bool>,
    /// The device this one was merged into.
    #[serde(default)]
    pub merged_into_machine_id: Option<String>,
    /// Whether the device is excluded from vulnerability management.
    #[serde(default)]
    pub is_excluded: Option<bool>,
}

/// One network interface of a device.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IpAddress {
    /// The address.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// The interface's MAC address.
    #[serde(default)]
    pub mac_address: Option<String>,
    /// `Up`, `Down`, …
    #[serde(default)]
    pub operational_status: Option<String>,
    /// The interface type (`Ethernet`, …).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_machine_parses() {
        let machine: Machine = serde_json::from_str(
            r#"{
    "id": "1e5bc9d7e413ddd7902c2932e418702b84d0cc07",
    "computerDnsName": "mymachine1.contoso.com",
    "firstSeen": "2018-08-02T14:55:03.7791856Z",
    "lastSeen": "2021-09-01T09:20:33.353Z",
    "osPlatform": "Windows10",
    "version": "1709",
    "osProcessor": "x64",
    "lastIpAddress": "172.17.230.209",
    "lastExternalIpAddress": "167.220.196.71",
    "osBuild": 18209,
    "healthStatus": "Active",
    "onboardingStatus": "Onboarded",
    "rbacGroupId": 140,
    "rbacGroupName": "The-A-Team",
    "riskScore": "Low",
    "exposureLevel": "Medium",
    "isAadJoined": true,
    "aadDeviceId": "80fe8ff8-2624-418e-9591-41f0491218f9",
    "machineTags": [ "test tag 1", "test tag 2" ],
    "ipAddresses": [{"ipAddress": "10.0.0.4", "macAddress": "000D3A1B2C3D",
                     "operationalStatus": "Up", "type": "Ethernet"}],
    "osArchitecture": "64-bit",
    "deviceValue": "Critical",
    "agentVersion": "10.7740.19041.1151"
}"#,
        )
        .expect("machine parses");
        assert_eq!(machine.health_status, Some(HealthStatus::Active));
        assert_eq!(machine.onboarding_status, Some(OnboardingStatus::Onboarded));
        assert_eq!(machine.rbac_group_id.as_deref(), Some("140"));
        assert_eq!(machine.machine_tags, ["test tag 1", "test tag 2"]);
        assert_eq!(machine.os_build, Some(18209));
        assert_eq!(machine.risk_score, Some(RiskScore::Low));
        assert_eq!(
            machine.device_value,
            Some(DeviceValue::Other("Critical".into()))
        );
        assert_eq!(machine.ip_addresses[0].kind.as_deref(), Some("Ethernet"));
        assert!(machine.last_seen.is_some());
    }

    #[test]
    fn a_sparse_machine_with_documented_spellings_parses() {
        let machine: Machine = serde_json::from_str(
            r#"{"id": "m1", "onboardingstatus": "onboarded", "healthStatus": null,
                "machineTags": null, "rbacGroupId": "7", "ipAddresses": null}"#,
        )
        .expect("machine parses");
        assert_eq!(machine.onboarding_status, Some(OnboardingStatus::Onboarded));
        assert_eq!(machine.health_status, None);
        assert!(machine.machine_tags.is_empty() && machine.ip_addresses.is_empty());
        assert_eq!(machine.rbac_group_id.as_deref(), Some("7"));
    }
}
