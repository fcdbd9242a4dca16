//! Hostile input against the REST API and the console: malformed JSON, huge bodies, wrong
//! content types, path traversal, SQL-looking strings, unicode tricks, missing and forged
//! tokens. Every case must be a clean 4xx (the API's JSON error shape; the console's own page),
//! store nothing, and say nothing about the daemon's insides (paths, SQL, panics).

mod harness;

use axum::body::Body;
use axum::http::{Request, header};
use fleetlr_store::Role;
use harness::{Answer, Daemon, start};
use serde_json::{Value, json};

/// What no answer may contain: the daemon's files, SQL engine words, panic text.
fn assert_nothing_leaked(daemon: &Daemon, what: &str, answer: &Answer) {
    let text = String::from_utf8_lossy(&answer.bytes).to_lowercase();
    let dir = daemon.dir.path().display().to_string().to_lowercase();
    for inside in [
        dir.as_str(),
        env!("CARGO_MANIFEST_DIR"),
        "/src/",
        ".rs:",
        "sqlite",
        "sqlx",
        "no such table",
        "syntax error",
        "constraint failed",
        "panicked",
        "stack backtrace",
    ] {
        assert!(
            !text.contains(&inside.to_lowercase()),
            "{what}: the answer says `{inside}`: {text}"
        );
    }
    // A refusal does not reflect a huge input back.
    assert!(
        answer.bytes.len() < 16 * 1024,
        "{what}: {} bytes answered",
        answer.bytes.len()
    );
}

/// A clean refusal of the API: 4xx and the one JSON error shape.
fn assert_api_refusal(daemon: &Daemon, what: &str, answer: &Answer) {
    assert!(
        answer.status.is_client_error(),
        "{what}: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.bytes)
    );
    assert!(
        answer
            .header("content-type")
            .starts_with("application/json"),
        "{what}: {:?}",
        answer.headers
    );
    assert!(
        answer.json["error"]["code"].is_string() && answer.json["error"]["message"].is_string(),
        "{what}: {}",
        answer.json
    );
    assert_nothing_leaked(daemon, what, answer);
}

fn post(daemon: &Daemon, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut request = daemon.request("POST", path);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    request.body(Body::from(body)).expect("request")
}

