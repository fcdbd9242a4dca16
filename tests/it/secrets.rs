//! Secrets never leak: the real daemon, logging at `debug` (as text, then as JSON after a
//! restart), runs a playbook through a token refresh; then everything it wrote (standard output
//! and error, the SQLite file and its WAL, the artifacts) and everything it answered (the API,
//! `/metrics`, the OpenAPI document, the console's pages, its refusals) is searched for the client
//! secret, every bearer token the simulator issued, and every API token.

use std::path::Path;
use std::time::Duration;

use fleetlr_tests::{eventually, start_sim};
use serde_json::json;

use crate::daemon::{
    Daemon, Launch, SPEEDUP, device_ids, run_body, start_daemon_with, wait_for_run, write_config_at,
};

/// Distinctive enough that a hit can only be a leak.
const CLIENT_SECRET: &str = "e2e-client-secret-Zq7vX2pL9mK4";

fn verbose(format: Option<&str>, capture_to: &Path) -> Launch {
    let mut env = vec![("RUST_LOG", "debug".to_owned())];
    if let Some(format) = format {
        env.push(("FLEETLR_LOG_FORMAT", format.to_owned()));
    }
    Launch {
        env,
        capture_to: Some(capture_to.to_owned()),
    }
}

/// Everything a client can read from the daemon, as text, each part labelled.
async fn every_answer(daemon: &Daemon, run: &str, tokens: &[String]) -> Vec<(String, String)> {
    let mut answers = Vec::new();
    let mut paths: Vec<String> = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/runs",
        "/api/v1/playbooks",
        "/api/v1/tokens",
        "/api/v1/audit",
        "/ui/runs",
        "/ui/login",
    ]
    .map(str::to_owned)
    .into();
    for part in ["", "/targets", "/outcomes", "/events"] {
        paths.push(format!("/api/v1/runs/{run}{part}"));
    }
    paths.push(format!("/ui/runs/{run}"));
    paths.push(format!("/ui/runs/{run}?part=live"));
    let (_, outcomes) = daemon.get(&format!("/api/v1/runs/{run}/outcomes")).await;
    paths.extend(
        outcomes
            .as_array()
            .expect("outcomes")
            .iter()
            .filter_map(|o| o["artifact"]["url"].as_str().map(str::to_owned)),
    );
    for path in &paths {
        let response = daemon
            .http
            .get(daemon.url(path))
            .bearer_auth(&daemon.token)
            .header("cookie", format!("fleetlr_session={}", daemon.token))
            .send()
            .await
            .expect("GET");
        let status = response.status();
        let headers = format!("{:?}", response.headers());
        let body = String::from_utf8_lossy(&response.bytes().await.expect("body")).into_owned();
        assert!(status.is_success(), "GET {path}: {status} {body}");
        answers.push((format!("GET {path} headers"), headers));
        answers.push((format!("GET {path}"), body));
    }
    // Refusals must not echo what was presented either: a revoked token, a near miss of a real
    // one, a token in the wrong place.
    for token in tokens {
        for presented in [
            token.clone(),
            format!("{token}x"),
            token[..token.len() - 1].to_owned(),
        ] {
            let response = daemon
                .http
                .get(daemon.url("/api/v1/runs"))
                .bearer_auth(&presented)
                .send()
                .await
                .expect("GET");
            answers.push((
                "a refusal".into(),
                response.text().await.expect("refusal body"),
            ));
        }
    }
    let login = daemon
        .http
        .post(daemon.url("/ui/login"))
        .header("origin", &daemon.base)
        .form(&[("token", &daemon.token)])
        .send()
        .await
        .expect("sign-in");
    // The cookie that carries the token back to its owner is the one place it must be.
    answers.push(("sign-in".into(), login.text().await.expect("sign-in body")));
    answers
}

