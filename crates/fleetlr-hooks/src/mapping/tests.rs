//! Each format against a payload written from its documented shape.

use serde_json::json;

use super::*;

fn mapping(format: Format) -> Mapping {
    Mapping {
        format,
        fields: BTreeMap::new(),
    }
}

fn defender_alert() -> Value {
    json!({
        "id": "da637551227677560813_-961444813",
        "incidentId": 1126093,
        "investigationId": null,
        "severity": "High",
        "status": "New",
        "detectionSource": "WindowsDefenderAv",
        "category": "CredentialAccess",
        "threatFamilyName": "Mimikatz",
        "title": "Mimikatz credential theft tool",
        "description": "The Mimikatz credential theft tool was detected on this device.",
        "alertCreationTime": "2026-11-30T09:14:02.1234567Z",
        "machineId": "111e6dd8c833c8a052ea231ec1b19adaf497b625",
        "computerDnsName": "ws-00007.corp.contoso.com",
        "rbacGroupName": "Workstations",
        "mitreTechniques": ["T1003"],
        "evidence": [
            {"entityType": "User", "accountName": "alice", "domainName": "CORP"},
            {
                "entityType": "Process",
                "evidenceCreationTime": "2026-11-30T09:14:02.29Z",
                "sha1": "5ab6c9d0f5f6d1b7e0e9a53e2dcd2c7d8b6f9c11",
                "sha256": "4b2a0c3e2f6e3f6e1c5d2b9c8a7f6e5d4c3b2a19081726354453627180919a0b",
                "fileName": "invoice.exe",
                "filePath": "C:\\Users\\alice\\Downloads",
                "processId": 7212,
                "processCommandLine": "invoice.exe \"privilege::debug\"",
                "parentProcessId": 4120,
                "detectionStatus": "Detected"
            },
            {
                "entityType": "File",
                "sha256": "9f1e0c3e2f6e3f6e1c5d2b9c8a7f6e5d4c3b2a19081726354453627180919a0b",
                "fileName": "mimi.dll",
                "filePath": "C:\\Users\\alice\\AppData\\Local\\Temp",
                "detectionStatus": "Blocked"
            }
        ]
    })
}

#[test]
fn a_defender_alert_gives_its_device_and_the_process_and_file_of_its_evidence() {
    let alert = mapping(Format::Defender)
        .map(&defender_alert())
        .expect("maps");
    assert_eq!(alert.id, "da637551227677560813_-961444813");
    assert_eq!(alert.severity(), Some(Severity::High));
    assert_eq!(alert.field("category"), Some("CredentialAccess"));
    assert_eq!(alert.devices.len(), 1);
    let device = &alert.devices[0];
    assert_eq!(device.id, "111e6dd8c833c8a052ea231ec1b19adaf497b625");
    let fields = alert.fields_for(device);
    assert_eq!(fields["device_name"], "ws-00007.corp.contoso.com");
    assert_eq!(fields["process_name"], "invoice.exe");
    assert_eq!(fields["process_id"], "7212");
    // The File evidence wins over the process image for the file fields.
    assert_eq!(
        fields["file_path"],
        "C:\\Users\\alice\\AppData\\Local\\Temp\\mimi.dll"
    );
    assert_eq!(fields["file_name"], "mimi.dll");
    assert_eq!(fields["title"], "Mimikatz credential theft tool");
}

#[test]
fn a_defender_alert_without_a_machine_maps_to_nothing_and_says_why() {
    let mut payload = defender_alert();
    payload["machineId"] = Value::Null;
    let err = mapping(Format::Defender)
        .map(&payload)
        .expect_err("no device");
    assert!(err.contains("names no device"), "{err}");
    let err = mapping(Format::Defender)
        .map(&json!({"value": []}))
        .expect_err("not an alert");
    assert!(err.contains("no `id`"), "{err}");
}

