//! The router against a real engine: a simulated tenant over HTTPS in this process, a real
//! SQLite store in a temporary directory and the repository's shipped playbooks, driven request
//! by request through `tower::ServiceExt::oneshot` (no listener, no sleeps: conditions are
//! polled with a deadline).

mod harness;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use std::time::Duration;

use fleetlr_store::{
    CommandType, NewOutcome, NewRun, NewTarget, OutcomeKind, Priority, TriggerKind,
};
use harness::{Answer, start};
use serde_json::{Value, json};
use sha2::Digest as _;

fn collect_file(devices: &[String]) -> Value {
    json!({
        "playbook": "collect-file",
        "targets": {"devices": devices},
        "parameters": {"path": "C:\\Users\\alice\\invoice.pdf.lnk"},
    })
}

#[tokio::test]
async fn health_needs_no_token_and_readiness_follows_the_engine() {
    let daemon = start().await;
    let health = daemon
        .send(
            Request::get("/healthz")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(
        (health.status, &health.json),
        (StatusCode::OK, &json!({"status": "ok"}))
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ready = daemon
            .send(
                Request::get("/readyz")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        if ready.status == StatusCode::OK {
            break;
        }
        ready.assert_error(503, "not_ready");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the engine never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.engine.shutdown(Duration::ZERO).await;
    daemon
        .send(
            Request::get("/readyz")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .assert_error(503, "not_ready");
}

#[tokio::test]
async fn a_run_is_accepted_durable_listed_and_cancelled_once() {
    let daemon = start().await;
    let playbooks = daemon.get("/api/v1/playbooks").await;
    assert_eq!(playbooks.status, StatusCode::OK);
    assert!(
        playbooks
            .json
            .as_array()
            .expect("names")
            .contains(&json!("collect-file")),
        "{}",
        playbooks.json
    );

    let device = daemon.device(0);
    let created = daemon
        .post("/api/v1/runs", &collect_file(std::slice::from_ref(&device)))
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.json);
    let run: fleetlr_server::api::RunView =
        serde_json::from_value(created.json.clone()).expect("the answer is a RunView");
    assert_eq!(
        created.header("location"),
        format!("/api/v1/runs/{}", run.id)
    );
    assert_eq!(
        (
            run.tenant.as_str(),
            run.playbook.as_str(),
            run.started_by.as_str(),
            run.trigger.as_str(),
            run.priority.as_str(),
            run.progress.total,
        ),
        ("lab", "collect-file", "tester", "api", "response", 1)
    );
    assert_eq!(run.playbook_sha256.len(), 64);
    assert_eq!(run.parameters["path"], "C:\\Users\\alice\\invoice.pdf.lnk");
    assert_eq!(run.target_spec["devices"], json!([device]));

    // Durable before the answer: the store has it, whatever the scheduler does next.
    assert_eq!(
        daemon.engine.store().run(&run.id).await.expect("stored").id,
        run.id
    );
    let shown = daemon.get(created.header("location")).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.json["id"], json!(run.id));

    let listed = daemon.get("/api/v1/runs?limit=10").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json[0]["id"], json!(run.id), "newest first");
    // The run may move on (queued → running) between reading its state and filtering by it:
    // read both again until they agree.
    let mut attempts = 0;
    loop {
        let state = daemon.get(created.header("location")).await.json["state"].clone();
        let state = state.as_str().expect("state").to_owned();
        let filtered = daemon.get(&format!("/api/v1/runs?state={state}")).await;
        if filtered.json[0]["id"] == json!(run.id) {
            break;
        }
        attempts += 1;
        assert!(
            attempts < 20,
            "never listed under its state: {}",
            filtered.json
        );
    }
    let none = daemon.get("/api/v1/runs?state=finished").await;
    assert_eq!(none.json, json!([]));
    daemon
        .get("/api/v1/runs?state=done")
        .await
        .assert_error(422, "invalid_query");

    let targets = daemon
        .get(&format!("/api/v1/runs/{}/targets", run.id))
        .await;
    assert_eq!(targets.status, StatusCode::OK);
    assert_eq!(
        targets.json[0]["device_id"],
        json!(device),
        "{}",
        targets.json
    );
    daemon
        .get(&format!("/api/v1/runs/{}/targets?state=gone", run.id))
        .await
        .assert_error(422, "invalid_query");
    let events = daemon.get(&format!("/api/v1/runs/{}/events", run.id)).await;
    assert_eq!(events.json[0]["kind"], "run_created", "{}", events.json);

    let cancelled = daemon
        .post(&format!("/api/v1/runs/{}/cancel", run.id), &json!({}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.json);
    assert!(
        matches!(
            cancelled.json["state"].as_str(),
            Some("cancelling" | "cancelled")
        ),
        "{}",
        cancelled.json
    );
    let again = daemon
        .post(&format!("/api/v1/runs/{}/cancel", run.id), &json!({}))
        .await;
    again.assert_error(409, "invalid_state");
    assert!(again.message().contains(&run.id), "{}", again.message());

    let ended = daemon
        .wait_for_run(&run.id, "the run to be cancelled", |run| {
            run["state"] == "cancelled"
        })
        .await;
    assert_eq!(ended["progress"], json!({"ended": 1, "total": 1}));
    let outcomes = daemon
        .get(&format!("/api/v1/runs/{}/outcomes?device={device}", run.id))
        .await;
    let outcomes: Vec<fleetlr_server::api::OutcomeView> =
        serde_json::from_value(outcomes.json).expect("outcomes");
    let steps: Vec<&str> = outcomes.iter().map(|o| o.step_id.as_str()).collect();
    assert_eq!(
        steps,
        ["facts", "fetch"],
        "every command has its one outcome"
    );
    let other = daemon
        .get(&format!("/api/v1/runs/{}/outcomes?device=nope", run.id))
        .await;
    assert_eq!(other.json, json!([]));
    daemon
        .post(&format!("/api/v1/runs/{}/pause", run.id), &json!({}))
        .await
        .assert_error(409, "invalid_state");
}

#[tokio::test]
async fn refused_requests_all_get_one_json_error_shape() {
    let daemon = start().await;
    let device = daemon.device(0);
    let runs = "/api/v1/runs";

    let unknown = daemon
        .post(
            runs,
            &json!({"playbook": "nope", "targets": {"devices": [device]}}),
        )
        .await;
    unknown.assert_error(404, "playbook_not_found");
    assert!(
        !unknown.message().contains(env!("CARGO_MANIFEST_DIR")),
        "no daemon paths in answers: {}",
        unknown.message()
    );

    let mut missing = collect_file(std::slice::from_ref(&device));
    missing["parameters"] = json!({});
    let answer = daemon.post(runs, &missing).await;
    answer.assert_error(422, "invalid_parameters");
    assert!(answer.message().contains("path"), "{}", answer.message());

    let mut extra = collect_file(std::slice::from_ref(&device));
    extra["priorty"] = json!("response");
    let answer = daemon.post(runs, &extra).await;
    answer.assert_error(422, "invalid_body");
    assert!(answer.message().contains("priorty"), "{}", answer.message());

    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            json!({"playbook": "collect-file", "playbook_yaml": "name: x", "targets": {"devices": [device]}}),
            422,
            "invalid_request",
            "exactly one",
        ),
        (
            json!({"playbook": "collect-file", "parameters": {"path": "C:\\x"}}),
            422,
            "no_targets",
            "no targets",
        ),
        (
            json!({"playbook": "collect-file", "targets": {"devices": ["no-such-device"]}, "parameters": {"path": "C:\\x"}}),
            422,
            "unknown_device",
            "no-such-device",
        ),
        (
            json!({"playbook": "collect-file", "tenant": "elsewhere", "targets": {"devices": [device]}}),
            422,
            "unknown_tenant",
            "elsewhere",
        ),
        (
            {
                let mut body = collect_file(std::slice::from_ref(&device));
                body["priority"] = json!("urgent");
                body
            },
            422,
            "invalid_request",
            "urgent",
        ),
        (
            {
                let mut body = collect_file(std::slice::from_ref(&device));
                body["expires_after"] = json!("3 weeks");
                body
            },
            422,
            "invalid_request",
            "3 weeks",
        ),
        (
            json!({"playbook_yaml": "name: broken\nsteps: 7\n", "name": "broken", "targets": {"devices": [device]}}),
            422,
            "invalid_playbook",
            "broken",
        ),
    ];
    for (body, status, code, says) in cases {
        let answer = daemon.post(runs, &body).await;
        answer.assert_error(status, code);
        assert!(
            answer.message().contains(says),
            "{body}: {}",
            answer.message()
        );
    }

    daemon
        .post_raw(runs, "{\"playbook\": ".into())
        .await
        .assert_error(400, "invalid_body");
    daemon
        .send(
            daemon
                .request("POST", runs)
                .body(Body::from(collect_file(&[device]).to_string()))
                .expect("request"),
        )
        .await
        .assert_error(415, "invalid_body");
    let huge = json!({"playbook_yaml": "#".repeat(fleetlr_server::MAX_BODY_BYTES), "name": "huge"});
    daemon
        .post(runs, &huge)
        .await
        .assert_error(413, "body_too_large");

    for path in [
        "/api/v1/runs/no-such-run",
        "/api/v1/runs/no-such-run/targets",
        "/api/v1/runs/no-such-run/outcomes",
        "/api/v1/runs/no-such-run/events",
    ] {
        let answer = daemon.get(path).await;
        answer.assert_error(404, "run_not_found");
        assert!(
            answer.message().contains("no-such-run"),
            "{}",
            answer.message()
        );
    }
    for control in ["cancel", "pause", "resume", "retry"] {
        daemon
            .post(&format!("/api/v1/runs/no-such-run/{control}"), &json!({}))
            .await
            .assert_error(404, "run_not_found");
    }

    // What axum refuses before a handler runs has the same shape.
    daemon
        .get("/api/v1/runs/x/outcomes/not-a-number/artifact")
        .await
        .assert_error(400, "bad_request");
    daemon
        .get("/api/v1/runs?limit=lots")
        .await
        .assert_error(400, "bad_request");
    daemon
        .get("/api/v1/runs?colour=blue")
        .await
        .assert_error(400, "bad_request");
    daemon
        .get("/api/v1/nothing-here")
        .await
        .assert_error(404, "not_found");
    let wrong_method = daemon.get("/api/v1/runs/x/cancel").await;
    wrong_method.assert_error(405, "method_not_allowed");
    assert!(
        wrong_method.header("allow").contains("POST"),
        "{:?}",
        wrong_method.headers
    );
    let anonymous = daemon
        .send(Request::get(runs).body(Body::empty()).expect("request"))
        .await;
    anonymous.assert_error(401, "unauthenticated");
    assert_eq!(anonymous.header("www-authenticate"), "Bearer");
}

