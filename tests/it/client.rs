//! The API client against the simulator over real HTTPS, through the real azure_identity flow.

use fleetlr_defender::models::{
    ActionStatus, Command, LibraryUpload, LiveResponseRequest, ScriptTranscript,
};
use fleetlr_defender::odata::{Filter, ODataQuery};
use fleetlr_defender::{Credential, ResultEncoding};
use fleetlr_tests::{TestSim, eventually, start_sim};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn upload(sim: &TestSim, name: &str) {
    let client = sim.client();
    let upload = LibraryUpload {
        file_name: name.into(),
        content: b"Write-Output 'hi'".to_vec().into(),
        override_if_exists: true,
        ..Default::default()
    };
    let file = client.upload_library_file(&upload).await.expect("upload");
    assert_eq!(file.file_name, name);
}

fn script(name: &str) -> LiveResponseRequest {
    LiveResponseRequest {
        commands: vec![Command::run_script(name, None)],
        comment: "fleetlr test".into(),
    }
}

#[tokio::test]
async fn machines_are_listed_across_pages_and_found_by_name() {
    let sim = start_sim(
        |a| (a.devices, a.page_size) = (23, 10),
        "fleet: {tags: [{tag: prod, fraction: 0.5}]}",
    )
    .await;
    let client = sim.client();
    let all = client
        .list_all_machines(&ODataQuery::new())
        .await
        .expect("machines");
    assert_eq!(all.len(), 23);
    let tagged = client
        .list_all_machines(&ODataQuery::new().filter(Filter::has_tag("prod")))
        .await
        .expect("tagged");
    assert!(
        !tagged.is_empty()
            && tagged
                .iter()
                .all(|m| m.machine_tags.contains(&"prod".to_owned()))
    );
    let name = all[3].computer_dns_name.clone().expect("name");
    assert_eq!(
        client.get_machine(&name).await.expect("by name").id,
        all[3].id
    );
    assert!(
        client
            .get_machine("no-such-device")
            .await
            .expect_err("404")
            .is_not_found()
    );
}

#[tokio::test]
async fn an_empty_tenant_is_an_empty_list_not_an_error() {
    let sim = start_sim(|a| a.devices = 0, "").await;
    assert!(
        sim.client()
            .list_all_machines(&ODataQuery::new())
            .await
            .expect("empty")
            .is_empty()
    );
}