/// Every file under `dir`, recursively, as bytes.
fn every_file(dir: &Path, files: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            every_file(&path, files);
        } else {
            let bytes = std::fs::read(&path).expect("readable file");
            files.push((path.display().to_string(), bytes));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_anything_the_daemon_writes_or_answers() {
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.devices = 4;
            a.client_secret = CLIENT_SECRET.to_owned();
        },
        "scripts:\n  triage.ps1: {duration: 2m, output: \"triage done\"}\n  cleanup.ps1: {duration: 5s}\nfiles:\n  default: {size: 4KiB}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let logs = root.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let config = write_config_at(root.path(), &sim, SPEEDUP);
    let devices = device_ids(&sim).await;

    let daemon = start_daemon_with(&config, CLIENT_SECRET, &verbose(None, &logs)).await;
    let mut api_tokens = vec![daemon.token.clone()];
    for (name, role) in [("vera", "viewer"), ("ops-bot", "operator")] {
        let (status, created) = daemon
            .post("/api/v1/tokens", &json!({"name": name, "role": role}))
            .await;
        assert_eq!(status, 201, "{created}");
        api_tokens.push(created["token"].as_str().expect("token").to_owned());
    }
    let (status, run) = daemon.post("/api/v1/runs", &run_body(&devices)).await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_str().expect("run id").to_owned();
    eventually(Duration::from_secs(30), "actions in flight", || async {
        let (_, run) = daemon.get(&format!("/api/v1/runs/{id}")).await;
        (run["targets"]["in_flight"].as_u64() > Some(0)).then_some(())
    })
    .await;
    // Every bearer token the daemon holds stops working: it must sign in again mid-run.
    let revoked = sim
        .http
        .delete(sim.url("/_sim/tokens"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status().as_u16(), 204);
    eventually(Duration::from_secs(30), "a fresh token", || async {
        let stats = sim.stats().await;
        (stats["stats"]["tokens_issued"].as_array().map(Vec::len) > Some(1)).then_some(())
    })
    .await;
    // The same daemon again, logging JSON this time.
    daemon.kill_9();
    let daemon = start_daemon_with(&config, CLIENT_SECRET, &verbose(Some("json"), &logs)).await;
    let run = wait_for_run(&daemon, &id, Duration::from_secs(120)).await;
    assert_eq!(run["targets"]["succeeded"], 4, "{run}");
    assert_eq!(daemon.delete("/api/v1/tokens/vera").await, 204);

    let stats = sim.stats().await;
    let bearer_tokens: Vec<String> = stats["stats"]["tokens_issued"]
        .as_array()
        .expect("tokens issued")
        .iter()
        .map(|t| t.as_str().expect("token").to_owned())
        .collect();
    assert!(bearer_tokens.len() >= 2, "{bearer_tokens:?}");

    let mut haystacks: Vec<(String, Vec<u8>)> = every_answer(&daemon, &id, &api_tokens)
        .await
        .into_iter()
        .map(|(what, text)| (what, text.into_bytes()))
        .collect();
    drop(daemon);
    let written_before = haystacks.len();
    every_file(&logs, &mut haystacks);
    every_file(&root.path().join("data"), &mut haystacks);
    // The admin token file is the one place the first token is meant to be (mode 0600); finding
    // it there also shows the search works.
    let contains =
        |bytes: &[u8], needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        haystacks
            .iter()
            .any(|(what, bytes)| what.ends_with("admin.token") && contains(bytes, &api_tokens[0])),
        "the search finds the admin token in its own file"
    );
    haystacks.retain(|(what, _)| !what.ends_with("admin.token"));
    let files: Vec<&str> = haystacks[written_before..]
        .iter()
        .map(|(what, _)| what.as_str())
        .collect();
    for expected in ["stdout.log", "stderr.log", "fleetlr.db"] {
        assert!(
            files.iter().any(|f| f.ends_with(expected)),
            "{expected} among {files:?}"
        );
    }
    assert!(
        files.iter().any(|f| f.contains("artifacts")),
        "artifacts among {files:?}"
    );
    let stderr = std::fs::read_to_string(logs.join("stderr.log")).expect("stderr");
    assert!(
        stderr.contains("DEBUG") && stderr.contains("\"level\":\"DEBUG\""),
        "both log formats at debug level were captured"
    );

    let mut needles: Vec<(&str, &str)> = vec![("the client secret", CLIENT_SECRET)];
    needles.extend(bearer_tokens.iter().map(|t| ("a bearer token", t.as_str())));
    needles.extend(api_tokens.iter().map(|t| ("an API token", t.as_str())));
    let mut leaks = Vec::new();
    for (what, bytes) in &haystacks {
        for (kind, needle) in &needles {
            if contains(bytes, needle) {
                leaks.push(format!("{kind} in {what}"));
            }
        }
    }
    assert!(leaks.is_empty(), "leaked:\n{}", leaks.join("\n"));
    println!(
        "searched {} answers and files ({} bytes) for {} secrets: none found",
        haystacks.len(),
        haystacks.iter().map(|(_, b)| b.len()).sum::<usize>(),
        needles.len()
    );
}
