//! `fleetlr validate`, `plan` and `playbook schema` as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fleetlr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fleetlr"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("fleetlr runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn validate_accepts_the_shipped_playbooks() {
    let output = fleetlr(&["validate", "playbooks"]);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).contains(
        "ok  playbooks/process-memory-dump.yaml: process-memory-dump (2 steps in 1 call"
    ));
}

#[test]
fn validate_reports_every_problem_with_its_position_and_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "name: bad\ndescription: x\nsteps:\n  - get_file: \"C:\\temp\\triage.zip\"\n  - run_script: missing.ps1\n    args: a;b\n")
        .expect("write");
    let output = fleetlr(&["validate", path.to_str().expect("utf-8 path")]);
    assert!(!output.status.success());
    let out = stdout(&output);
    let origin = path.display();
    assert!(
        out.contains(&format!(
            "{origin}:4:15: GetFile path contains a TAB character"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{origin}:5:17: library file `missing.ps1` is not in"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{origin}:6:12: script arguments contain `;`")),
        "{out}"
    );
    assert!(
        out.contains("1 playbooks checked, 1 with problems"),
        "{out}"
    );
}

#[test]
fn plan_shows_calls_and_the_estimate() {
    let output = fleetlr(&[
        "plan",
        "playbooks/fleet-triage-windows.yaml",
        "--devices",
        "1000",
    ]);
    assert!(output.status.success());
    let out = stdout(&output);
    assert!(
        out.contains("[collect] RunScript collect-triage.ps1"),
        "{out}"
    );
    assert!(out.contains("1000 in all at 10/min"), "{out}");
    assert!(out.contains("wall time"), "{out}");
}

#[test]
fn schema_is_json() {
    let output = fleetlr(&["playbook", "schema"]);
    assert!(output.status.success());
    assert!(stdout(&output).contains("\"title\": \"fleetlr playbook\""));
}

#[test]
fn validate_checks_a_daemon_configuration_and_its_playbooks_offline() {
    let output = fleetlr(&["validate", "--config", "config/dev.yaml"]);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("ok  config/dev.yaml: tenants lab"), "{out}");
    assert!(
        out.contains("6 playbooks checked, 0 with problems"),
        "{out}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "tenants:\n  - {name: prod, tenant_id: t, client_id: c}\nplaybooks_dir: .\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("p.yaml"),
        "name: p\ndescription: x\nsteps:\n  - get_file: x\n",
    )
    .expect("write");
    let output = fleetlr(&["validate", "--config", path.to_str().expect("utf-8 path")]);
    assert!(!output.status.success());
    assert!(
        stdout(&output)
            .contains("tenant `prod`: give exactly one of `client_secret` and `certificate`"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn tokens_are_created_once_listed_without_secrets_and_revoked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("fleetlr.yaml");
    std::fs::write(&config, "tenants:\n  - {name: lab, simulated: {}}\n").expect("write");
    let config = config.to_str().expect("utf-8 path");
    let created = fleetlr(&[
        "token", "create", "--name", "soar", "--role", "operator", "--config", config,
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = stdout(&created).trim().to_owned();
    assert!(token.starts_with("flr_"), "{token}");
    let listed = stdout(&fleetlr(&["token", "list", "--config", config]));
    assert!(
        listed.contains("soar") && listed.contains("operator") && listed.contains("live"),
        "{listed}"
    );
    assert!(
        !listed.contains(&token[4..]),
        "the secret is never shown again"
    );
    let again = fleetlr(&[
        "token", "create", "--name", "soar", "--role", "viewer", "--config", config,
    ]);
    assert!(!again.status.success(), "names are unique");
    assert!(
        fleetlr(&["token", "revoke", "soar", "--config", config])
            .status
            .success()
    );
    assert!(stdout(&fleetlr(&["token", "list", "--config", config])).contains("revoked"));
}
