//! The router against a real engine, shared by the tests of this directory: a simulated tenant
//! over HTTPS in this process, a real SQLite store in a temporary directory and the repository's
//! shipped playbooks, driven request by request through `tower::ServiceExt::oneshot` (no
//! listener, no sleeps: conditions are polled with a deadline).

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use fleetlr_engine::{Engine, EngineSetup, Limits, PlaybookDir, TenantSetup};
use fleetlr_sim::{Scenario, SimArgs, SimHandle, TlsMaterial};
use fleetlr_store::{Role, Store};
use serde_json::Value;
use tower::ServiceExt as _;

pub const PLAYBOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../playbooks");

/// A daemon without its listener: simulator, store, engine and router.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub sim: SimHandle,
    pub engine: Engine,
    pub app: Router,
    pub token: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.sim.shutdown();
    }
}

/// What came back: status, headers, and the body as JSON (`Null` when it is not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.json["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    pub fn message(&self) -> &str {
        self.json["error"]["message"]
            .as_str()
            .unwrap_or("<no error message>")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The one error shape: a JSON body with a code and a message.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "{}",
            self.json
        );
        assert!(
            self.header("content-type").starts_with("application/json"),
            "{:?}",
            self.headers
        );
        assert!(!self.message().is_empty() && self.message() != "<no error message>");
    }
}

pub async fn start() -> Daemon {
    let (tls, _ca_key) = TlsMaterial::generate().expect("generating test TLS material");
    let args = SimArgs {
        speedup: 60.0,
        devices: 5,
        ..Default::default()
    };
    let sim = fleetlr_sim::spawn(args, Scenario::default(), &tls)
        .await
        .expect("simulator starts");
    let client = fleetlr_defender::DefenderClient::new(fleetlr_defender::ClientConfig {
        cloud: fleetlr_defender::Cloud::Custom {
            api_base: sim.base_url(),
            authority_host: sim.base_url(),
        },
        tenant_id: sim.tenant_id().to_owned(),
        client_id: sim.client_id().to_owned(),
        credential: fleetlr_defender::Credential::ClientSecret(
            sim.client_secret().to_owned().into(),
        ),
        scope: fleetlr_defender::DEFAULT_SCOPE.to_owned(),
        extra_ca_pem: Some(sim.ca_pem().to_owned()),
        timeout: Duration::from_secs(30),
    })
    .expect("client builds");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("fleetlr.db"))
        .await
        .expect("store opens");
    let (token, hash) = fleetlr_server::auth::new_token();
    store
        .create_token("tester", Role::Admin, &hash, "test")
        .await
        .expect("token stored");
    let engine = Engine::start(
        store,
        EngineSetup {
            tenants: vec![TenantSetup {
                name: "lab".into(),
                client,
                limits: Limits {
                    time_scale: 60.0,
                    ..Limits::default()
                },
            }],
            playbooks: PlaybookDir::new(PathBuf::from(PLAYBOOKS), 20_000_000),
            artifacts_dir: dir.path().join("artifacts"),
        },
    );
    let app = fleetlr_server::router(engine.clone(), Default::default());
    Daemon {
        dir,
        sim,
        engine,
        app,
        token,
    }
}

impl Daemon {
    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body read")
            .to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            bytes,
            json,
        }
    }

    pub fn request(&self, method: &str, path: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(
            self.request("GET", path)
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.post_raw(path, body.to_string()).await
    }

    pub async fn post_raw(&self, path: &str, body: String) -> Answer {
        self.send(
            self.request("POST", path)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
    }

    pub fn device(&self, index: usize) -> String {
        self.sim.devices()[index].0.clone()
    }

    /// Polls `GET /api/v1/runs/{id}` until `done` holds.
    pub async fn wait_for_run(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let run = self.get(&format!("/api/v1/runs/{id}")).await;
            if done(&run.json) {
                return run.json;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {}",
                run.json
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
