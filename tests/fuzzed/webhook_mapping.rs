//! An alert webhook's payload, any bytes, as the daemon reads it: JSON first, then every
//! format's mapping (Defender, Graph, Sentinel, and generic pointers taken from the payload's
//! own first bytes), then a rule that templates parameters from the alert's fields. Nothing may
//! panic; a payload that maps to nothing must say why, and an alert that maps has an id and at
//! least one device with an id.
//! Shared by the fuzz target (`fuzz/fuzz_targets/webhook_mapping.rs`) and the mutation test in
//! `tests/it/fuzz_corpus.rs`.

use std::collections::BTreeMap;

use fleetlr_hooks::{FieldTemplate, Format, Mapping, Pointer, Rule, Severity};

pub fn webhook_mapping(data: &[u8]) {
    // Pointers and templates are configuration, but a fuzzer reaches their parsers cheaply too.
    let text = String::from_utf8_lossy(&data[..data.len().min(64)]);
    let first_line = text.lines().next().unwrap_or_default();
    let pointer = Pointer::parse(first_line).unwrap_or_else(|reason| {
        assert!(!reason.is_empty());
        Pointer::parse("/id").expect("a valid pointer")
    });
    let template = FieldTemplate::parse(first_line).unwrap_or_else(|reason| {
        assert!(!reason.is_empty());
        FieldTemplate::parse("{{ alert.title }} on {{ alert.device_id }}").expect("a template")
    });
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let formats = [
        Format::Defender,
        Format::Graph,
        Format::Sentinel,
        Format::Generic {
            alert_id: pointer.clone(),
            device_id: Pointer::parse("/device").expect("a valid pointer"),
        },
    ];
    let rule = Rule {
        name: "fuzz".into(),
        hooks: Vec::new(),
        severity_at_least: Some(Severity::Low),
        title: None,
        category: None,
        device_tags: vec!["prod".into()],
        playbook: "alert-response".into(),
        parameters: BTreeMap::from([("reason".to_owned(), template)]),
        priority: fleetlr_playbook::Priority::Response,
        tenant: None,
        cooldown: None,
        playbook_alert_fields: vec!["process_name".into()],
    };
    for format in formats {
        let mapping = Mapping {
            format,
            fields: BTreeMap::from([("extra".to_owned(), pointer.clone())]),
        };
        let _ = mapping.provides();
        let alert = match mapping.map(&payload) {
            Ok(alert) => alert,
            Err(reason) => {
                assert!(!reason.is_empty());
                continue;
            }
        };
        assert!(!alert.id.is_empty());
        assert_eq!(alert.field("id"), Some(alert.id.as_str()));
        assert!(!alert.devices.is_empty());
        let _ = rule.matches_alert(&alert);
        for device in &alert.devices {
            assert!(!device.id.is_empty());
            let _ = rule.matches_tags(std::slice::from_ref(&device.id));
            let fields = alert.fields_for(device);
            assert_eq!(fields.get("device_id"), Some(&device.id));
            if let Err(reason) = rule.fire(fields) {
                assert!(!reason.is_empty());
            }
        }
    }
}
