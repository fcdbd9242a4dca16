//! Reaching a configured tenant: the client configuration of a real one, or a simulator
//! started in-process for a simulated one (kept running while its handle lives).

use anyhow::Context;
use fleetlr_defender::{ClientConfig, DefenderClient};

use crate::config::{DaemonTenant, Tenant, TenantKind};

/// How to reach `tenant`; a simulated tenant's simulator is started and returned with it.
pub(crate) async fn client_config(
    tenant: &Tenant,
) -> anyhow::Result<(ClientConfig, Option<fleetlr_sim::SimHandle>)> {
    match tenant.kind()? {
        TenantKind::Real(client_config) => Ok((client_config, None)),
        TenantKind::Simulated(sim) => {
            let (sim_args, scenario) = *sim;
            let tls = fleetlr_sim::TlsMaterial::load_or_generate(&sim_args.tls_dir)
                .with_context(|| format!("tenant `{}`: preparing simulator TLS", tenant.name))?;
            let sim = fleetlr_sim::spawn(sim_args, scenario, &tls)
                .await
                .with_context(|| format!("tenant `{}`: starting the simulator", tenant.name))?;
            tracing::info!(tenant = %tenant.name, url = %sim.base_url(), devices = sim.devices().len(), "simulated tenant started");
            let config = ClientConfig {
                extra_ca_pem: Some(sim.ca_pem().to_owned()),
                ..ClientConfig::new(
                    fleetlr_defender::Cloud::Custom {
                        api_base: sim.base_url(),
                        authority_host: sim.base_url(),
                    },
                    sim.tenant_id(),
                    sim.client_id(),
                    fleetlr_defender::Credential::ClientSecret(
                        sim.client_secret().to_owned().into(),
                    ),
                )
            };
            Ok((config, Some(sim)))
        }
    }
}

/// A client of `tenant`, and its simulator when it is simulated.
pub(crate) async fn connect(
    tenant: &Tenant,
) -> anyhow::Result<(DefenderClient, Option<fleetlr_sim::SimHandle>)> {
    let (config, simulator) = client_config(tenant).await?;
    let client = DefenderClient::new(config)
        .with_context(|| format!("tenant `{}`: building the API client", tenant.name))?;
    Ok((client, simulator))
}