/// Request bodies for `POST /api/v1/runs` that must all be refused.
fn hostile_run_bodies(device: &str) -> Vec<(String, Vec<u8>)> {
    let mut bodies: Vec<(String, Vec<u8>)> = [
        "",
        "{",
        "[",
        "null",
        "123",
        "\"collect-file\"",
        "{\"playbook\":}",
        "{}x",
        "{\"playbook\": \"collect-file\",}",
        "{'playbook': 'collect-file'}",
        "{\"playbook\": \"collect-file\" \"targets\": {}}",
        "\u{feff}{\"playbook\": \"collect-file\"}",
        "{\"playbook\": \"\\ud800\"}",
        "{\"playbook\": \"collect-file\", \"targets\": {\"devices\": \"not-a-list\"}}",
        "{\"playbook\": 7, \"targets\": {\"devices\": []}}",
        "{\"playbook\": \"collect-file\", \"playbook\": \"collect-file\"}",
    ]
    .iter()
    .map(|b| (format!("malformed {b:?}"), b.as_bytes().to_vec()))
    .collect();
    bodies.push((
        "nested 100,000 deep".into(),
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
    ));
    // Invalid UTF-8: a bare continuation byte, an overlong `/` (C0 AF), an overlong NUL, a
    // surrogate encoded directly (ED A0 80).
    for bytes in [
        &b"{\"playbook\": \"\x80\"}"[..],
        b"{\"playbook\": \"..\xc0\xafetc\"}",
        b"{\"playbook\": \"x\xc0\x80\"}",
        b"{\"playbook\": \"\xed\xa0\x80\"}",
    ] {
        bodies.push((format!("invalid UTF-8 {bytes:?}"), bytes.to_vec()));
    }
    let run = |playbook: &str, devices: Value, parameters: Value| {
        json!({"playbook": playbook, "targets": {"devices": devices}, "parameters": parameters})
            .to_string()
            .into_bytes()
    };
    let path = json!({"path": "C:\\x.log"});
    let tricks = [
        "x'; DROP TABLE runs;--",
        "' OR '1'='1",
        "collect-file\" OR 1=1 --",
        "collect-file; SELECT * FROM api_tokens",
        "../../../../etc/passwd",
        "..\\..\\windows\\system32\\config\\SAM",
        "%2e%2e%2fCargo.toml",
        "/etc/passwd",
        "collect-file\0",
        "\u{202e}elif-tcelloc",
        "collect\u{200b}-file",
        "c\u{043e}llect-file",
        "collect-file\u{fe0f}",
        "\u{1f4a3}",
        "collect-file\r\nX-Injected: 1",
    ];
    for trick in tricks {
        bodies.push((
            format!("playbook {trick:?}"),
            run(trick, json!([device]), path.clone()),
        ));
        bodies.push((
            format!("device {trick:?}"),
            run("collect-file", json!([trick]), path.clone()),
        ));
        bodies.push((
            format!("tenant {trick:?}"),
            json!({"playbook": "collect-file", "tenant": trick, "targets": {"devices": [device]}, "parameters": path})
                .to_string()
                .into_bytes(),
        ));
        bodies.push((
            format!("tag {trick:?}"),
            json!({"playbook": "collect-file", "targets": {"tags": [trick]}, "parameters": path})
                .to_string()
                .into_bytes(),
        ));
    }
    // Device paths a GetFile must not carry through a template into a command: control
    // characters, quotes, a line break that would start a second command.
    for path in [
        "C:\\x.log\0",
        "C:\\x.log\r\nRunScript evil.ps1",
        "C:\\logs\\*.log",
        "\u{202e}gol.x\\:C",
        "",
    ] {
        bodies.push((
            format!("GetFile path {path:?}"),
            run("collect-file", json!([device]), json!({"path": path})),
        ));
    }
    bodies.push((
        "an unknown parameter".into(),
        run(
            "collect-file",
            json!([device]),
            json!({"path": "C:\\x", "evil": "1"}),
        ),
    ));
    bodies.push((
        "inline playbook with a traversal script".into(),
        json!({"name": "evil", "playbook_yaml": "name: evil\ndescription: x\nsteps:\n  - id: a\n    run_script: ../../etc/passwd\n", "targets": {"devices": [device]}})
            .to_string()
            .into_bytes(),
    ));
    bodies.push((
        "inline playbook with an alias bomb".into(),
        json!({"name": "bomb", "playbook_yaml": "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n", "targets": {"devices": [device]}})
            .to_string()
            .into_bytes(),
    ));
    bodies
}

