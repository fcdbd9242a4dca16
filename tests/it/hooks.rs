//! Alert webhooks on the real daemon process against the simulator: a signed Defender alert
//! starts the shipped alert-response playbook on the alerted device (the simulator's record of
//! that device shows it), refused deliveries create nothing, a duplicate (concurrent, later,
//! and after a kill -9) starts nothing more, and a cooldown suppression names the covering run.

use std::path::Path;
use std::time::Duration;

use fleetlr_tests::{TestSim, start_sim};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::{Value, json};

use crate::daemon::{
    Daemon, SPEEDUP, cli, device_ids, start_daemon, wait_for_run, write_config_with,
};

const SECRET: &str = "e2e-hook-secret-0123456789abcdef";

const HOOKS: &str = r#"
hooks:
  - name: mde
    format: defender
    credential: {hmac: {secret: SECRET_HERE}}
rules:
  - name: respond
    hooks: [mde]
    severity_at_least: medium
    title: '(?i)mimikatz|ransom'
    playbook: alert-response
    cooldown: 1h
"#;

/// The shipped playbook and its script, beside the test's own playbooks.
fn install_alert_response(root: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../playbooks");
    let playbooks = root.join("playbooks");
    std::fs::copy(
        repo.join("alert-response.yaml"),
        playbooks.join("alert-response.yaml"),
    )
    .expect("playbook copied");
    std::fs::copy(
        repo.join("scripts/alert-snapshot.ps1"),
        playbooks.join("scripts/alert-snapshot.ps1"),
    )
    .expect("script copied");
}

/// A Defender for Endpoint alert on `device`, with process and file evidence.
fn alert(id: &str, device: &str) -> Value {
    json!({
        "id": id,
        "severity": "High",
        "status": "New",
        "category": "CredentialAccess",
        "title": "Mimikatz credential theft tool",
        "machineId": device,
        "computerDnsName": "ws.lab",
        "evidence": [
            {"entityType": "Process", "fileName": "invoice.exe", "filePath": "C:\\Users\\alice\\Downloads", "processId": 7212},
            {"entityType": "File", "fileName": "mimi.dll", "filePath": "C:\\Users\\alice\\AppData\\Local\\Temp"}
        ]
    })
}

/// `sha256=` and the HMAC-SHA256 of `timestamp.body`, computed with OpenSSL (not fleetlr's code).
fn signature(timestamp: i64, body: &[u8]) -> String {
    let key = PKey::hmac(SECRET.as_bytes()).expect("hmac key");
    let mut signer = Signer::new(MessageDigest::sha256(), &key).expect("signer");
    signer
        .update(format!("{timestamp}.").as_bytes())
        .expect("sign");
    signer.update(body).expect("sign");
    let tag = signer.sign_to_vec().expect("sign");
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

async fn deliver_raw(
    daemon: &Daemon,
    body: Vec<u8>,
    timestamp: i64,
    signature: &str,
    content_type: &str,
) -> (u16, Value) {
    let response = daemon
        .http
        .post(daemon.url("/hooks/mde"))
        .header("content-type", content_type)
        .header("x-fleetlr-timestamp", timestamp.to_string())
        .header("x-fleetlr-signature", signature)
        .body(body)
        .send()
        .await
        .expect("delivery");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn deliver(daemon: &Daemon, payload: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(payload).expect("json");
    let now = chrono::Utc::now().timestamp();
    let signature = signature(now, &body);
    deliver_raw(daemon, body, now, &signature, "application/json").await
}

async fn runs(daemon: &Daemon) -> Vec<Value> {
    let (status, runs) = daemon.get("/api/v1/runs").await;
    assert_eq!(status, 200, "{runs}");
    runs.as_array().expect("runs").clone()
}

async fn start(sim: &TestSim, root: &Path) -> (std::path::PathBuf, Daemon) {
    let config = write_config_with(root, sim, &HOOKS.replace("SECRET_HERE", SECRET));
    install_alert_response(root);
    let daemon = start_daemon(&config, sim.sim.client_secret()).await;
    (config, daemon)
}

fn scenario() -> &'static str {
    "scripts:\n  alert-snapshot.ps1: {duration: 20s, output: snapshot taken}\nfiles:\n  default: {size: 4KiB}\n"
}

async fn sim() -> TestSim {
    start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.devices = 3;
        },
        scenario(),
    )
    .await
}

