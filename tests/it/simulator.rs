//! The simulator enforces the documented limits and behaviours over real HTTPS.

use fleetlr_tests::{TestSim, eventually, start_sim};
use serde_json::{Value, json};
use std::io::Read;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn run_script(script: &str) -> Value {
    json!({"Commands": [{"type": "RunScript", "params": [{"key": "ScriptName", "value": script}]}], "Comment": "test"})
}

async fn upload(sim: &TestSim, token: &str, name: &str) {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"Write-Output 'hi'".to_vec())
                .file_name(name.to_owned()),
        )
        .text("OverrideIfExists", "true");
    let response = sim
        .http
        .post(sim.url("/api/libraryfiles"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 200, "upload {name}");
}

async fn start_action(sim: &TestSim, token: &str, device: &str, body: &Value) -> reqwest::Response {
    sim.http
        .post(sim.url(&format!("/api/machines/{device}/runliveresponse")))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("runliveresponse")
}

#[tokio::test]
async fn runliveresponse_allows_ten_calls_in_a_sliding_minute_then_429_with_retry_after() {
    let sim = start_sim(|a| a.devices = 12, "").await;
    let token = sim.token().await;
    upload(&sim, &token, "t.ps1").await;
    let devices = sim.sim.devices();
    for (id, _) in &devices[..10] {
        assert_eq!(
            start_action(&sim, &token, id, &run_script("t.ps1"))
                .await
                .status(),
            201
        );
    }
    let refused = start_action(&sim, &token, &devices[10].0, &run_script("t.ps1")).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(
        (50..=60).contains(&retry_after),
        "retry-after {retry_after}"
    );
    let body: Value = refused.json().await.expect("error body");
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert!(
        body["error"]["target"].is_string(),
        "correlation id in target"
    );
    let stats = sim.stats().await;
    assert_eq!(stats["stats"]["limits_enforced"]["rate_limit"], 1);
    assert_eq!(
        stats["stats"]["endpoints"]["runliveresponse"]["statuses"]["201"],
        10
    );
}

#[tokio::test]
async fn the_window_slides_with_simulated_time() {
    // At 120x a simulated minute passes in half a second.
    let sim = start_sim(
        |a| (a.devices, a.speedup, a.rate_limit_per_minute) = (3, 120.0, 1),
        "",
    )
    .await;
    let token = sim.token().await;
    upload(&sim, &token, "t.ps1").await;
    let devices = sim.sim.devices();
    assert_eq!(
        start_action(&sim, &token, &devices[0].0, &run_script("t.ps1"))
            .await
            .status(),
        201
    );
    assert_eq!(
        start_action(&sim, &token, &devices[1].0, &run_script("t.ps1"))
            .await
            .status(),
        429
    );
    eventually(WAIT, "the window to slide", || async {
        let status = start_action(&sim, &token, &devices[1].0, &run_script("t.ps1"))
            .await
            .status();
        (status == 201).then_some(())
    })
    .await;
}

#[tokio::test]
async fn pending_actions_on_offline_devices_hold_session_slots() {
    let sim = start_sim(
        |a| (a.devices, a.max_sessions, a.rate_limit_per_minute) = (5, 3, 100),
        "fleet: {offline: [{fraction: 1.0}]}",
    )
    .await;
    let token = sim.token().await;
    upload(&sim, &token, "t.ps1").await;
    let devices = sim.sim.devices();
    for (id, _) in &devices[..3] {
        let response = start_action(&sim, &token, id, &run_script("t.ps1")).await;
        assert_eq!(response.status(), 201);
        let action: Value = response.json().await.expect("action");
        assert_eq!(action["status"], "Pending");
    }
    let refused = start_action(&sim, &token, &devices[3].0, &run_script("t.ps1")).await;
    assert_eq!(refused.status(), 429);
    let stats = sim.stats().await;
    assert_eq!(stats["stats"]["limits_enforced"]["session_cap"], 1);
    assert_eq!(stats["stats"]["peak_sessions"], 3);
}

#[tokio::test]
async fn a_second_action_on_a_busy_device_is_refused() {
    let sim = start_sim(|a| a.devices = 1, "").await;
    let token = sim.token().await;
    upload(&sim, &token, "t.ps1").await;
    let device = &sim.sim.devices()[0].0;
    assert_eq!(
        start_action(&sim, &token, device, &run_script("t.ps1"))
            .await
            .status(),
        201
    );
    let busy = start_action(&sim, &token, device, &run_script("t.ps1")).await;
    assert_eq!(busy.status(), 400);
    let body: Value = busy.json().await.expect("error body");
    assert_eq!(body["error"]["code"], "ActiveRequestAlreadyExists");
}

