//! `fleetlr doctor --config FILE` against the simulator configured to fail each check: the
//! credential, a token endpoint that fails, an app without some permissions, a clock that is
//! off, and a data directory that cannot be written.

use std::path::Path;

use fleetlr_tests::start_sim;

use crate::daemon::write_config;

/// Runs the doctor; its exit status and what it printed.
fn doctor(config: &Path, secret: &str) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fleetlr-under-test"))
        .args(["doctor", "--config"])
        .arg(config)
        .env("E2E_CLIENT_SECRET", secret)
        .output()
        .expect("the doctor runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn line<'a>(report: &'a str, what: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.contains(&format!("  {what}:")))
        .unwrap_or_else(|| panic!("no `{what}` line in:\n{report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_tenant_passes_and_a_wrong_secret_fails_the_token_check() {
    let sim = start_sim(|a| a.devices = 1, "").await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), &sim);
    let (passed, report) = doctor(&config, sim.sim.client_secret());
    assert!(passed, "{report}");
    for what in [
        "token",
        "permission Machine.Read.All",
        "permission Library.Manage",
        "library",
        "clock",
        "disk",
    ] {
        assert!(line(&report, what).starts_with("  ok  "), "{report}");
    }
    assert!(
        line(&report, "permission Machine.LiveResponse").contains("roles claim"),
        "{report}"
    );
    let (passed, report) = doctor(&config, "not-the-secret");
    assert!(!passed, "{report}");
    let token = line(&report, "token");
    assert!(token.starts_with("  FAIL"), "{report}");
    assert!(token.contains("client_id"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_without_permissions_fails_each_missing_one_with_how_to_grant_it() {
    let sim = start_sim(
        |a| a.devices = 1,
        "apps:\n  - {client_id: reader, client_secret: s3cret, roles: [Machine.Read.All]}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), &sim);
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replace(
        &format!("client_id: {}", sim.sim.client_id()),
        "client_id: reader",
    );
    std::fs::write(&config, text).expect("config written");
    let (passed, report) = doctor(&config, "s3cret");
    assert!(!passed, "{report}");
    assert!(
        line(&report, "permission Machine.Read.All").starts_with("  ok  "),
        "{report}"
    );
    for what in [
        "permission Library.Manage",
        "permission Machine.LiveResponse",
        "library",
    ] {
        assert!(line(&report, what).starts_with("  FAIL"), "{report}");
    }
    assert!(
        line(&report, "permission Library.Manage").contains("Grant admin consent"),
        "{report}"
    );
    assert!(
        line(&report, "permission Machine.Isolate").starts_with("  note"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_endpoint_a_skewed_clock_and_an_unwritable_data_dir_fail() {
    let sim = start_sim(
        |a| a.devices = 1,
        "faults:\n  - {endpoint: token, kind: status, status: 503}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), &sim);
    let (passed, report) = doctor(&config, sim.sim.client_secret());
    assert!(!passed, "{report}");
    assert!(
        line(&report, "token").contains("unreachable or failing"),
        "{report}"
    );

    let skewed = start_sim(
        |a| {
            a.devices = 1;
            a.clock_skew_secs = 600;
        },
        "",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), &skewed);
    // A file where the data directory should be.
    std::fs::write(root.path().join("data"), "not a directory").expect("blocker");
    let (passed, report) = doctor(&config, skewed.sim.client_secret());
    assert!(!passed, "{report}");
    let clock = line(&report, "clock");
    assert!(
        clock.starts_with("  FAIL") && clock.contains("NTP"),
        "{report}"
    );
    assert!(
        line(
            &report,
            &format!("data_dir {}", root.path().join("data").display())
        )
        .starts_with("  FAIL"),
        "{report}"
    );
}
