//! Any bytes through both YAML paths, and through binding and rendering when they happen to
//! form a valid playbook: nothing may panic, and every refusal must carry a position.

#![no_main]

use std::collections::BTreeMap;

use fleetlr_playbook::{Catalogue, FileFacts, TemplateContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut catalogue = Catalogue::new("scripts");
    for name in ["minidump.ps1", "collect.sh", "tool.exe"] {
        catalogue.files.insert(
            name.into(),
            FileFacts {
                size: 100,
                sha256: "00".into(),
            },
        );
    }
    let text = match fleetlr_playbook::decode_text("fuzz.yaml", data) {
        Ok(text) => text,
        Err(problems) => {
            assert_eq!(problems.diagnostics.len(), 1);
            return;
        }
    };
    let _ = fleetlr_playbook::yaml::from_str::<serde_yaml::Value>("fuzz.yaml", text);
    let compiled = match fleetlr_playbook::load("fuzz.yaml", text, &catalogue) {
        Ok(compiled) => compiled,
        Err(problems) => {
            assert!(!problems.diagnostics.is_empty());
            assert!(
                problems
                    .diagnostics
                    .iter()
                    .all(|d| d.pos.line >= 1 && d.pos.column >= 1)
            );
            let _ = problems.to_string();
            return;
        }
    };
    // A valid playbook: every step lands in exactly one call, in order.
    let ids: Vec<_> = compiled
        .calls
        .iter()
        .flat_map(|c| &c.commands)
        .map(|s| &s.id)
        .collect();
    assert_eq!(
        ids,
        compiled
            .playbook
            .steps
            .iter()
            .map(|s| &s.id)
            .collect::<Vec<_>>()
    );
    let supplied: BTreeMap<String, String> = compiled
        .playbook
        .parameters
        .iter()
        .map(|p| (p.name.clone(), "value".to_owned()))
        .collect();
    if let Ok(params) = compiled.bind_parameters(&supplied) {
        let alert: BTreeMap<String, String> = compiled
            .playbook
            .alert_fields
            .iter()
            .map(|f| (f.name.clone(), "/x".into()))
            .collect();
        let ctx = TemplateContext {
            run_id: "run",
            device_id: "device",
            device_name: "host",
            params: &params,
            alert: Some(&alert),
        };
        let _ = fleetlr_playbook::render(&compiled, &ctx);
    }
    let _ = fleetlr_playbook::estimate(&compiled, 1_000, &fleetlr_playbook::Limits::default());
});
