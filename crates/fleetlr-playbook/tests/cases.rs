//! Data-driven tests: every `cases/NAME.yaml` is read with a fixed script catalogue and the
//! result is compared with `cases/NAME.expected`: every problem as `file:line:column: message`
//! for an invalid playbook, the compiled calls for a valid one.
//!
//! After an intended change, run `UPDATE_EXPECT=1 cargo test -p fleetlr-playbook --test cases`
//! and review the diff of the `.expected` files.

use std::fmt::Write as _;
use std::path::Path;

use fleetlr_playbook::{Action, Catalogue, CompiledPlaybook, FileFacts, OnFailure};

fn catalogue() -> Catalogue {
    let mut catalogue = Catalogue::new("scripts");
    for (name, size) in [
        ("minidump.ps1", 2_048),
        ("collect-triage.ps1", 9_000),
        ("collect.sh", 1_500),
        ("tool.exe", 3_000_000),
        ("huge.zip", 25_000_000),
    ] {
        catalogue.files.insert(
            name.into(),
            FileFacts {
                size,
                sha256: format!("{name}-sha256"),
            },
        );
    }
    catalogue
}

fn describe_plan(plan: &CompiledPlaybook) -> String {
    let mut out = String::new();
    for (i, call) in plan.calls.iter().enumerate() {
        write!(out, "call {}:", i + 1).expect("should succeed");
        for step in &call.commands {
            let detail = match &step.action {
                Action::PutFile { file } => file.name.to_string(),
                Action::RunScript { script, args } => match args {
                    Some(args) => format!("{} {}", script.name, args.source),
                    None => script.name.to_string(),
                },
                Action::GetFile { path } => path.source.clone(),
            };
            let cont = if step.on_failure == OnFailure::Continue {
                " (continue)"
            } else {
                ""
            };
            write!(
                out,
                "\n  {} {} [{}]{cont}",
                step.action.kind(),
                detail,
                step.id
            )
            .expect("should succeed");
        }
        out.push('\n');
    }
    out
}

#[test]
fn cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("should succeed")
        .map(|e| e.expect("should succeed").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 15,
        "cases are missing from {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for path in &paths {
        let name = path
            .file_name()
            .expect("should succeed")
            .to_str()
            .expect("should succeed");
        let text = std::fs::read_to_string(path).expect("should succeed");
        let actual = match fleetlr_playbook::load(name, &text, &catalogue()) {
            Ok(plan) => describe_plan(&plan),
            Err(problems) => format!("{problems}\n"),
        };
        let expected_path = path.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &actual).expect("should succeed");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "--- {name}\nexpected:\n{expected}actual:\n{actual}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