#[tokio::test]
async fn artifacts_stream_with_their_hash_and_nothing_outside_the_directory_is_served() {
    let daemon = start().await;
    // A run of a tenant the engine does not schedule, so its records stay exactly as written:
    // the engine itself only ever records clean relative paths.
    let store = daemon.engine.store();
    let id = store
        .create_run(
            &offstage_run(TriggerKind::Api, None),
            &[NewTarget {
                device_id: "dev-1".into(),
                device_name: Some("ws-1.corp".into()),
                inactive_recheck_at: None,
            }],
        )
        .await
        .expect("run stored");
    let target = store.targets(&id).await.expect("targets")[0].id;

    let content = b"collected bytes\n".repeat(1000);
    let good = format!("{id}/dev-1/c0-0-triage.txt");
    let file = daemon.dir.path().join("artifacts").join(&good);
    std::fs::create_dir_all(file.parent().expect("parent")).expect("artifact dir");
    std::fs::write(&file, &content).expect("artifact written");
    // A real file just outside the artifact directory, which a `..` path would reach.
    std::fs::write(daemon.dir.path().join("secret.txt"), b"secret").expect("secret written");
    let sha = format!("{:x}", sha2::Sha256::digest(&content));
    let paths = [
        Some(good.clone()),
        Some("../secret.txt".to_owned()),
        Some(format!("{id}/../../secret.txt")),
        Some(daemon.dir.path().join("secret.txt").display().to_string()),
        None,
    ];
    let outcomes: Vec<NewOutcome> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| NewOutcome {
            call_index: 0,
            command_index: u32::try_from(i).expect("small"),
            step_id: format!("step{i}"),
            command_type: CommandType::GetFile,
            outcome: OutcomeKind::Completed,
            started_at: None,
            ended_at: None,
            errors: vec![],
            exit_code: None,
            output_preview: None,
            artifact_path: path.clone(),
            artifact_sha256: path.as_ref().map(|_| sha.clone()),
            artifact_bytes: path.as_ref().map(|_| content.len() as u64),
            capture_retry: None,
        })
        .collect();
    store
        .end_target(
            target,
            fleetlr_store::TargetState::Succeeded,
            "test",
            &outcomes,
        )
        .await
        .expect("outcomes recorded");

    let listed = daemon.get(&format!("/api/v1/runs/{id}/outcomes")).await;
    let listed: Vec<fleetlr_server::api::OutcomeView> =
        serde_json::from_value(listed.json).expect("outcomes");
    assert_eq!(listed.len(), paths.len());
    let artifact = listed[0]
        .artifact
        .as_ref()
        .expect("the first has an artifact");
    assert_eq!(
        (
            artifact.path.as_str(),
            artifact.sha256.as_deref(),
            artifact.bytes
        ),
        (
            good.as_str(),
            Some(sha.as_str()),
            Some(content.len() as u64)
        )
    );
    assert_eq!(
        artifact.url,
        format!("/api/v1/runs/{id}/outcomes/{}/artifact", listed[0].id)
    );

    let download = daemon.get(&artifact.url).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.bytes, content);
    assert_eq!(download.header("content-type"), "application/octet-stream");
    assert_eq!(
        download.header("content-disposition"),
        "attachment; filename=\"c0-0-triage.txt\""
    );
    assert_eq!(download.header("x-content-sha256"), sha);
    assert!(
        download.header("digest").starts_with("sha-256="),
        "{:?}",
        download.headers
    );

    for refused in &listed[1..] {
        let answer = daemon
            .get(&format!(
                "/api/v1/runs/{id}/outcomes/{}/artifact",
                refused.id
            ))
            .await;
        answer.assert_error(404, "artifact_not_found");
        assert!(!answer.bytes.windows(6).any(|w| w == b"secret"));
    }
    daemon
        .get(&format!(
            "/api/v1/runs/other-run/outcomes/{}/artifact",
            listed[0].id
        ))
        .await
        .assert_error(404, "artifact_not_found");
}