fn graph_alert() -> Value {
    json!({
        "@odata.type": "#microsoft.graph.security.alert",
        "id": "da637578995287051192_756343937",
        "providerAlertId": "da637578995287051192_756343937",
        "incidentId": "28282",
        "status": "new",
        "severity": "medium",
        "classification": null,
        "serviceSource": "microsoftDefenderForEndpoint",
        "detectionSource": "antivirus",
        "title": "Suspicious execution of hidden file",
        "category": "DefenseEvasion",
        "createdDateTime": "2026-11-30T11:02:12.123Z",
        "evidence": [
            {
                "@odata.type": "#microsoft.graph.security.deviceEvidence",
                "createdDateTime": "2026-11-30T11:02:12.123Z",
                "verdict": "unknown",
                "remediationStatus": "none",
                "mdeDeviceId": "73e7e2de709dff64ef64b1d0c30e67fab63279db",
                "azureAdDeviceId": null,
                "deviceDnsName": "srv-0003.corp.contoso.com",
                "osPlatform": "WindowsServer2019",
                "healthStatus": "active",
                "riskScore": "medium",
                "rbacGroupName": "Servers"
            },
            {
                "@odata.type": "#microsoft.graph.security.deviceEvidence",
                "mdeDeviceId": "c0ffee00709dff64ef64b1d0c30e67fab63279db",
                "deviceDnsName": "srv-0004.corp.contoso.com"
            },
            {
                "@odata.type": "#microsoft.graph.security.processEvidence",
                "processId": 4780,
                "processCommandLine": "\"hidden.exe\" -s",
                "mdeDeviceId": "73e7e2de709dff64ef64b1d0c30e67fab63279db",
                "imageFile": {
                    "sha256": "aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233",
                    "fileName": "hidden.exe",
                    "filePath": "C:\\ProgramData\\.cache",
                    "fileSize": 180224
                },
                "detectionStatus": "detected"
            },
            {
                "@odata.type": "#microsoft.graph.security.userEvidence",
                "userAccount": {"accountName": "svc-backup", "domainName": "CORP"}
            }
        ]
    })
}

#[test]
fn a_graph_alert_gives_each_device_evidence_with_the_process_evidence_of_that_device() {
    let alert = mapping(Format::Graph).map(&graph_alert()).expect("maps");
    assert_eq!(alert.id, "da637578995287051192_756343937");
    assert_eq!(alert.severity(), Some(Severity::Medium));
    let ids: Vec<&str> = alert.devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "73e7e2de709dff64ef64b1d0c30e67fab63279db",
            "c0ffee00709dff64ef64b1d0c30e67fab63279db"
        ]
    );
    let first = alert.fields_for(&alert.devices[0]);
    assert_eq!(first["process_name"], "hidden.exe");
    assert_eq!(first["file_path"], "C:\\ProgramData\\.cache\\hidden.exe");
    assert_eq!(first["device_name"], "srv-0003.corp.contoso.com");
    // The process belongs to the first device only.
    let second = alert.fields_for(&alert.devices[1]);
    assert!(!second.contains_key("process_name"), "{second:?}");
}

#[test]
fn a_graph_alert_without_device_evidence_maps_to_nothing() {
    let mut payload = graph_alert();
    payload["evidence"] = json!([]);
    assert!(mapping(Format::Graph).map(&payload).is_err());
}

fn sentinel_trigger_body() -> Value {
    json!({
        "eventUniqueId": "0d6b7e3a-8f8e-4a4b-9d8e-7b1c6a2f0e11",
        "objectSchemaType": "Incident",
        "objectEventType": "Create",
        "workspaceInfo": {
            "SubscriptionId": "6b3e1f9c-1111-4222-8333-944455556666",
            "ResourceGroupName": "rg-soc",
            "WorkspaceName": "law-soc"
        },
        "workspaceId": "8c1b2a3d-0000-4000-8000-00000000abcd",
        "object": {
            "id": "/subscriptions/6b3e1f9c-1111-4222-8333-944455556666/resourceGroups/rg-soc/providers/Microsoft.OperationalInsights/workspaces/law-soc/providers/Microsoft.SecurityInsights/Incidents/5a1c3b2e-4d6f-4a8b-9c0d-1e2f3a4b5c6d",
            "name": "5a1c3b2e-4d6f-4a8b-9c0d-1e2f3a4b5c6d",
            "type": "Microsoft.SecurityInsights/Incidents",
            "properties": {
                "title": "Ransomware activity on one endpoint",
                "description": "Files were encrypted by a process on the device.",
                "severity": "High",
                "status": "New",
                "incidentNumber": 4711,
                "incidentUrl": "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/.../5a1c3b2e",
                "additionalData": {
                    "alertsCount": 1,
                    "tactics": ["Impact"],
                    "alertProductNames": ["Microsoft Defender Advanced Threat Protection"]
                },
                "Alerts": [
                    {"properties": {"alertDisplayName": "Ransomware behavior detected", "severity": "High", "systemAlertId": "f1e2d3c4"}}
                ],
                "relatedEntities": [
                    {
                        "id": "/subscriptions/.../Entities/2b3c",
                        "kind": "Host",
                        "properties": {
                            "hostName": "ws-00012",
                            "dnsDomain": "corp.contoso.com",
                            "osFamily": "Windows",
                            "additionalData": {"MdatpDeviceId": "9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d"},
                            "friendlyName": "ws-00012"
                        }
                    },
                    {
                        "kind": "File",
                        "properties": {"fileName": "locker.exe", "directory": "C:\\Users\\bob\\AppData\\Roaming", "friendlyName": "locker.exe"}
                    },
                    {
                        "kind": "Process",
                        "properties": {"processId": "6120", "commandLine": "locker.exe --all", "friendlyName": "locker.exe"}
                    },
                    {"kind": "Account", "properties": {"accountName": "bob", "ntDomain": "CORP"}}
                ]
            }
        }
    })
}

