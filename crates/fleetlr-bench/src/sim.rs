//! The simulated tenant, in this process: started fresh for each strategy from the same
//! scenario and seed, so every strategy meets the same devices, outages and script times.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use fleetlr_defender::{ClientConfig, Cloud, Credential, DefenderClient};
use fleetlr_sim::{SimArgs, SimHandle, TlsMaterial};
use serde_json::Value;

use crate::scenario::Scenario;

pub struct Sim {
    pub handle: SimHandle,
    http: reqwest::Client,
    pub speedup: f64,
}

impl Sim {
    pub async fn start(scenario: &Scenario) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fleet = fleetlr_sim::parse_scenario(&scenario.name, &scenario.sim)?;
        let args = SimArgs {
            listen: "127.0.0.1:0".parse()?,
            speedup: scenario.speedup,
            seed: scenario.seed,
            ..SimArgs::default()
        };
        let (tls, _ca_key) = TlsMaterial::generate().context("generating the simulator's CA")?;
        let handle = fleetlr_sim::spawn(args, fleet, &tls).await?;
        let ca = reqwest::Certificate::from_pem(handle.ca_pem().as_bytes())?;
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .context("building the introspection client")?;
        Ok(Self {
            handle,
            http,
            speedup: scenario.speedup,
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.handle.base_url());
        let response = self.http.get(&url).send().await?.error_for_status()?;
        Ok(response.json().await?)
    }

    /// Calls, statuses, limits enforced; with `devices`, every device's actions and commands.
    pub async fn stats(&self, devices: bool) -> anyhow::Result<Value> {
        self.get(if devices {
            "/_sim/stats"
        } else {
            "/_sim/stats?devices=false"
        })
        .await
    }

    /// Every device with its offline windows.
    pub async fn devices(&self) -> anyhow::Result<Value> {
        self.get("/_sim/devices").await
    }

    /// The simulator's clock, read now and tied to this process's monotonic clock.
    pub async fn clock(&self) -> anyhow::Result<Clock> {
        let before = Instant::now();
        let stats = self.stats(false).await?;
        let after = Instant::now();
        let now = stats["now"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .context("the simulator's stats carry its time")?
            .with_timezone(&Utc);
        Ok(Clock {
            sim: now,
            wall: before + (after - before) / 2,
            speedup: self.speedup,
        })
    }

    /// A client of the real API crate, signed in as the simulator's default app.
    pub fn client(&self) -> anyhow::Result<DefenderClient> {
        Ok(DefenderClient::new(ClientConfig {
            extra_ca_pem: Some(self.handle.ca_pem().to_owned()),
            ..ClientConfig::new(
                Cloud::Custom {
                    api_base: self.handle.base_url(),
                    authority_host: self.handle.base_url(),
                },
                self.handle.tenant_id(),
                self.handle.client_id(),
                Credential::ClientSecret(self.handle.client_secret().to_owned().into()),
            )
        })?)
    }

    /// A simulated period as wall time.
    pub fn wall(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.speedup)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Converts this process's instants to the simulator's time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    sim: DateTime<Utc>,
    wall: Instant,
    speedup: f64,
}

impl Clock {
    pub fn sim_at(&self, at: Instant) -> DateTime<Utc> {
        let elapsed = if at >= self.wall {
            at - self.wall
        } else {
            Duration::ZERO
        };
        self.sim
            + chrono::TimeDelta::from_std(elapsed.mul_f64(self.speedup))
                .unwrap_or(chrono::TimeDelta::MAX)
    }

    /// Simulated seconds between two instants of this process.
    pub fn simulated_secs(&self, from: Instant, to: Instant) -> f64 {
        to.saturating_duration_since(from).as_secs_f64() * self.speedup
    }
}