/// A run of a tenant the engine does not schedule, so its records stay exactly as written; one
/// a schedule started is recorded as its fire time records it.
fn offstage_run(trigger_kind: TriggerKind, schedule: Option<&str>) -> NewRun {
    NewRun {
        tenant: "offstage".into(),
        playbook_name: "collect-file".into(),
        playbook_sha256: "0".repeat(64),
        playbook_source: String::new(),
        parameters: json!({}),
        started_by: schedule.map_or_else(|| "test".into(), |name| format!("schedule:{name}")),
        trigger_kind,
        trigger_ref: schedule.map(str::to_owned),
        priority: Priority::Collection,
        expires_at: chrono::Utc::now() + chrono::TimeDelta::hours(1),
        max_failure_percent: None,
        canary: None,
        library: json!({}),
        alert: None,
        target_spec: json!({"devices": ["dev-1"]}),
        alert_claim: None,
    }
}

/// A form post from the console, as a browser on this origin sends it.
fn console_form(path: &str, cookie: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, "fleetlr.test")
        .header(header::ORIGIN, "http://fleetlr.test")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

fn console_get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request")
}

#[tokio::test]
async fn the_console_keeps_the_token_in_a_strict_cookie_and_refuses_forged_forms() {
    let daemon = start().await;
    let body = |answer: &Answer| String::from_utf8_lossy(&answer.bytes).into_owned();

    // Not signed in: pages send the browser to the sign-in page; the API is not opened by it.
    let page = daemon
        .send(
            Request::get("/ui/runs")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.header("location"), "/ui/login");

    // A wrong token: back to the form, no cookie.
    let wrong = daemon
        .send(console_form("/ui/login", "", "token=flr_wrong"))
        .await;
    assert_eq!(wrong.header("location"), "/ui/login?failed=true");
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    let again = daemon
        .send(
            Request::get("/ui/login?failed=true")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(body(&again).contains("not valid"));

    // The right one: an HttpOnly, SameSite=Strict cookie; Secure only behind TLS.
    let signed_in = daemon
        .send(console_form(
            "/ui/login",
            "",
            &format!("token={}", daemon.token),
        ))
        .await;
    assert_eq!(signed_in.header("location"), "/ui/runs");
    let set_cookie = signed_in.header("set-cookie").to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(flag), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("cookie pair")
        .to_owned();
    let mut behind_tls = console_form("/ui/login", "", &format!("token={}", daemon.token));
    behind_tls
        .headers_mut()
        .insert("x-forwarded-proto", "https".parse().expect("header"));
    let secure = daemon.send(behind_tls).await;
    assert!(secure.header("set-cookie").contains("; Secure"));

    // The cookie opens the pages, never the API.
    let device = daemon.device(0);
    let created = daemon
        .post("/api/v1/runs", &collect_file(std::slice::from_ref(&device)))
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.json);
    let id = created.json["id"].as_str().expect("id").to_owned();
    let list = daemon.send(console_get("/ui/runs", &cookie)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.header("content-type").starts_with("text/html"));
    assert!(
        list.header("content-security-policy")
            .contains("script-src 'self'")
    );
    assert!(body(&list).contains(&format!("/ui/runs/{id}")));
    let api_by_cookie = daemon.send(console_get("/api/v1/runs", &cookie)).await;
    api_by_cookie.assert_error(401, "unauthenticated");

    // Forms: without the CSRF field, with a wrong one, or from another origin: refused, and
    // the run is untouched.
    let detail = daemon
        .send(console_get(&format!("/ui/runs/{id}"), &cookie))
        .await;
    let csrf = csrf_of(&body(&detail));
    let cancel = format!("/ui/runs/{id}/cancel");
    let missing = daemon.send(console_form(&cancel, &cookie, "")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let forged = daemon
        .send(console_form(&cancel, &cookie, "csrf=0000"))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let mut cross_site = console_form(&cancel, &cookie, &format!("csrf={csrf}"));
    cross_site.headers_mut().insert(
        header::ORIGIN,
        "https://evil.example".parse().expect("header"),
    );
    assert_eq!(daemon.send(cross_site).await.status, StatusCode::FORBIDDEN);
    let state = daemon.get(&format!("/api/v1/runs/{id}")).await.json["state"].clone();
    assert_ne!(state, json!("cancelling"));
    assert_ne!(state, json!("cancelled"));

    // The real form: the run is cancelled, the change audited under the token's name.
    let done = daemon
        .send(console_form(&cancel, &cookie, &format!("csrf={csrf}")))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(
        done.header("location"),
        format!("/ui/runs/{id}?done=cancel")
    );
    daemon
        .wait_for_run(&id, "the cancel to land", |run| {
            matches!(run["state"].as_str(), Some("cancelling" | "cancelled"))
        })
        .await;
    let audit = daemon.get("/api/v1/audit").await;
    assert!(
        audit.json.as_array().expect("entries").iter().any(|e| {
            e["action"] == "run.cancel" && e["actor"] == "tester" && e["subject"] == json!(id)
        }),
        "{}",
        audit.json
    );

    // Signing out forgets the cookie; a revoked token ends every session at once.
    let out = daemon
        .send(console_form("/ui/logout", &cookie, &format!("csrf={csrf}")))
        .await;
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    daemon
        .engine
        .store()
        .revoke_token("tester")
        .await
        .expect("revoked");
    let after = daemon.send(console_get("/ui/runs", &cookie)).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.header("location"), "/ui/login");
}

