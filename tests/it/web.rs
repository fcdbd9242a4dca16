//! The web console in a real browser: headless Chromium driven through ChromeDriver (WebDriver)
//! against the real daemon process and the simulator. An operator signs in with a token, sees
//! the run in the list, opens it, cancels it and watches the page change to cancelled through its
//! live updates, then opens the schedules page and finds the next fire time the API reports; a
//! viewer sees the same run without the buttons. Screenshots are saved in the
//! test output directory and their paths printed.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the
//! test says so and passes outside CI; under `CI=true` it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use fleetlr_tests::{eventually, start_sim};
use serde_json::json;

use crate::daemon::{Daemon, device_ids, run_body, start_daemon, wait_for_run, write_config_at};

/// Slow enough that the run is still going while the browser looks at it: a script takes
/// about half a minute of wall time.
const SPEEDUP: f64 = 20.0;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// ChromeDriver on a free local port; dropping it stops it.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

async fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    eventually(
        Duration::from_secs(20),
        "chromedriver to answer",
        || async {
            let response = http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .ok()?;
            response.status().is_success().then_some(())
        },
    )
    .await;
    driver
}

/// A headless Chromium session with its own empty profile, kept off the network.
async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1366,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("no `{css}` on the page: {err}"))
        .text()
        .await
        .expect("element text")
}