#[tokio::test]
async fn results_download_without_bearer_until_the_link_expires() {
    let scenario = "scripts: {t.ps1: {duration: 1s, exit_code: 7, output: done}}\nfiles: {default: {size: 100000}}";
    let sim = start_sim(|a| (a.devices, a.speedup) = (1, 600.0), scenario).await;
    let token = sim.token().await;
    upload(&sim, &token, "t.ps1").await;
    let device = &sim.sim.devices()[0].0;
    let body = json!({"Commands": [
        {"type": "RunScript", "params": [{"key": "ScriptName", "value": "t.ps1"}]},
        {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\Windows\\Temp\\triage.zip"}]}
    ]});
    let action: Value = start_action(&sim, &token, device, &body)
        .await
        .json()
        .await
        .expect("action");
    let id = action["id"].as_str().expect("id").to_owned();
    let action_url = sim.url(&format!("/api/machineactions/{id}"));
    eventually(WAIT, "the action to succeed", || async {
        let action: Value = sim
            .http
            .get(&action_url)
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (action["status"] == "Succeeded").then_some(())
    })
    .await;
    let link = |index: usize| {
        let url = format!("{action_url}/GetLiveResponseResultDownloadLink(index={index})");
        let (http, token) = (sim.http.clone(), token.clone());
        async move {
            let body: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("link")
                .json()
                .await
                .expect("json");
            body["value"].as_str().expect("link value").to_owned()
        }
    };
    let transcript: Value = sim
        .http
        .get(link(0).await)
        .send()
        .await
        .expect("download")
        .json()
        .await
        .expect("json");
    assert_eq!(transcript["exit_code"], 7);
    assert_eq!(transcript["script_name"], "t.ps1");
    assert!(
        transcript["script_output"]
            .as_str()
            .is_some_and(|o| o.ends_with("done"))
    );

    let file_link = link(1).await;
    let response = sim.http.get(&file_link).send().await.expect("download");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"triage.zip.gz\""
    );
    let compressed = response.bytes().await.expect("bytes");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut plain)
        .expect("gzip");
    assert_eq!(plain.len(), 100_000);

    // 30 simulated minutes are 3 s at 600x.
    eventually(WAIT, "the link to expire", || async {
        (sim.http.get(&file_link).send().await.ok()?.status() == 403).then_some(())
    })
    .await;
}

#[tokio::test]
async fn injected_faults_drop_connections_and_answer_5xx() {
    let sim = start_sim(|a| a.devices = 1, "").await;
    let token = sim.token().await;
    let url = sim.url("/api/machines");
    let add_fault = |fault: Value| {
        let http = sim.http.clone();
        let url = sim.url("/_sim/faults");
        async move {
            assert_eq!(
                http.post(url)
                    .json(&fault)
                    .send()
                    .await
                    .expect("fault")
                    .status(),
                204
            )
        }
    };
    add_fault(json!({"endpoint": "machines.list", "kind": "drop_before", "count": 1})).await;
    let dropped = sim.http.get(&url).bearer_auth(&token).send().await;
    let failed = match dropped {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(failed, "the connection is dropped");
    assert_eq!(
        sim.http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("ok")
            .status(),
        200
    );

    add_fault(json!({"endpoint": "machines.list", "kind": "status", "status": 503, "count": 1}))
        .await;
    let response = sim
        .http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("503");
    assert_eq!(response.status(), 503);
    let stats = sim.stats().await;
    assert_eq!(stats["stats"]["faults_injected"]["drop_before"], 1);
    assert_eq!(stats["stats"]["faults_injected"]["status_503"], 1);
}

#[tokio::test]
async fn requests_without_a_valid_token_or_permission_are_refused() {
    let scenario = "apps: [{client_id: reader, client_secret: s, roles: [Machine.Read.All]}]";
    let sim = start_sim(|a| a.devices = 1, scenario).await;
    let response = sim
        .http
        .get(sim.url("/api/machines"))
        .bearer_auth("forged")
        .send()
        .await
        .expect("401");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "Unauthorized");

    let token_url = sim.url(&format!("/{}/oauth2/v2.0/token", sim.sim.tenant_id()));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "reader"),
        ("client_secret", "s"),
        ("scope", sim.sim.scope()),
    ];
    let token: Value = sim
        .http
        .post(&token_url)
        .form(&form)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let reader = token["access_token"].as_str().expect("token");
    let device = &sim.sim.devices()[0].0;
    let response = start_action(&sim, reader, device, &run_script("t.ps1")).await;
    assert_eq!(response.status(), 403, "Machine.LiveResponse is required");

    let bad_scope = [
        ("grant_type", "client_credentials"),
        ("client_id", "reader"),
        ("client_secret", "s"),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let response = sim
        .http
        .post(&token_url)
        .form(&bad_scope)
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn machine_lists_page_with_next_links_and_filter_by_tag() {
    let sim = start_sim(
        |a| (a.devices, a.page_size) = (25, 10),
        "fleet: {tags: [{tag: prod, fraction: 0.5}]}",
    )
    .await;
    let token = sim.token().await;
    let mut url = sim.url("/api/machines");
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let page: Value = sim
            .http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("json");
        seen += page["value"].as_array().map_or(0, Vec::len);
        pages += 1;
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!((seen, pages), (25, 3));
    let filter = "machineTags/any(tag: tag eq 'prod')";
    let tagged: Value = sim
        .http
        .get(sim.url("/api/machines"))
        .query(&[("$filter", filter), ("$count", "true")])
        .bearer_auth(&token)
        .send()
        .await
        .expect("filter")
        .json()
        .await
        .expect("json");
    let count = tagged["@odata.count"].as_u64().expect("count");
    assert!(count > 0 && count < 25, "about half are tagged: {count}");
    assert!(tagged["value"].as_array().expect("value").iter().all(|m| {
        m["machineTags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("prod")))
    }));
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let sim = start_sim(
        |a| (a.devices, a.token_lifetime) = (1, Duration::from_secs(1)),
        "",
    )
    .await;
    let token = sim.token().await;
    let url = sim.url("/api/machines");
    assert_eq!(
        sim.http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("call")
            .status(),
        200
    );
    eventually(WAIT, "the token to expire", || async {
        (sim.http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .status()
            == 401)
            .then_some(())
    })
    .await;
}