#[tokio::test]
async fn a_run_is_polled_and_its_results_downloaded_and_verified() {
    let scenario = "scripts: {t.ps1: {duration: 2s, exit_code: 0, output: collected}}\nfiles: {default: {size: 300000}}";
    let sim = start_sim(|a| (a.devices, a.speedup) = (2, 300.0), scenario).await;
    upload(&sim, "t.ps1").await;
    let client = sim.client();
    let device = sim.sim.devices()[0].0.clone();
    let request = LiveResponseRequest {
        commands: vec![
            Command::run_script("t.ps1", Some("-Days 7".into())),
            Command::get_file("C:\\Temp\\triage.zip"),
        ],
        comment: "fleetlr:run:1".into(),
    };
    let action = client
        .run_live_response(&device, &request)
        .await
        .expect("created");
    assert_eq!(action.status, ActionStatus::Pending);
    let done = eventually(WAIT, "the action to finish", || async {
        let polled = client
            .machine_actions_by_ids(&[action.id.as_str()])
            .await
            .ok()?;
        polled.into_iter().find(|a| a.status.is_final())
    })
    .await;
    assert_eq!(done.status, ActionStatus::Succeeded);
    assert_eq!(done.requestor_comment.as_deref(), Some("fleetlr:run:1"));

    let mut transcript = Vec::new();
    let link = client
        .live_response_result_link(&action.id, 0)
        .await
        .expect("link");
    client
        .download_result(&link, &mut transcript, ResultEncoding::AsIs)
        .await
        .expect("transcript");
    let transcript: ScriptTranscript =
        serde_json::from_slice(&transcript).expect("transcript JSON");
    assert_eq!(
        (transcript.script_name.as_str(), transcript.exit_code),
        ("t.ps1", Some(0))
    );

    let mut file = Vec::new();
    let link = client
        .live_response_result_link(&action.id, 1)
        .await
        .expect("link");
    let download = client
        .download_result(&link, &mut file, ResultEncoding::Gunzip)
        .await
        .expect("file");
    assert_eq!((download.bytes, file.len()), (300_000, 300_000));
    assert_eq!(download.file_name.as_deref(), Some("triage.zip"));
    use sha2::Digest;
    let expected: String = sha2::Sha256::digest(&file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(download.sha256, expected);
}

#[tokio::test]
async fn refusals_are_classified_for_the_engine() {
    let scenario = "devices: [{name: tier0-dc, group: Tier0}, {name: ws}]\ngroups: [{name: Tier0, automation: false}]";
    let sim = start_sim(|a| (a.devices, a.rate_limit_per_minute) = (0, 3), scenario).await;
    upload(&sim, "t.ps1").await;
    let client = sim.client();
    let disallowed = client
        .run_live_response("tier0-dc", &script("t.ps1"))
        .await
        .expect_err("403");
    assert_eq!(
        (disallowed.is_forbidden(), disallowed.code()),
        (true, Some("DisallowedOperation"))
    );
    let missing = client
        .run_live_response("ws", &script("absent.ps1"))
        .await
        .expect_err("400");
    assert_eq!(missing.code(), Some("InvalidInput"));
    client
        .run_live_response("ws", &script("t.ps1"))
        .await
        .expect("created");
    let throttled = client
        .run_live_response("ws", &script("t.ps1"))
        .await
        .expect_err("429");
    assert!(throttled.is_rate_limited(), "{throttled}");
    assert!(
        throttled
            .retry_after()
            .is_some_and(|d| d <= Duration::from_secs(60))
    );
    assert!(
        client
            .get_machine_action("00000000-0000-0000-0000-000000000000")
            .await
            .expect_err("404")
            .is_not_found()
    );
}

#[tokio::test]
async fn a_busy_device_is_reported_as_busy_and_cancel_clears_it() {
    let sim = start_sim(|a| a.devices = 1, "").await;
    upload(&sim, "t.ps1").await;
    let client = sim.client();
    let device = sim.sim.devices()[0].0.clone();
    let first = client
        .run_live_response(&device, &script("t.ps1"))
        .await
        .expect("created");
    let busy = client
        .run_live_response(&device, &script("t.ps1"))
        .await
        .expect_err("busy");
    assert!(busy.is_busy(), "{busy}");
    let cancelled = client
        .cancel_machine_action(&first.id, "stop")
        .await
        .expect("cancel");
    assert_eq!(cancelled.status, ActionStatus::Cancelled);
    assert_eq!(cancelled.cancellation_comment.as_deref(), Some("stop"));
    let again = client
        .cancel_machine_action(&first.id, "again")
        .await
        .expect_err("final");
    assert_eq!(again.code(), Some("BadRequest"));
    client
        .run_live_response(&device, &script("t.ps1"))
        .await
        .expect("free again");
}

#[tokio::test]
async fn transient_faults_and_bad_credentials_are_classified() {
    let sim = start_sim(|a| a.devices = 1, "faults: [{endpoint: machines.list, kind: status, status: 503, count: 1}, {endpoint: machines.get, kind: drop_before, count: 1}]").await;
    let client = sim.client();
    let unavailable = client
        .list_all_machines(&ODataQuery::new())
        .await
        .expect_err("503");
    assert!(unavailable.is_transient(), "{unavailable}");
    let dropped = client.get_machine("x").await.expect_err("dropped");
    assert!(dropped.is_transient(), "{dropped}");
    assert_eq!(
        client
            .list_all_machines(&ODataQuery::new())
            .await
            .expect("recovered")
            .len(),
        1
    );

    let wrong = sim.client_with(
        sim.sim.client_id(),
        Credential::ClientSecret("wrong".to_owned().into()),
    );
    let err = wrong
        .list_all_machines(&ODataQuery::new())
        .await
        .expect_err("bad secret");
    assert!(err.to_string().contains("AADSTS7000215"), "{err}");
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once_and_the_call_succeeds() {
    let sim = start_sim(|a| a.devices = 1, "").await;
    let client = sim.client();
    client
        .list_all_machines(&ODataQuery::new())
        .await
        .expect("signed in");
    let revoked = sim
        .http
        .delete(sim.url("/_sim/tokens"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 204);
    assert_eq!(
        client
            .list_all_machines(&ODataQuery::new())
            .await
            .expect("recovered")
            .len(),
        1
    );
    let stats = sim.stats().await;
    let list = &stats["stats"]["endpoints"]["machines.list"]["statuses"];
    assert_eq!(
        (list["200"].as_u64(), list["401"].as_u64()),
        (Some(2), Some(1)),
        "{list}"
    );
    assert_eq!(
        stats["stats"]["endpoints"]["token"]["calls"], 2,
        "one sign-in, one refresh"
    );
}

/// An RSA key and self-signed certificate, as a PKCS#12 bundle and the certificate's PEM.
fn certificate() -> (Vec<u8>, String) {
    use openssl::{
        asn1::Asn1Time, hash::MessageDigest, pkcs12::Pkcs12, pkey::PKey, rsa::Rsa, x509::X509,
    };
    let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
    let mut name = openssl::x509::X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "fleetlr-test-app")
        .expect("cn");
    let name = name.build();
    let mut cert = X509::builder().expect("builder");
    cert.set_version(2).expect("version");
    cert.set_subject_name(&name).expect("subject");
    cert.set_issuer_name(&name).expect("issuer");
    cert.set_pubkey(&key).expect("pubkey");
    cert.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("nb");
    cert.set_not_after(&Asn1Time::days_from_now(2).expect("time"))
        .expect("na");
    cert.sign(&key, MessageDigest::sha256()).expect("sign");
    let cert = cert.build();
    let bundle = Pkcs12::builder()
        .name("app")
        .pkey(&key)
        .cert(&cert)
        .build2("")
        .expect("pkcs12");
    let pem = String::from_utf8(cert.to_pem().expect("pem")).expect("utf8");
    (bundle.to_der().expect("der"), pem)
}

#[tokio::test]
async fn certificate_credentials_sign_in_and_unregistered_certificates_are_refused() {
    let (bundle, pem) = certificate();
    let (other_bundle, _) = certificate();
    let scenario = format!(
        "apps: [{{client_id: cert-app, certificate_pem: {}, roles: [Machine.Read.All]}}]",
        serde_json::to_string(&pem).expect("quoted")
    );
    let sim = start_sim(|a| a.devices = 2, &scenario).await;
    let credential = |pkcs12: Vec<u8>| Credential::Certificate {
        pkcs12: secrecy::SecretBox::new(Box::new(pkcs12)),
        password: None,
    };
    let client = sim.client_with("cert-app", credential(bundle));
    assert_eq!(
        client
            .list_all_machines(&ODataQuery::new())
            .await
            .expect("signed in")
            .len(),
        2
    );
    let forbidden = client
        .run_live_response(&sim.sim.devices()[0].0, &script("t.ps1"))
        .await
        .expect_err("no LR role");
    assert!(forbidden.is_forbidden());
    let stranger = sim.client_with("cert-app", credential(other_bundle));
    let err = stranger
        .list_all_machines(&ODataQuery::new())
        .await
        .expect_err("unregistered");
    assert!(err.to_string().contains("AADSTS700027"), "{err}");
}

/// Streams a large GetFile through the client into a sink and reports the process's peak memory
/// growth. 64 MiB by default; `FLEETLR_BIG_DOWNLOAD_MIB=1024` for the 1 GiB figure (run it with
/// `--release`). The bound is generous: buffering the file would exceed it many times over.
#[tokio::test]
async fn a_large_get_file_streams_with_flat_memory() {
    let mib: u64 = std::env::var("FLEETLR_BIG_DOWNLOAD_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let scenario = format!(
        "files: {{default: {{size: {}}}}}\ntiming: {{upload_bytes_per_second: 100000000000}}",
        mib << 20
    );
    let sim = start_sim(|a| (a.devices, a.speedup) = (1, 600.0), &scenario).await;
    let client = sim.client();
    let device = sim.sim.devices()[0].0.clone();
    let request = LiveResponseRequest {
        commands: vec![Command::get_file("D:\\dump.bin")],
        comment: "big".into(),
    };
    let action = client
        .run_live_response(&device, &request)
        .await
        .expect("created");
    eventually(WAIT, "the collection", || async {
        let action = client.get_machine_action(&action.id).await.ok()?;
        (action.status == ActionStatus::Succeeded).then_some(())
    })
    .await;
    let link = client
        .live_response_result_link(&action.id, 0)
        .await
        .expect("link");
    let before = peak_rss_kib();
    let started = std::time::Instant::now();
    let download = client
        .download_result(&link, tokio::io::sink(), ResultEncoding::Gunzip)
        .await
        .expect("download");
    let grown_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    eprintln!(
        "downloaded {mib} MiB in {:.1?}; peak RSS grew by {grown_mib} MiB",
        started.elapsed()
    );
    assert_eq!(download.bytes, mib << 20);
    assert!(
        grown_mib < 48,
        "peak memory grew by {grown_mib} MiB for a {mib} MiB download"
    );
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