async fn sign_in(browser: &Client, daemon: &Daemon, token: &str) {
    browser
        .goto(&daemon.url("/ui/runs"))
        .await
        .expect("open the console");
    // Not signed in: the console sends the browser to its sign-in page.
    eventually(Duration::from_secs(10), "the sign-in page", || async {
        let url = browser.current_url().await.ok()?;
        url.path().ends_with("/ui/login").then_some(())
    })
    .await;
    browser
        .find(Locator::Css("#token"))
        .await
        .expect("token field")
        .send_keys(token)
        .await
        .expect("type the token");
    browser
        .find(Locator::Css("form.login button[type=submit]"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("sign in");
    eventually(Duration::from_secs(10), "the runs list", || async {
        let url = browser.current_url().await.ok()?;
        url.path().ends_with("/ui/runs").then_some(())
    })
    .await;
}

async fn screenshot(browser: &Client, name: &str) -> PathBuf {
    let png = browser.screenshot().await.expect("a screenshot");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("screenshot written");
    println!("screenshot: {}", path.display());
    path
}

fn browser_missing() -> bool {
    if Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists() {
        return false;
    }
    let message = "the browser test needs Debian's chromium and chromium-driver \
                   (apt-get install -y chromium chromium-driver)";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipped: {message}");
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_opens_a_run_cancels_it_and_sees_it_change() {
    if browser_missing() {
        return;
    }
    let sim = start_sim(
        |a| {
            a.speedup = SPEEDUP;
            a.devices = 40;
        },
        "scripts:\n  triage.ps1: {duration: 9m..10m, output: triage done}\n  cleanup.ps1: {duration: 5s}\n",
    )
    .await;
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config_at(root.path(), &sim, SPEEDUP);
    let devices = device_ids(&sim).await;
    let scheduled = devices[..3].to_vec();
    let daemon = start_daemon(&config, sim.sim.client_secret()).await;
    let (status, operator) = daemon
        .post(
            "/api/v1/tokens",
            &json!({"name": "olga", "role": "operator"}),
        )
        .await;
    assert_eq!(status, 201, "{operator}");
    let (status, viewer) = daemon
        .post("/api/v1/tokens", &json!({"name": "vic", "role": "viewer"}))
        .await;
    assert_eq!(status, 201, "{viewer}");
    let (status, run) = daemon.post("/api/v1/runs", &run_body(&devices)).await;
    assert_eq!(status, 202, "{run}");
    let run_id = run["id"].as_str().expect("run id").to_owned();

    let driver = start_driver().await;
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = browser(&driver, profile.path()).await;
    let operator_token = operator["token"].as_str().expect("token");
    sign_in(&browser, &daemon, operator_token).await;

    // The list: the run with its playbook, who started it, progress and devices per state.
    let row = format!("a[href='/ui/runs/{run_id}']");
    eventually(Duration::from_secs(10), "the run in the list", || async {
        browser.find(Locator::Css(&row)).await.ok()
    })
    .await;
    let list = text(&browser, "table.runs").await;
    assert!(list.contains("e2e-triage"), "{list}");
    assert!(list.contains("kill-test"), "who started it: {list}");
    assert!(list.contains("/ 40"), "progress over 40 devices: {list}");
    assert!(
        list.contains("running") || list.contains("queued"),
        "{list}"
    );
    assert!(text(&browser, "header .who").await.contains("olga"));
    screenshot(&browser, "web-console-runs").await;

    // The detail: devices with their states, then the operator cancels the run.
    browser
        .find(Locator::Css(&row))
        .await
        .expect("run link")
        .click()
        .await
        .expect("open the run");
    eventually(Duration::from_secs(10), "devices in flight", || async {
        let state = text(&browser, "#run-state").await;
        let devices = text(&browser, "table.devices").await;
        (state.contains("running") && devices.contains("in flight")).then_some(())
    })
    .await;
    screenshot(&browser, "web-console-run-running").await;
    browser
        .find(Locator::Css("#action-cancel"))
        .await
        .expect("a cancel button for an operator")
        .click()
        .await
        .expect("cancel");
    let notice = eventually(Duration::from_secs(10), "the page's answer", || async {
        browser
            .find(Locator::Css("p.notice"))
            .await
            .ok()?
            .text()
            .await
            .ok()
    })
    .await;
    assert!(notice.contains("Cancellation requested"), "{notice}");
    // Nothing more is reloaded by hand: the live region shows the run ending.
    eventually(
        Duration::from_secs(60),
        "the page to show the run cancelled",
        || async {
            let state = browser
                .find(Locator::Css("#run-state"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            state.contains("cancelled").then_some(())
        },
    )
    .await;
    let devices = text(&browser, "table.devices").await;
    assert!(devices.contains("cancelled"), "{devices}");
    assert!(
        browser.find(Locator::Css("#action-cancel")).await.is_err(),
        "no cancel button on a cancelled run"
    );
    screenshot(&browser, "web-console-run-cancelled").await;
    let run = wait_for_run(&daemon, &run_id, Duration::from_secs(30)).await;
    assert_eq!(run["state"], "cancelled");
    let (_, audit) = daemon.get("/api/v1/audit").await;
    let entries = audit.as_array().expect("audit entries");
    let by = |action: &str| {
        entries
            .iter()
            .any(|e| e["action"] == action && e["actor"] == "olga" && e["outcome"] == "ok")
    };
    assert!(by("console.sign_in") && by("run.cancel"), "{audit}");

    // The schedules page, through the navigation: the next fire time the API reports, in UTC
    // and on the schedule's own clocks.
    let (status, added) = daemon
        .post(
            "/api/v1/schedules",
            &json!({
                "name": "nightly", "cron": "30 2 * * *", "timezone": "America/New_York",
                "playbook": "e2e-triage", "targets": {"devices": scheduled},
            }),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    browser
        .find(Locator::Css("header nav a[href='/ui/schedules']"))
        .await
        .expect("a Schedules link in the navigation")
        .click()
        .await
        .expect("open the schedules");
    let next_cell = eventually(Duration::from_secs(10), "the schedules page", || async {
        browser
            .find(Locator::Css("#schedule-nightly td.next"))
            .await
            .ok()
    })
    .await;
    let (_, listed) = daemon.get("/api/v1/schedules").await;
    let api_next = listed[0]["next_fire_at"].as_str().expect("next fire time");
    let shown = next_cell
        .find(Locator::Css("time"))
        .await
        .expect("a time element")
        .attr("datetime")
        .await
        .expect("attribute read");
    assert_eq!(shown.as_deref(), Some(api_next));
    let utc = fleetlr_store::parse_stamp(api_next).expect("an RFC 3339 time");
    let cell = next_cell.text().await.expect("cell text");
    assert!(
        cell.contains(&utc.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            && cell.contains("02:30")
            && cell.contains("America/New_York"),
        "{cell}"
    );
    screenshot(&browser, "web-console-schedules").await;

    // A viewer reads the same run but is offered no action.
    browser
        .find(Locator::Css("header .who button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("sign out");
    sign_in(&browser, &daemon, viewer["token"].as_str().expect("token")).await;
    browser
        .goto(&daemon.url(&format!("/ui/runs/{run_id}")))
        .await
        .expect("open the run");
    let controls = text(&browser, "div.controls").await;
    assert!(
        controls.contains("can read runs but not change them"),
        "{controls}"
    );
    assert!(
        browser
            .find(Locator::Css("form button.action"))
            .await
            .is_err()
    );
    browser.close().await.expect("browser closes");
}