#[test]
fn a_sentinel_incident_from_a_logic_app_gives_its_host_by_mde_id_or_by_name() {
    let alert = mapping(Format::Sentinel)
        .map(&sentinel_trigger_body())
        .expect("maps");
    assert_eq!(alert.id, "5a1c3b2e-4d6f-4a8b-9c0d-1e2f3a4b5c6d");
    assert_eq!(alert.field("category"), Some("Impact"));
    assert_eq!(alert.field("incident_number"), Some("4711"));
    assert_eq!(alert.severity(), Some(Severity::High));
    let device = &alert.devices[0];
    assert_eq!(device.id, "9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d");
    let fields = alert.fields_for(device);
    assert_eq!(fields["device_name"], "ws-00012.corp.contoso.com");
    assert_eq!(
        fields["file_path"],
        "C:\\Users\\bob\\AppData\\Roaming\\locker.exe"
    );
    assert_eq!(fields["process_command_line"], "locker.exe --all");

    // The incident itself (the Logic App posted `object`), with a host MDE gave no id for.
    let mut incident = sentinel_trigger_body()["object"].clone();
    incident["properties"]["relatedEntities"][0]["properties"]["additionalData"] = json!({});
    let alert = mapping(Format::Sentinel).map(&incident).expect("maps");
    assert_eq!(alert.devices[0].id, "ws-00012.corp.contoso.com");
}

#[test]
fn a_sentinel_incident_without_a_host_maps_to_nothing() {
    let mut body = sentinel_trigger_body();
    body["object"]["properties"]["relatedEntities"] =
        json!([{"kind": "Ip", "properties": {"address": "10.0.0.5"}}]);
    let err = mapping(Format::Sentinel).map(&body).expect_err("no host");
    assert!(err.contains("names no device"), "{err}");
}

#[test]
fn a_generic_mapping_reads_what_its_pointers_name_and_extra_fields_win() {
    let pointer = |text: &str| Pointer::parse(text).expect("pointer");
    let mapping = Mapping {
        format: Format::Generic {
            alert_id: pointer("/detection/id"),
            device_id: pointer("/hosts"),
        },
        fields: [
            ("title".to_owned(), pointer("/detection/name")),
            ("severity".to_owned(), pointer("/detection/level")),
            ("process_name".to_owned(), pointer("/proc/image")),
            ("file_path".to_owned(), pointer("/proc/path")),
            ("weird~key".to_owned(), pointer("/a~1b")),
        ]
        .into_iter()
        .collect(),
    };
    let payload = json!({
        "detection": {"id": 99812, "name": "Beacon", "level": "critical"},
        "hosts": ["dev-1", "dev-2", "dev-1"],
        "proc": {"image": "rundll32.exe", "path": "C:\\Windows\\System32\\rundll32.exe"},
        "a/b": true
    });
    let alert = mapping.map(&payload).expect("maps");
    assert_eq!(alert.id, "99812");
    assert_eq!(alert.severity(), Some(Severity::High));
    assert_eq!(alert.devices.len(), 2);
    let fields = alert.fields_for(&alert.devices[1]);
    assert_eq!(fields["device_id"], "dev-2");
    assert_eq!(fields["process_name"], "rundll32.exe");
    assert_eq!(fields["weird~key"], "true");
    assert!(mapping.provides().contains("file_path"));
    assert!(!mapping.provides().contains("sha256"));
    let err = mapping
        .map(&json!({"detection": {"id": 1}}))
        .expect_err("no host");
    assert!(err.contains("/hosts"), "{err}");
}

#[test]
fn pointers_are_checked_when_configured() {
    assert!(Pointer::parse("").is_ok());
    assert!(Pointer::parse("/a/~0b/~1c").is_ok());
    assert!(
        Pointer::parse("a/b")
            .expect_err("no slash")
            .contains("start it with `/`")
    );
    assert!(Pointer::parse("/a~2").is_err());
    assert!(Pointer::parse("/a~").is_err());
}