#[tokio::test]
async fn console_pages_escape_what_devices_and_callers_send() {
    let daemon = start().await;
    let hostile = "<script>alert(1)</script>";
    let created = daemon
        .post(
            "/api/v1/runs",
            &json!({
                "playbook": "collect-file",
                "targets": {"devices": [daemon.device(0)]},
                "parameters": {"path": "C:\\x.txt"},
                "started_by": hostile,
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.json);
    let id = created.json["id"].as_str().expect("id");
    let cookie = console_cookie(&daemon, &daemon.token).await;
    let scheduled = daemon
        .post(
            "/api/v1/schedules",
            &json!({
                "name": "hostile", "cron": "0 2 * * *", "playbook": "collect-file",
                "targets": {"devices": [hostile]},
                "parameters": {"path": "C:\\x.txt"},
            }),
        )
        .await;
    assert_eq!(scheduled.status, StatusCode::CREATED, "{}", scheduled.json);
    for path in [
        "/ui/runs".to_owned(),
        format!("/ui/runs/{id}"),
        format!("/ui/runs/{id}?part=live"),
        "/ui/schedules".to_owned(),
    ] {
        let page = daemon.send(console_get(&path, &cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let html = String::from_utf8_lossy(&page.bytes);
        assert!(!html.contains(hostile), "{path}: {html}");
        assert!(html.contains("&lt;script&gt;"), "{path}");
    }
    let unknown = daemon
        .send(console_get("/ui/runs/no-such-run", &cookie))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad_filter = daemon
        .send(console_get("/ui/runs?state=bogus", &cookie))
        .await;
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
}

/// Signs in to the console with `token`; the session cookie (`name=value`).
async fn console_cookie(daemon: &harness::Daemon, token: &str) -> String {
    let signed_in = daemon
        .send(console_form("/ui/login", "", &format!("token={token}")))
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    signed_in
        .header("set-cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned()
}

fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field on the page")
        .to_owned()
}

#[tokio::test]
async fn the_console_lists_schedules_with_their_next_fire_time_and_operators_pause_them() {
    let daemon = start().await;
    let body = |answer: &Answer| String::from_utf8_lossy(&answer.bytes).into_owned();
    let added = daemon
        .post(
            "/api/v1/schedules",
            &json!({
                "name": "nightly",
                "cron": "30 2 * * *",
                "timezone": "Europe/Paris",
                "playbook": "collect-file",
                "targets": {"tags": ["prod"]},
                "parameters": {"path": "C:\\triage.zip"},
                "overlap": "queue",
            }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.json);
    let listed = daemon.get("/api/v1/schedules").await;
    let next = listed.json[0]["next_fire_at"]
        .as_str()
        .expect("a next fire time")
        .to_owned();
    let local = listed.json[0]["next_fire_local"]
        .as_str()
        .expect("the same in the schedule's zone");
    assert!(
        local.contains("T02:30:00+01:00") || local.contains("T02:30:00+02:00"),
        "{local}"
    );
    let viewer = daemon
        .post("/api/v1/tokens", &json!({"name": "vic", "role": "viewer"}))
        .await;
    assert_eq!(viewer.status, StatusCode::CREATED, "{}", viewer.json);

    // A viewer: every schedule with its next fire time, in UTC and on Paris clocks; no button.
    let viewer_cookie =
        console_cookie(&daemon, viewer.json["token"].as_str().expect("token")).await;
    let runs = daemon.send(console_get("/ui/runs", &viewer_cookie)).await;
    assert!(body(&runs).contains("href=\"/ui/schedules\""), "navigation");
    let page = daemon
        .send(console_get("/ui/schedules", &viewer_cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.header("content-security-policy")
            .contains("script-src 'self'")
    );
    let html = body(&page);
    assert!(html.contains("id=\"schedule-nightly\""), "{html}");
    assert!(html.contains(&format!("datetime=\"{next}\"")), "{html}");
    assert!(
        html.contains("02:30 +0") && html.contains("Europe/Paris"),
        "{html}"
    );
    assert!(
        html.contains("overlap: queue") && html.contains("tags "),
        "{html}"
    );
    assert!(html.contains("can read schedules but not pause"), "{html}");
    assert!(!html.contains("/ui/schedules/nightly/pause"), "{html}");
    // Even with the page's own CSRF value, the viewer's role is not enough (and it is audited).
    let csrf = csrf_of(&html);
    let refused = daemon
        .send(console_form(
            "/ui/schedules/nightly/pause",
            &viewer_cookie,
            &format!("csrf={csrf}"),
        ))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        daemon.get("/api/v1/schedules").await.json[0]["paused"],
        false
    );

    // An operator: a forged form changes nothing; the page's form pauses, audited.
    let cookie = console_cookie(&daemon, &daemon.token).await;
    let html = body(&daemon.send(console_get("/ui/schedules", &cookie)).await);
    assert!(
        html.contains("action=\"/ui/schedules/nightly/pause\""),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let pause = "/ui/schedules/nightly/pause";
    let forged = daemon.send(console_form(pause, &cookie, "csrf=0000")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let mut cross_site = console_form(pause, &cookie, &format!("csrf={csrf}"));
    cross_site.headers_mut().insert(
        header::ORIGIN,
        "https://evil.example".parse().expect("header"),
    );
    assert_eq!(daemon.send(cross_site).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        daemon.get("/api/v1/schedules").await.json[0]["paused"],
        false
    );
    let done = daemon
        .send(console_form(pause, &cookie, &format!("csrf={csrf}")))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.header("location"), "/ui/schedules?done=pause");
    let schedule = daemon.get("/api/v1/schedules").await.json[0].clone();
    assert_eq!(schedule["paused"], true);
    assert_eq!(schedule["next_fire_at"], Value::Null);
    let html = body(
        &daemon
            .send(console_get("/ui/schedules?done=pause", &cookie))
            .await,
    );
    assert!(html.contains("Schedule paused"), "{html}");
    assert!(
        html.contains("action=\"/ui/schedules/nightly/resume\""),
        "{html}"
    );
    let unknown = daemon
        .send(console_form(
            "/ui/schedules/no-such/pause",
            &cookie,
            &format!("csrf={csrf}"),
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let audit = daemon.get("/api/v1/audit").await.json;
    let entries = audit.as_array().expect("entries");
    let logged = |actor: &str, outcome: &str| {
        entries.iter().any(|e| {
            e["action"] == "schedule.pause"
                && e["actor"] == actor
                && e["subject"] == "nightly"
                && e["outcome"] == outcome
        })
    };
    assert!(
        logged("tester", "ok") && logged("vic", "refused"),
        "{audit}"
    );
}

#[tokio::test]
async fn a_run_started_by_a_schedule_links_to_it() {
    let daemon = start().await;
    let id = daemon
        .engine
        .store()
        .create_run(
            &offstage_run(TriggerKind::Schedule, Some("nightly")),
            &[NewTarget {
                device_id: "dev-1".into(),
                device_name: None,
                inactive_recheck_at: None,
            }],
        )
        .await
        .expect("run stored");
    let run = daemon.get(&format!("/api/v1/runs/{id}")).await.json;
    assert_eq!(
        (&run["trigger"], &run["trigger_ref"]),
        (&json!("schedule"), &json!("nightly"))
    );
    let cookie = console_cookie(&daemon, &daemon.token).await;
    for path in ["/ui/runs".to_owned(), format!("/ui/runs/{id}")] {
        let page = daemon.send(console_get(&path, &cookie)).await;
        let html = String::from_utf8_lossy(&page.bytes);
        assert!(
            html.contains("href=\"/ui/schedules#schedule-nightly\""),
            "{path}: {html}"
        );
    }
}

/// Follows `Link: <…>; rel="next"` from `first` to the last page, answering every row and the
/// number of pages.
async fn every_page(daemon: &harness::Daemon, first: &str) -> (Vec<Value>, usize) {
    let mut rows = Vec::new();
    let mut pages = 0;
    let mut next = Some(first.to_owned());
    while let Some(url) = next {
        let page = daemon.get(&url).await;
        assert_eq!(page.status, StatusCode::OK, "{url}: {}", page.json);
        rows.extend(page.json.as_array().expect("an array").iter().cloned());
        pages += 1;
        next = page
            .header("link")
            .strip_prefix('<')
            .and_then(|link| link.strip_suffix(">; rel=\"next\""))
            .map(str::to_owned);
        assert!(pages <= 20, "the pages never end");
    }
    (rows, pages)
}

#[tokio::test]
async fn a_runs_targets_outcomes_and_events_come_a_page_at_a_time() {
    let daemon = start().await;
    let store = daemon.engine.store();
    let devices: Vec<NewTarget> = (0..7)
        .map(|i| NewTarget {
            device_id: format!("dev-{i}"),
            device_name: Some(format!("ws-{i}.corp")),
            inactive_recheck_at: None,
        })
        .collect();
    let id = store
        .create_run(&offstage_run(TriggerKind::Api, None), &devices)
        .await
        .expect("run stored");
    let targets = store.targets(&id).await.expect("targets");
    for target in targets.iter().step_by(2) {
        let outcomes: Vec<NewOutcome> = (0..2)
            .map(|i| NewOutcome {
                call_index: 0,
                command_index: i,
                step_id: format!("step{i}"),
                command_type: CommandType::RunScript,
                outcome: OutcomeKind::Expired,
                started_at: None,
                ended_at: None,
                errors: vec![],
                exit_code: None,
                output_preview: None,
                artifact_path: None,
                artifact_sha256: None,
                artifact_bytes: None,
                capture_retry: None,
            })
            .collect();
        store
            .end_target(
                target.id,
                fleetlr_store::TargetState::Expired,
                "never online",
                &outcomes,
            )
            .await
            .expect("ended");
    }

    let (all, pages) = every_page(&daemon, &format!("/api/v1/runs/{id}/targets?limit=3")).await;
    let ids: Vec<i64> = all.iter().map(|t| t["id"].as_i64().expect("id")).collect();
    assert_eq!(ids, targets.iter().map(|t| t.id).collect::<Vec<_>>());
    assert_eq!(pages, 3, "3 + 3 + 1");
    let (expired, _) = every_page(
        &daemon,
        &format!("/api/v1/runs/{id}/targets?state=expired&limit=1"),
    )
    .await;
    assert_eq!(
        expired
            .iter()
            .map(|t| t["device_id"].clone())
            .collect::<Vec<_>>(),
        [
            json!("dev-0"),
            json!("dev-2"),
            json!("dev-4"),
            json!("dev-6")
        ],
        "the state filter is kept from page to page"
    );
    for device in ["dev-4", "ws-4.corp"] {
        let one = daemon
            .get(&format!("/api/v1/runs/{id}/targets?device={device}"))
            .await;
        assert_eq!(one.json[0]["device_id"], "dev-4", "{device}: {}", one.json);
        assert_eq!(one.json.as_array().map(Vec::len), Some(1));
    }
    let none = daemon
        .get(&format!(
            "/api/v1/runs/{id}/targets?device=dev-4&state=pending"
        ))
        .await;
    assert_eq!(none.json, json!([]), "dev-4 ended expired");
    let whole = daemon.get(&format!("/api/v1/runs/{id}/targets")).await;
    assert_eq!(
        (whole.json.as_array().map(Vec::len), whole.header("link")),
        (Some(7), ""),
        "one page holds 1000 when not told otherwise; no link after the last"
    );

    let (outcomes, pages) =
        every_page(&daemon, &format!("/api/v1/runs/{id}/outcomes?limit=3")).await;
    assert_eq!((outcomes.len(), pages), (8, 3));
    let order: Vec<(i64, String)> = outcomes
        .iter()
        .map(|o| {
            (
                o["target_id"].as_i64().expect("target"),
                o["step_id"].as_str().expect("step").to_owned(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "by target, then in order");
    let (dev4, _) = every_page(
        &daemon,
        &format!("/api/v1/runs/{id}/outcomes?device=dev-4&limit=1"),
    )
    .await;
    assert_eq!(
        dev4.iter()
            .map(|o| o["device_id"].clone())
            .collect::<Vec<_>>(),
        [json!("dev-4"), json!("dev-4")]
    );

    let (events, _) = every_page(&daemon, &format!("/api/v1/runs/{id}/events?limit=2")).await;
    let stored = store.events(&id).await.expect("events");
    assert_eq!(
        events
            .iter()
            .map(|e| e["id"].as_i64().expect("id"))
            .collect::<Vec<_>>(),
        stored.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    daemon
        .get(&format!("/api/v1/runs/{id}/targets?after=x"))
        .await
        .assert_error(400, "bad_request");
}