/// The delivery log's outcomes, oldest first.
async fn outcomes(daemon: &Daemon) -> Vec<(String, String)> {
    let (status, log) = daemon.get("/api/v1/alerts?limit=100").await;
    assert_eq!(status, 200, "{log}");
    let mut rows: Vec<(String, String)> = log
        .as_array()
        .expect("log")
        .iter()
        .map(|d| {
            (
                d["outcome"].as_str().unwrap_or_default().to_owned(),
                d["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    rows.reverse();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_deliveries_create_nothing_and_say_why() {
    let sim = sim().await;
    let root = tempfile::tempdir().expect("tempdir");
    let (_config, daemon) = start(&sim, root.path()).await;
    let devices = device_ids(&sim).await;
    let body = serde_json::to_vec(&alert("da-refused", &devices[0])).expect("json");
    let now = chrono::Utc::now().timestamp();

    let forged = signature(now, b"{\"id\":\"something else\"}");
    let (status, answer) =
        deliver_raw(&daemon, body.clone(), now, &forged, "application/json").await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"]["code"], "unauthenticated");

    let old = now - 600;
    let stale = signature(old, &body);
    let (status, answer) =
        deliver_raw(&daemon, body.clone(), old, &stale, "application/json").await;
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("timestamp")),
        "{answer}"
    );

    let big = vec![b' '; 300 * 1024];
    let (status, answer) = deliver_raw(
        &daemon,
        big.clone(),
        now,
        &signature(now, &big),
        "application/json",
    )
    .await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"]["code"], "body_too_large");

    let broken = b"{\"id\": ".to_vec();
    let (status, answer) = deliver_raw(
        &daemon,
        broken.clone(),
        now,
        &signature(now, &broken),
        "application/json",
    )
    .await;
    assert_eq!(status, 400, "{answer}");

    let (status, answer) = deliver_raw(
        &daemon,
        body.clone(),
        now,
        &signature(now, &body),
        "text/plain",
    )
    .await;
    assert_eq!(status, 415, "{answer}");

    // An API token is not a hook credential.
    let response = daemon
        .http
        .post(daemon.url("/hooks/mde"))
        .bearer_auth(&daemon.token)
        .json(&alert("da-refused", &devices[0]))
        .send()
        .await
        .expect("delivery");
    assert_eq!(response.status().as_u16(), 401);

    assert!(
        runs(&daemon).await.is_empty(),
        "a refused delivery created a run"
    );
    let log = outcomes(&daemon).await;
    assert_eq!(log.len(), 6, "{log:?}");
    assert!(
        log.iter().all(|(outcome, _)| outcome == "refused"),
        "{log:?}"
    );
    assert!(
        sim.stats().await["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .all(|d| d["actions"].as_array().is_none_or(Vec::is_empty))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_alert_runs_the_response_playbook_once_on_the_alerted_device() {
    let sim = sim().await;
    let root = tempfile::tempdir().expect("tempdir");
    let (config, daemon) = start(&sim, root.path()).await;
    let devices = device_ids(&sim).await;
    let alerted = devices[1].clone();
    let first = alert("da637551227677560813_1", &alerted);

    // The dry run shows the run and creates nothing.
    let (status, test) = daemon.post("/api/v1/hooks/mde/test", &first).await;
    assert_eq!(status, 200, "{test}");
    let decision = &test["decisions"][0];
    assert_eq!(decision["fires"], true, "{test}");
    assert_eq!(decision["run"]["playbook"], "alert-response");
    assert_eq!(decision["run"]["alert"]["process_name"], "invoice.exe");
    let payload_file = root.path().join("alert.json");
    std::fs::write(&payload_file, first.to_string()).expect("payload written");
    let output = cli(
        &daemon,
        &["hooks", "test", "mde", payload_file.to_str().expect("path")],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("rule respond fires on {alerted}")),
        "{stdout}"
    );
    assert!(runs(&daemon).await.is_empty(), "the dry run created a run");
    assert!(decision["history"].is_null(), "{test}");

    // The same alert delivered twice at once: one run.
    let (a, b) = tokio::join!(deliver(&daemon, &first), deliver(&daemon, &first));
    assert_eq!((a.0, b.0), (202, 202), "{a:?} {b:?}");
    let started: Vec<&Value> = [&a.1, &b.1]
        .into_iter()
        .filter(|answer| answer["results"][0]["outcome"] == "started")
        .collect();
    assert_eq!(started.len(), 1, "{a:?} {b:?}");
    let run_id = started[0]["runs"][0].as_str().expect("run id").to_owned();
    let all = runs(&daemon).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let run = &all[0];
    assert_eq!(run["trigger"], "webhook");
    assert_eq!(run["priority"], "response");
    assert_eq!(run["started_by"], "hook:mde alert:da637551227677560813_1");

    // Another alert on the device within the rule's cooldown: suppressed, naming the run.
    let (status, answer) = deliver(&daemon, &alert("da637551227677560813_2", &alerted)).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["results"][0]["outcome"], "suppressed", "{answer}");
    assert_eq!(answer["results"][0]["run_id"], run_id.as_str());

    // The dry run now tells what the history would make of these alerts.
    let (_, test) = daemon.post("/api/v1/hooks/mde/test", &first).await;
    assert!(
        test["decisions"][0]["history"]
            .as_str()
            .is_some_and(|h| h.starts_with("duplicate:") && h.contains(&run_id)),
        "{test}"
    );
    let (_, test) = daemon
        .post(
            "/api/v1/hooks/mde/test",
            &alert("da637551227677560813_3", &alerted),
        )
        .await;
    assert!(
        test["decisions"][0]["history"]
            .as_str()
            .is_some_and(|h| h.starts_with("suppressed:")),
        "{test}"
    );

    // A payload that maps to nothing is acknowledged and recorded as ignored.
    let (status, answer) = deliver(&daemon, &json!({"id": "da-x", "title": "no device"})).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["results"][0]["outcome"], "ignored", "{answer}");

    // The run executes on the alerted device, and only there.
    let ended = wait_for_run(&daemon, &run_id, Duration::from_secs(60)).await;
    assert_eq!(ended["targets"]["succeeded"], 1, "{ended}");
    let stats = sim.stats().await;
    for device in stats["devices"].as_array().expect("devices") {
        let commands: Vec<String> = device["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|a| a["commands"].as_array().into_iter().flatten())
            .map(|c| format!("{} {}", c["type"], c["params"]))
            .collect();
        if device["id"] == alerted.as_str() {
            assert_eq!(commands.len(), 3, "{commands:?}");
            assert!(commands[0].contains("alert-snapshot.ps1"), "{commands:?}");
            assert!(
                commands[2].contains("mimi.dll"),
                "the alerted file is fetched: {commands:?}"
            );
        } else {
            assert!(commands.is_empty(), "{}: {commands:?}", device["id"]);
        }
    }

    // After a kill -9 and a restart the alert is still a duplicate of its run.
    daemon.kill_9();
    let daemon = start_daemon(&config, sim.sim.client_secret()).await;
    let (status, answer) = deliver(&daemon, &first).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["results"][0]["outcome"], "duplicate", "{answer}");
    assert_eq!(answer["results"][0]["run_id"], run_id.as_str());
    assert_eq!(runs(&daemon).await.len(), 1);

    let log = outcomes(&daemon).await;
    let kinds: Vec<&str> = log.iter().map(|(o, _)| o.as_str()).collect();
    let mut first_two = kinds[..2].to_vec();
    first_two.sort_unstable();
    assert_eq!(first_two, ["duplicate", "started"], "{log:?}");
    assert_eq!(
        kinds[2..],
        ["suppressed", "ignored", "duplicate"],
        "{log:?}"
    );
    let (_, deliveries) = daemon.get("/api/v1/alerts").await;
    let suppressed = deliveries
        .as_array()
        .expect("log")
        .iter()
        .find(|d| d["outcome"] == "suppressed")
        .expect("a suppressed delivery");
    assert_eq!(suppressed["run_id"], run_id.as_str(), "{suppressed}");

    // The new process counts what it saw since its start.
    let metrics = daemon
        .http
        .get(daemon.url("/metrics"))
        .bearer_auth(&daemon.token)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("fleetlr_alert_deliveries_total{")
                && l.contains("outcome=\"duplicate\"")
                && l.contains("hook=\"mde\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
}
