//! Shared helpers for the end-to-end tests in `it/`: start the real simulator on port 0 with a
//! fresh CA, talk to it over real HTTPS, and wait on conditions instead of sleeping.

use fleetlr_sim::{SimArgs, SimHandle, TlsMaterial};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// A simulator running in this process, and an HTTPS client that trusts only its CA.
pub struct TestSim {
    pub sim: SimHandle,
    pub http: reqwest::Client,
}

/// Starts the simulator with `configure` applied to the default flags and `scenario` YAML.
pub async fn start_sim(configure: impl FnOnce(&mut SimArgs), scenario: &str) -> TestSim {
    let mut args = SimArgs::default();
    configure(&mut args);
    let scenario =
        fleetlr_sim::parse_scenario("test scenario", scenario).expect("test scenario parses");
    let (tls, _ca_key) = TlsMaterial::generate().expect("generating test TLS material");
    let sim = fleetlr_sim::spawn(args, scenario, &tls)
        .await
        .expect("simulator starts");
    let http = https_client(sim.ca_pem());
    TestSim { sim, http }
}

/// A reqwest client (ring provider) that trusts exactly the given CA.
pub fn https_client(ca_pem: &str) -> reqwest::Client {
    // Several tests may race to install the process-wide provider; the first one wins.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM parses");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("HTTPS client builds")
}

impl TestSim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// A bearer token for the default app, through the token endpoint.
    pub async fn token(&self) -> String {
        let response = self
            .http
            .post(self.url(&format!("/{}/oauth2/v2.0/token", self.sim.tenant_id())))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.sim.client_id()),
                ("client_secret", self.sim.client_secret()),
                ("scope", self.sim.scope()),
            ])
            .send()
            .await
            .expect("token request");
        let body: Value = response.json().await.expect("token body");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A client of the real API crate pointed at this simulator, signing in with the client secret.
    pub fn client(&self) -> fleetlr_defender::DefenderClient {
        self.client_with(
            self.sim.client_id(),
            fleetlr_defender::Credential::ClientSecret(self.sim.client_secret().to_owned().into()),
        )
    }

    pub fn client_with(
        &self,
        client_id: &str,
        credential: fleetlr_defender::Credential,
    ) -> fleetlr_defender::DefenderClient {
        fleetlr_defender::DefenderClient::new(fleetlr_defender::ClientConfig {
            cloud: fleetlr_defender::Cloud::Custom {
                api_base: self.sim.base_url(),
                authority_host: self.sim.base_url(),
            },
            tenant_id: self.sim.tenant_id().to_owned(),
            client_id: client_id.to_owned(),
            credential,
            scope: fleetlr_defender::DEFAULT_SCOPE.to_owned(),
            extra_ca_pem: Some(self.sim.ca_pem().to_owned()),
            timeout: Duration::from_secs(60),
        })
        .expect("client builds")
    }

    /// Injects a fault from now on (`POST /_sim/faults`, the fault as JSON).
    pub async fn add_fault(&self, fault: &Value) {
        let response = self
            .http
            .post(self.url("/_sim/faults"))
            .json(fault)
            .send()
            .await
            .expect("fault added");
        assert!(
            response.status().is_success(),
            "{fault}: {}",
            response.status()
        );
    }

    pub async fn stats(&self) -> Value {
        self.http
            .get(self.url("/_sim/stats"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }
}

/// Polls `check` until it returns `Some`, failing the test after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends the code's logs to the test output, filtered by `RUST_LOG` (nothing when unset).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