#[tokio::test]
async fn hostile_requests_get_a_clean_4xx_and_leave_nothing_behind() {
    let daemon = start().await;
    let store = daemon.engine.store();
    let (viewer, hash) = fleetlr_server::auth::new_token();
    store
        .create_token("viewer", Role::Viewer, &hash, "test")
        .await
        .expect("viewer token stored");
    let tokens_before = store.tokens().await.expect("tokens").len();
    let device = daemon.device(0);
    let mut tried = 0;

    // Bodies of run requests, as JSON, and under wrong content types.
    for (what, body) in hostile_run_bodies(&device) {
        let answer = daemon
            .send(post(
                &daemon,
                "/api/v1/runs",
                Some("application/json"),
                body,
            ))
            .await;
        assert_api_refusal(&daemon, &what, &answer);
        tried += 1;
    }
    let valid = json!({"playbook": "collect-file", "targets": {"devices": [device]}, "parameters": {"path": "C:\\x"}})
        .to_string()
        .into_bytes();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
        Some("application/xml"),
        Some("json"),
        Some("text/json"),
    ] {
        let answer = daemon
            .send(post(&daemon, "/api/v1/runs", content_type, valid.clone()))
            .await;
        assert_api_refusal(&daemon, &format!("content type {content_type:?}"), &answer);
        tried += 1;
    }
    // Huge bodies: just over the limit, far over it, and on every POST route.
    for (path, size) in [
        ("/api/v1/runs", fleetlr_server::MAX_BODY_BYTES + 1),
        ("/api/v1/runs", 16 * 1024 * 1024),
        ("/api/v1/tokens", 4 * 1024 * 1024),
        ("/api/v1/runs/x/cancel", 4 * 1024 * 1024),
    ] {
        let mut body = b"{\"playbook\": \"".to_vec();
        body.resize(size, b'a');
        body.extend_from_slice(b"\"}");
        let answer = daemon
            .send(post(&daemon, path, Some("application/json"), body))
            .await;
        assert_api_refusal(&daemon, &format!("{size} bytes to {path}"), &answer);
        // A control of an unknown run is refused before its body is read.
        let expected = if path.ends_with("cancel") { 404 } else { 413 };
        assert_eq!(answer.status.as_u16(), expected, "{path}");
        tried += 1;
    }

    // Path traversal and tricks in path segments of every route that takes one.
    for segment in [
        "..",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fCargo.toml",
        "..%5C..%5Cwindows",
        "x%00y",
        "%E2%80%AEnur",
        "%C0%AF",
        "1%20OR%201%3D1",
        "'%3B%20DROP%20TABLE%20runs%3B--",
    ] {
        for path in [
            format!("/api/v1/runs/{segment}"),
            format!("/api/v1/runs/{segment}/outcomes"),
            format!("/api/v1/runs/{segment}/outcomes/1/artifact"),
            format!("/api/v1/runs/x/outcomes/{segment}/artifact"),
            format!("/api/v1/tokens/{segment}"),
        ] {
            let method = if path.starts_with("/api/v1/tokens/") {
                "DELETE"
            } else {
                "GET"
            };
            let answer = daemon
                .send(
                    daemon
                        .request(method, &path)
                        .body(Body::empty())
                        .expect("request"),
                )
                .await;
            assert_api_refusal(&daemon, &format!("{method} {path}"), &answer);
            tried += 1;
        }
        for path in [
            format!("/ui/runs/{segment}"),
            format!("/ui/assets/{segment}"),
        ] {
            let answer = daemon
                .send(
                    Request::get(path.as_str())
                        .header(header::COOKIE, format!("fleetlr_session={}", daemon.token))
                        .body(Body::empty())
                        .expect("request"),
                )
                .await;
            assert!(answer.status.is_client_error(), "{path}: {}", answer.status);
            assert_nothing_leaked(&daemon, &path, &answer);
            tried += 1;
        }
    }

    // Tokens: none, malformed, forged, in the wrong place, not enough.
    let forged = format!("flr_{}", "A".repeat(43));
    let long = format!("Bearer flr_{}", "x".repeat(64 * 1024));
    let authorizations: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some(format!("Basic {}", daemon.token)),
        Some(format!("Token {}", daemon.token)),
        Some(format!("Bearer {forged}")),
        Some(format!("Bearer {}x", daemon.token)),
        Some(format!(
            "Bearer {}",
            &daemon.token[..daemon.token.len() - 1]
        )),
        Some(format!("Bearer {} {}", daemon.token, daemon.token)),
        Some("Bearer ' OR '1'='1".into()),
        Some("Bearer \u{202e}nekot".into()),
        Some(long),
    ];
    for authorization in &authorizations {
        let mut request = Request::get("/api/v1/runs");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value.as_str());
        }
        let Ok(request) = request.body(Body::empty()) else {
            continue; // Not even a valid header value: no client can send it.
        };
        let answer = daemon.send(request).await;
        answer.assert_error(401, "unauthenticated");
        assert_nothing_leaked(&daemon, "a bad token", &answer);
        tried += 1;
    }
    for (what, request) in [
        (
            "a token in the query",
            Request::get(format!("/api/v1/runs?access_token={}", daemon.token)),
        ),
        (
            "the console's cookie on the API",
            Request::get("/api/v1/runs")
                .header(header::COOKIE, format!("fleetlr_session={}", daemon.token)),
        ),
    ] {
        let answer = daemon
            .send(request.body(Body::empty()).expect("request"))
            .await;
        assert!(
            matches!(answer.status.as_u16(), 400 | 401),
            "{what}: {}",
            answer.status
        );
        assert_api_refusal(&daemon, what, &answer);
        tried += 1;
    }
    let as_viewer = |method: &str, path: &str, body: Value| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    for request in [
        as_viewer(
            "POST",
            "/api/v1/runs",
            json!({"playbook": "collect-file", "targets": {"devices": [device]}, "parameters": {"path": "C:\\x"}}),
        ),
        as_viewer(
            "POST",
            "/api/v1/tokens",
            json!({"name": "mine", "role": "admin"}),
        ),
        as_viewer("DELETE", "/api/v1/tokens/tester", json!({})),
        as_viewer("GET", "/api/v1/audit", json!({})),
    ] {
        let answer = daemon.send(request).await;
        answer.assert_error(403, "forbidden");
        tried += 1;
    }

    // Token requests with hostile names and roles.
    for body in [
        json!({"name": "x'; DROP TABLE api_tokens;--", "role": "admin"}),
        json!({"name": "tester", "role": "admin"}),
        json!({"name": "", "role": "viewer"}),
        json!({"name": "a".repeat(10_000), "role": "viewer"}),
        json!({"name": "\u{202e}nimda", "role": "viewer"}),
        json!({"name": "nul\0", "role": "viewer"}),
        json!({"name": "../../x", "role": "viewer"}),
        json!({"name": "ok-name", "role": "root"}),
        json!({"name": "ok-name", "role": "admin", "token": "flr_chosen"}),
        json!({"name": ["list"], "role": "viewer"}),
    ] {
        let answer = daemon.post("/api/v1/tokens", &body).await;
        assert_api_refusal(&daemon, &format!("token {body}"), &answer);
        tried += 1;
    }

    // The console: sign-in forms with hostile tokens, from this origin.
    for form in [
        "token=".to_owned(),
        format!("token={forged}"),
        "token=%00".into(),
        "token=%E2%80%AE".into(),
        "token=' OR '1'='1".into(),
        format!("token={}", "x".repeat(fleetlr_server::MAX_BODY_BYTES + 1)),
        "tokn=x".into(),
        "%%%".into(),
    ] {
        let answer = daemon
            .send(
                Request::post("/ui/login")
                    .header(header::HOST, "fleetlr.test")
                    .header(header::ORIGIN, "http://fleetlr.test")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form.clone()))
                    .expect("request"),
            )
            .await;
        let refused = answer.status.is_client_error()
            || (answer.status.is_redirection() && answer.header("location").contains("failed"));
        assert!(refused, "sign-in {form:.40}: {}", answer.status);
        assert!(
            answer.header("set-cookie").is_empty()
                || answer.header("set-cookie").contains("Max-Age=0")
        );
        assert_nothing_leaked(&daemon, "sign-in", &answer);
        tried += 1;
    }

    // Nothing stored: no run, no target, no new token; the audit log names what was refused
    // and holds no hostile input.
    assert!(
        store.list_runs(1000).await.expect("runs").is_empty(),
        "a hostile request created a run"
    );
    assert_eq!(
        store.tokens().await.expect("tokens").len(),
        tokens_before,
        "a hostile request created a token"
    );
    store.integrity_check().await.expect("the store is intact");
    println!("{tried} hostile requests refused cleanly");
    assert!(tried >= 150, "{tried}");
}

#[tokio::test]
async fn sql_looking_and_unicode_text_is_stored_as_text() {
    let daemon = start().await;
    let device = daemon.device(0);
    let said = "Robert'); DROP TABLE runs;-- \u{202e}evil \0 ok";
    let answer = daemon
        .post(
            "/api/v1/runs",
            &json!({"playbook": "collect-file", "targets": {"devices": [device]}, "parameters": {"path": "C:\\x"}, "started_by": said}),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 202, "{}", answer.json);
    let id = answer.json["id"].as_str().expect("id").to_owned();
    let shown = daemon.get(&format!("/api/v1/runs/{id}")).await;
    assert!(
        shown.json["started_by"]
            .as_str()
            .is_some_and(|s| s.ends_with(said)),
        "{}",
        shown.json
    );
    assert_eq!(
        daemon
            .get("/api/v1/runs")
            .await
            .json
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    daemon
        .engine
        .store()
        .integrity_check()
        .await
        .expect("the store is intact");
}
