//! A faithful simulator of the Microsoft Defender for Endpoint API: the live response, machine,
//! machine action and library endpoints, the Entra ID token endpoint, and the blob store behind
//! result links, over HTTPS with a CA it generates.
//!
//! It owns the *service's* behaviour as the reference documents it, including the awkward parts
//! (case-sensitive bodies, sliding rate windows, Pending actions holding sessions, a 404 for an
//! empty machine list), plus fault injection and introspection (`/_sim/…`) for tests. It must
//! never be made lenient to suit fleetlr, and it depends on no fleetlr crate but the YAML loader.

// Handlers and checks return early with a finished `Response` as their error; boxing it would
// only add noise to every call site of a local test server.
#![allow(clippy::result_large_err)]

mod actions;
mod clock;
mod config;
mod devices;
mod http;
mod limits;
mod odata;
mod scenario;
mod tls;
mod world;

pub use config::SimArgs;
pub use scenario::{FaultKind, FaultSpec, Scenario};
pub use tls::TlsMaterial;

use anyhow::Context;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Reads and checks a scenario file.
pub fn load_scenario(path: &Path) -> anyhow::Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading scenario {}", path.display()))?;
    parse_scenario(&path.display().to_string(), &text)
}

/// Parses scenario text; `origin` names it in error messages.
pub fn parse_scenario(origin: &str, text: &str) -> anyhow::Result<Scenario> {
    let scenario: Scenario = fleetlr_playbook::yaml::from_str(origin, text)?;
    for (i, app) in scenario.apps.iter().enumerate() {
        if app.client_secret.is_none() && app.certificate_pem.is_none() {
            anyhow::bail!(
                "{origin}: apps[{i}] ({}): give a client_secret, a certificate_pem, or both",
                app.client_id
            );
        }
        if app
            .certificate_pem
            .as_deref()
            .is_some_and(|pem| http::assertion::pem_to_der(pem).is_none())
        {
            anyhow::bail!(
                "{origin}: apps[{i}] ({}): certificate_pem is not a PEM certificate",
                app.client_id
            );
        }
    }
    Ok(scenario)
}

/// A running simulator. Dropping it leaves the server running until the runtime ends; call
/// [`SimHandle::shutdown`] to stop it.
pub struct SimHandle {
    addr: SocketAddr,
    ca_pem: String,
    args: SimArgs,
    server: axum_server::Handle<SocketAddr>,
    world: Arc<Mutex<world::World>>,
}

impl SimHandle {
    /// `https://127.0.0.1:PORT`: the API base URL and also the Entra ID authority host.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn tenant_id(&self) -> &str {
        &self.args.tenant_id
    }

    pub fn client_id(&self) -> &str {
        &self.args.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.args.client_secret
    }

    /// The scope tokens must be requested for.
    pub fn scope(&self) -> &'static str {
        http::token::SCOPE
    }

    /// Ids and names of every simulated device, in fleet order.
    pub fn devices(&self) -> Vec<(String, String)> {
        let world = self.world.lock().unwrap_or_else(|p| p.into_inner());
        world
            .devices
            .iter()
            .map(|d| (d.id.clone(), d.name.clone()))
            .collect()
    }

    /// Stops serving at once.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }
}

/// Starts the simulator on `args.listen` with the given scenario and TLS material.
pub async fn spawn(
    args: SimArgs,
    scenario: Scenario,
    tls: &TlsMaterial,
) -> anyhow::Result<SimHandle> {
    let clock = clock::SimClock::new(args.speedup);
    let world = Arc::new(Mutex::new(world::World::new(args.clone(), scenario, clock)));
    let app = http::router(http::AppState::new(world.clone()));
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("binding {}", args.listen))?;
    listener
        .set_nonblocking(true)
        .context("setting the listener non-blocking")?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls.server_config()?);
    let server = axum_server::Handle::new();
    let serving = axum_server::from_tcp_rustls(listener, config)
        .context("starting the HTTPS server")?
        .handle(server.clone());
    tokio::spawn(async move {
        if let Err(err) = serving.serve(app.into_make_service()).await {
            tracing::error!(error = %err, "Simulator server stopped.");
        }
    });
    Ok(SimHandle {
        addr,
        ca_pem: tls.ca_pem.clone(),
        args,
        server,
        world,
    })
}

#[cfg(test)]
mod shipped_scenarios {
    /// Every scenario shipped under `config/sim/` loads, so none can rot.
    #[test]
    fn every_shipped_scenario_loads() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/sim");
        let mut loaded = 0;
        for entry in std::fs::read_dir(&dir).expect("config/sim exists") {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                if let Err(err) = super::load_scenario(&path) {
                    panic!("{err:#}");
                }
                loaded += 1;
            }
        }
        assert!(loaded > 0, "no scenarios under {}", dir.display());
    }
}
