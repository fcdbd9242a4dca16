//! Every playbook shipped in `playbooks/` validates, compiles, plans and renders, and every
//! script beside them is used: nothing shipped can rot unnoticed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fleetlr_playbook::{Catalogue, Command, FileFacts, Limits, ParamKind, TemplateContext};

fn playbooks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks")
}

fn catalogue() -> Catalogue {
    let mut catalogue = Catalogue::new("playbooks/scripts");
    for entry in std::fs::read_dir(playbooks_dir().join("scripts")).expect("scripts dir") {
        let entry = entry.expect("dir entry");
        let size = entry.metadata().expect("metadata").len();
        let name = entry.file_name().into_string().expect("utf-8 name");
        // Hashes are the binary's business; any value does for validation.
        catalogue.files.insert(
            name,
            FileFacts {
                size,
                sha256: "0".repeat(64),
            },
        );
    }
    catalogue
}

/// A plausible value for each parameter, as an operator would pass it.
fn sample_value(kind: &ParamKind, name: &str) -> String {
    match (kind, name) {
        (_, "path") => r"C:\Users\alice\Downloads\invoice copy.pdf.lnk".into(),
        (_, "process") => "OfficeClickToRun".into(),
        (ParamKind::Int, _) => "2".into(),
        (ParamKind::Bool, _) => "true".into(),
        (ParamKind::Enum(values), _) => values[0].clone(),
        (ParamKind::String, _) => "value".into(),
    }
}

#[test]
fn every_shipped_playbook_validates_compiles_and_renders() {
    let catalogue = catalogue();
    let mut used_scripts = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(playbooks_dir())
        .expect("playbooks dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 5,
        "expected the shipped playbooks, found {paths:?}"
    );
    for path in &paths {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).expect("readable playbook");
        assert!(
            text.starts_with("# "),
            "{origin}: starts with a header comment"
        );
        let compiled = fleetlr_playbook::load(&origin, &text, &catalogue)
            .unwrap_or_else(|problems| panic!("{problems}"));
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("stem");
        assert_eq!(
            compiled.playbook.name, stem,
            "{origin}: name matches the file name"
        );
        used_scripts.extend(compiled.library_files().iter().map(|f| f.name.to_string()));

        let estimate = fleetlr_playbook::estimate(&compiled, 1_000, &Limits::default());
        assert_eq!(estimate.total_calls, 1_000 * compiled.calls.len() as u64);

        let supplied: BTreeMap<String, String> = compiled
            .playbook
            .parameters
            .iter()
            .map(|p| (p.name.clone(), sample_value(&p.kind, &p.name)))
            .collect();
        let params = compiled
            .bind_parameters(&supplied)
            .unwrap_or_else(|e| panic!("{origin}: {e:?}"));
        let alert: BTreeMap<String, String> = compiled
            .playbook
            .alert_fields
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    r"C:\Users\bob\AppData\Local\Temp\invoice.exe".into(),
                )
            })
            .collect();
        let ctx = TemplateContext {
            run_id: "3f2a9c1e-0000-4000-8000-000000000001",
            device_id: "a9e15a8b846d93d43d6",
            device_name: "ws-042.corp.example",
            params: &params,
            alert: compiled.needs_alert().then_some(&alert),
        };
        let calls =
            fleetlr_playbook::render(&compiled, &ctx).unwrap_or_else(|e| panic!("{origin}: {e}"));
        for command in calls.iter().flat_map(|c| &c.commands) {
            if let Command::GetFile { path } = &command.command {
                assert!(!path.contains("{{"), "{origin}: {path}");
            }
        }
    }
    let mut unused: Vec<String> = catalogue
        .files
        .keys()
        .filter(|n| !used_scripts.contains(n))
        .cloned()
        .collect();
    unused.sort();
    assert!(unused.is_empty(), "scripts no playbook uses: {unused:?}");
}

#[test]
fn the_memory_dump_playbook_sends_the_api_documentation_example() {
    let path = playbooks_dir().join("process-memory-dump.yaml");
    let text = std::fs::read_to_string(&path).expect("playbook");
    let compiled =
        fleetlr_playbook::load("process-memory-dump.yaml", &text, &catalogue()).expect("valid");
    let supplied = BTreeMap::from([("process".to_owned(), "OfficeClickToRun".to_owned())]);
    let params = compiled.bind_parameters(&supplied).expect("bound");
    let ctx = TemplateContext {
        run_id: "r",
        device_id: "d",
        device_name: "n",
        params: &params,
        alert: None,
    };
    let calls = fleetlr_playbook::render(&compiled, &ctx).expect("rendered");
    let commands: Vec<&Command> = calls
        .iter()
        .flat_map(|c| c.commands.iter().map(|c| &c.command))
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        commands,
        vec![
            &Command::RunScript {
                script_name: "minidump.ps1".into(),
                args: Some("OfficeClickToRun".into())
            },
            &Command::GetFile {
                path: r"C:\windows\TEMP\OfficeClickToRun.dmp.zip".into()
            },
        ]
    );
}
