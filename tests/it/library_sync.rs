//! Syncing playbook scripts into the simulated library is idempotent and follows content.

use fleetlr_engine::library_sync::{LocalFile, SyncReport, sync_library};
use fleetlr_tests::start_sim;
use sha2::Digest;

fn file(name: &str, content: &str) -> LocalFile {
    let sha256 = sha2::Sha256::digest(content.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    LocalFile {
        name: name.into(),
        sha256,
        content: content.as_bytes().to_vec().into(),
    }
}

#[tokio::test]
async fn syncing_uploads_once_and_again_only_what_changed() {
    let sim = start_sim(|a| a.devices = 1, "").await;
    let client = sim.client();
    let files = vec![file("a.ps1", "Write-Output a"), file("b.sh", "echo b")];
    let budget = fleetlr_engine::budget::ApiBudget::new(100, 1500, 1.0);
    let first = sync_library(&client, &budget, &files)
        .await
        .expect("first sync");
    assert_eq!(
        first,
        SyncReport {
            uploaded: vec!["a.ps1".into(), "b.sh".into()],
            unchanged: vec![]
        }
    );
    let second = sync_library(&client, &budget, &files)
        .await
        .expect("second sync");
    assert_eq!(
        second,
        SyncReport {
            uploaded: vec![],
            unchanged: vec!["a.ps1".into(), "b.sh".into()]
        }
    );
    let edited = vec![file("a.ps1", "Write-Output a2"), file("b.sh", "echo b")];
    let third = sync_library(&client, &budget, &edited)
        .await
        .expect("third sync");
    assert_eq!(
        third,
        SyncReport {
            uploaded: vec!["a.ps1".into()],
            unchanged: vec!["b.sh".into()]
        }
    );
    let stats = sim.stats().await;
    assert_eq!(
        stats["stats"]["endpoints"]["libraryfiles.upload"]["calls"],
        3
    );
}

/// `fleetlr library sync|list --config FILE` against a tenant, as an operator runs it.
fn library_cli(config: &std::path::Path, secret: &str, verb: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fleetlr-under-test"))
        .args(["library", verb, "--config"])
        .arg(config)
        .env("E2E_CLIENT_SECRET", secret)
        .output()
        .expect("the CLI runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_commands_list_by_hash_and_sync_only_what_differs() {
    let sim = start_sim(|a| a.devices = 1, "").await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = crate::daemon::write_config(root.path(), &sim);
    let secret = sim.sim.client_secret();
    let listed = library_cli(&config, secret, "list");
    assert!(
        listed.contains("triage.ps1") && listed.contains("not in the library"),
        "{listed}"
    );
    let first = library_cli(&config, secret, "sync");
    assert_eq!(
        first,
        "tenant lab: 3 uploaded (cleanup.ps1, contain.ps1, triage.ps1), 0 unchanged\n"
    );
    assert_eq!(
        library_cli(&config, secret, "sync"),
        "tenant lab: 0 uploaded, 3 unchanged\n"
    );
    std::fs::write(
        root.path().join("playbooks/scripts/triage.ps1"),
        "# triage, edited\n",
    )
    .expect("edited");
    let listed = library_cli(&config, secret, "list");
    let triage = listed
        .lines()
        .find(|l| l.starts_with("triage.ps1"))
        .expect("triage listed");
    assert!(triage.ends_with("differs (sync replaces it)"), "{listed}");
    assert_eq!(
        library_cli(&config, secret, "sync"),
        "tenant lab: 1 uploaded (triage.ps1), 2 unchanged\n"
    );
    let stats = sim.stats().await;
    assert_eq!(
        stats["stats"]["endpoints"]["libraryfiles.upload"]["calls"],
        4
    );
}
