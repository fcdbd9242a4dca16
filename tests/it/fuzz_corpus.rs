//! The fuzz targets' bodies (`tests/fuzzed/`) run by `cargo test` over mutated seeds, beside
//! the short cargo-fuzz runs CI makes (`.ci/fuzz.sh`): the shipped configurations for the
//! config loader, real answers of the simulator (machines, actions, pages, error bodies) plus a
//! RunScript transcript for the client's parsing, and an alert of each webhook format for the
//! mapping. The inputs of crashes cargo-fuzz found are seeds too, so they stay fixed.
//! `FLEETLR_LONG_TESTS=1` runs ten times as many.

#[path = "../fuzzed/defender_responses.rs"]
mod defender_responses;
#[path = "../fuzzed/load_config.rs"]
mod load_config;
#[path = "../fuzzed/webhook_mapping.rs"]
mod webhook_mapping;

use fleetlr_tests::start_sim;
use serde_json::json;

use crate::crash_loop::{Moments, long_tests};

/// One random edit of the kinds libFuzzer makes: flip, insert, delete, duplicate, splice in a
/// token that matters to the format.
fn mutate(input: &mut Vec<u8>, moments: &mut Moments, tokens: &[&[u8]]) {
    let len = input.len() as u64;
    let at = |moments: &mut Moments| moments.between(0..len.max(1)) as usize;
    match moments.between(0..6) {
        0 if len > 0 => {
            let i = at(moments);
            input[i] ^= 1 << moments.between(0..8);
        }
        1 => {
            let i = at(moments).min(input.len());
            input.insert(i, moments.between(0..256) as u8);
        }
        2 if len > 0 => {
            let i = at(moments);
            let end = (i + moments.between(1..16) as usize).min(input.len());
            input.drain(i..end);
        }
        3 if len > 0 => {
            let i = at(moments);
            let end = (i + moments.between(1..64) as usize).min(input.len());
            let chunk = input[i..end].to_vec();
            let j = at(moments).min(input.len());
            input.splice(j..j, chunk);
        }
        _ => {
            let token = tokens[moments.between(0..tokens.len() as u64) as usize];
            let i = at(moments).min(input.len());
            input.splice(i..i, token.iter().copied());
        }
    }
}

/// Runs `body` on every seed and on `rounds` mutants of them (1 to 8 edits each).
fn run_mutants(seeds: &[Vec<u8>], tokens: &[&[u8]], rounds: usize, body: fn(&[u8])) -> usize {
    let mut moments = Moments::new(0xf022_0008);
    for seed in seeds {
        body(seed);
    }
    for round in 0..rounds {
        let mut input = seeds[round % seeds.len()].clone();
        for _ in 0..moments.between(1..9) {
            mutate(&mut input, &mut moments, tokens);
        }
        body(&input);
    }
    seeds.len() + rounds
}

fn rounds() -> usize {
    if long_tests() { 100_000 } else { 10_000 }
}

#[test]
fn the_config_loader_survives_mutated_configurations() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut seeds = Vec::new();
    for dir in [root.clone(), root.join("sim")] {
        for entry in std::fs::read_dir(&dir).expect("config dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                seeds.push(std::fs::read(&path).expect("config file"));
            }
        }
    }
    seeds.push(
        b"listen: 127.0.0.1:0\ndata_dir: d\nplaybooks_dir: p\ntenants:\n  - name: a\n    tenant_id: ${T}\n    client_id: c\n    client_secret: ${SECRET}\n    cloud: public\n    limits: {max_sessions: 25, time_scale: 2}\n"
            .to_vec(),
    );
    let tokens: &[&[u8]] = &[
        b"${",
        b"}",
        b"${A}",
        b"\n  - ",
        b": ",
        b"&a ",
        b"*a",
        b"!!binary ",
        b"[",
        b"{",
        b"\"",
        b"0x",
        b"-1",
        b"1e309",
        b"NaN",
        b"\xff",
        b"\t",
    ];
    let tried = run_mutants(&seeds, tokens, rounds(), load_config::load_config);
    println!("config loader: {tried} inputs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_survives_mutated_answers_of_the_service() {
    let sim = start_sim(|a| a.devices = 3, "").await;
    let token = sim.token().await;
    let answer = |request: reqwest::RequestBuilder| async {
        request
            .bearer_auth(&token)
            .send()
            .await
            .expect("request")
            .bytes()
            .await
            .expect("body")
            .to_vec()
    };
    let http = &sim.http;
    let machines = answer(http.get(sim.url("/api/machines?$top=2"))).await;
    let device = sim.sim.devices()[0].0.clone();
    let machine = answer(http.get(sim.url(&format!("/api/machines/{device}")))).await;
    let action = answer(
        http.post(sim.url(&format!("/api/machines/{device}/runliveresponse")))
            .json(&json!({"Commands": [{"type": "GetFile", "params": [{"key": "Path", "value": "C:\\x.log"}]}], "Comment": "fuzz seed"})),
    )
    .await;
    let actions = answer(http.get(sim.url("/api/machineactions?$top=5"))).await;
    let not_found = answer(http.get(sim.url("/api/machines/no-such-device"))).await;
    let busy = answer(
        http.post(sim.url(&format!("/api/machines/{device}/runliveresponse")))
            .json(&json!({"Commands": [{"type": "GetFile", "params": [{"key": "Path", "value": "C:\\x.log"}]}], "Comment": "again"})),
    )
    .await;
    let bad = answer(
        http.post(sim.url(&format!("/api/machines/{device}/runliveresponse")))
            .header("content-type", "application/json")
            .body("{\"commands\": 1}"),
    )
    .await;
    let transcript = json!({"script_name": "triage.ps1", "exit_code": 0, "script_output": "done\r\n", "script_errors": ""})
        .to_string()
        .into_bytes();
    let seeds = vec![
        machines, machine, action, actions, not_found, busy, bad, transcript,
    ];
    for seed in &seeds {
        assert!(seed.starts_with(b"{"), "{}", String::from_utf8_lossy(seed));
    }
    let tokens: &[&[u8]] = &[
        b"null",
        b"\"\"",
        b"[]",
        b"{}",
        b"-1",
        b"1e400",
        b"18446744073709551616",
        b"\"\\ud800\"",
        b"\"Pending\"",
        b"\"Unknown\"",
        b",\"value\":[",
        b"\"@odata.nextLink\":\"",
        b"\"error\":{\"code\":",
        b"\"Retry-After\"",
        b"Tue, 01 Dec 2026 00:00:00 GMT",
    ];
    let tried = run_mutants(
        &seeds,
        tokens,
        rounds(),
        defender_responses::defender_responses,
    );
    println!("client parsing: {tried} inputs");
}

