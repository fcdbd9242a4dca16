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