/// One alert of each format the hooks read, as their senders write them.
fn alert_seeds() -> Vec<Vec<u8>> {
    [
        json!({
            "id": "da637551227677560813_-961444813", "severity": "High", "title": "Mimikatz credential theft tool",
            "category": "CredentialAccess", "machineId": "111e6dd8c833c8a052ea231ec1b19adaf497b625",
            "computerDnsName": "ws-00007.corp.contoso.com",
            "evidence": [
                {"entityType": "Process", "fileName": "invoice.exe", "filePath": "C:\\Users\\alice\\Downloads", "processId": 7212, "processCommandLine": "invoice.exe x"},
                {"entityType": "File", "fileName": "mimi.dll", "filePath": "C:\\Temp", "sha256": "9f1e"}
            ]
        }),
        json!({
            "@odata.type": "#microsoft.graph.security.alert", "id": "da637578995287051192_756343937",
            "severity": "medium", "title": "Suspicious execution of hidden file", "category": "DefenseEvasion",
            "evidence": [
                {"@odata.type": "#microsoft.graph.security.deviceEvidence", "mdeDeviceId": "73e7e2de709dff64ef64b1d0c30e67fab63279db", "deviceDnsName": "srv-0003.corp.contoso.com"},
                {"@odata.type": "#microsoft.graph.security.processEvidence", "processId": 4780, "mdeDeviceId": "73e7e2de709dff64ef64b1d0c30e67fab63279db",
                 "imageFile": {"fileName": "hidden.exe", "filePath": "C:\\ProgramData"}}
            ]
        }),
        json!({
            "eventUniqueId": "0d6b7e3a", "objectSchemaType": "Incident",
            "object": {"name": "5a1c3b2e", "properties": {
                "title": "Ransomware activity on one endpoint", "severity": "High", "incidentNumber": 4711,
                "relatedEntities": [
                    {"kind": "Host", "properties": {"hostName": "ws-00012", "dnsDomain": "corp.contoso.com", "additionalData": {"MdatpDeviceId": "9a8b7c6d"}}},
                    {"kind": "File", "properties": {"fileName": "locker.exe", "directory": "C:\\Users\\bob"}}
                ]
            }}
        }),
        json!({"id": "generic-1", "device": ["ws-1", "ws-2"], "title": "from a SOAR", "severity": "low", "process_name": "x.exe"}),
    ]
    .iter()
    .map(|seed| seed.to_string().into_bytes())
    .chain(crashes("webhook_mapping"))
    .collect()
}

/// Inputs that once crashed a fuzz target (`tests/fuzzed/crashes/<target>/`), kept as seeds.
fn crashes(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzzed/crashes")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .map(|entry| std::fs::read(entry.expect("entry").path()).expect("crash input"))
        .collect()
}

#[test]
fn the_webhook_mapping_survives_mutated_alerts() {
    let tokens: &[&[u8]] = &[
        b"null",
        b"\"\"",
        b"\" \"",
        b"[]",
        b"{}",
        b"1e400",
        b"\"\\ud800\"",
        b"\"evidence\":[",
        b"\"entityType\":\"Process\"",
        b"\"@odata.type\":\"#microsoft.graph.security.deviceEvidence\"",
        b"\"kind\":\"Host\"",
        b"\"mdeDeviceId\":",
        b"\"device\":",
        b"\"severity\":\"critical\"",
        b"{{ alert.",
        b"}}",
        b"/",
        b"~",
    ];
    let tried = run_mutants(
        &alert_seeds(),
        tokens,
        rounds(),
        webhook_mapping::webhook_mapping,
    );
    println!("webhook mapping: {tried} inputs");
}
