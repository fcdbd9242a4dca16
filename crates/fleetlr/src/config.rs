//! The daemon's side of its configuration; the file's model, parsing and checks are
//! `fleetlr-config`, which must not depend on the crates used here. This module answers the
//! checks that need them (`DaemonReferences`: a simulator scenario read, a cron timing, a
//! playbook compiled from the playbook directory) and turns what is configured into what the
//! daemon starts: a tenant into a Defender API client configuration or an in-process simulator
//! whose own limits agree with the tenant's, schedules into the store's definitions, hooks and
//! rules into the server's setup. Secrets stay in `secrecy` types and are never printed.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use fleetlr_config::{
    HookCredential, MissedFile, OverlapFile, PriorityFile, ReferenceChecks, ScheduleFile,
    SimulatedFile,
};
use fleetlr_defender::{ClientConfig, Credential};
use fleetlr_server::hooks::{HmacCredential, Hook, HookSetup};
use fleetlr_store::{MissedPolicy, OverlapPolicy, Priority, ScheduleDef};

pub use fleetlr_config::{Config, Tenant, load, parse};

/// How to reach a tenant.
pub enum TenantKind {
    /// Microsoft's service (or anything at a `custom` cloud).
    Real(ClientConfig),
    /// A simulator to start in-process, with its scenario read.
    Simulated(Box<(fleetlr_sim::SimArgs, fleetlr_sim::Scenario)>),
}

/// The configuration as the daemon checks and runs it.
pub trait DaemonConfig {
    /// Every problem (see [`Config::check_with`]), referenced files looked at with
    /// `DaemonReferences`; `serve` refuses to start on any, `validate --config` lists them.
    fn check(&self) -> Vec<String>;
    /// The alert webhooks and rules as the server runs them; only meaningful when
    /// [`DaemonConfig::check`] found no problem.
    fn hook_setup(&self) -> HookSetup;
    /// The schedules as the store keeps them.
    fn schedule_defs(&self) -> Vec<ScheduleDef>;
}

impl DaemonConfig for Config {
    fn check(&self) -> Vec<String> {
        self.check_with(&DaemonReferences)
    }

    fn hook_setup(&self) -> HookSetup {
        let webhooks = self.webhooks(&DaemonReferences).0;
        let hooks = webhooks
            .hooks
            .into_iter()
            .map(|spec| Hook {
                name: spec.name,
                credential: server_credential(spec.credential),
                mapping: spec.mapping,
            })
            .collect();
        HookSetup::new(hooks, webhooks.rules)
    }

    fn schedule_defs(&self) -> Vec<ScheduleDef> {
        self.schedules.iter().map(schedule_def).collect()
    }
}

fn server_credential(credential: HookCredential) -> fleetlr_server::hooks::Credential {
    match credential {
        HookCredential::Hmac {
            secret,
            signature_header,
            timestamp_header,
            max_skew,
        } => {
            let mut hmac = HmacCredential::new(secret);
            if let Some(header) = signature_header {
                hmac.signature_header = header;
            }
            if let Some(header) = timestamp_header {
                hmac.timestamp_header = header;
            }
            if let Some(skew) = max_skew {
                hmac.max_skew = skew;
            }
            fleetlr_server::hooks::Credential::Hmac(hmac)
        }
        HookCredential::Bearer(secret) => fleetlr_server::hooks::Credential::Bearer(secret),
    }
}

fn schedule_def(file: &ScheduleFile) -> ScheduleDef {
    let parameters: BTreeMap<String, String> = file
        .parameters
        .iter()
        .map(|(name, value)| (name.clone(), fleetlr_engine::parameter_text(value.clone())))
        .collect();
    ScheduleDef {
        name: file.name.clone(),
        cron: file.cron.clone(),
        timezone: file.timezone.clone(),
        playbook: file.playbook.clone(),
        tenant: file.tenant.clone(),
        targets: serde_json::to_value(&file.targets).unwrap_or_default(),
        parameters: serde_json::to_value(parameters).unwrap_or_default(),
        priority: file.priority.map(|p| match p {
            PriorityFile::Response => Priority::Response,
            PriorityFile::Collection => Priority::Collection,
        }),
        missed: match file.missed {
            MissedFile::RunOnce => MissedPolicy::RunOnce,
            MissedFile::Skip => MissedPolicy::Skip,
        },
        overlap: match file.overlap {
            OverlapFile::Skip => OverlapPolicy::Skip,
            OverlapFile::Queue => OverlapPolicy::Queue,
        },
    }
}

/// The checks of referenced things that need the daemon's crates.
struct DaemonReferences;

impl ReferenceChecks for DaemonReferences {
    fn scenario(&self, path: &Path) -> Result<(), String> {
        fleetlr_sim::load_scenario(path)
            .map(drop)
            .map_err(|err| format!("{err:#}"))
    }

    fn timing(&self, cron: &str, timezone: &str) -> Result<(), String> {
        fleetlr_engine::schedules::Timing::parse(cron, timezone).map(drop)
    }

    fn playbook(
        &self,
        dir: &Path,
        max_file_bytes: u64,
        name: &str,
    ) -> Result<fleetlr_playbook::Playbook, String> {
        let playbooks = fleetlr_engine::PlaybookDir::new(dir.to_path_buf(), max_file_bytes);
        let file = match playbooks.read(name) {
            Ok(Some(file)) => file,
            Ok(None) => {
                let known = playbooks.names().unwrap_or_default().join(", ");
                return Err(format!(
                    "`playbook` `{name}` is not in {} (playbooks there: {known})",
                    dir.display()
                ));
            }
            Err(err) => return Err(format!("`playbook` `{name}`: reading it failed: {err}")),
        };
        let catalogue = playbooks.catalogue().map_err(|err| {
            format!("`playbook` `{name}`: reading its library files failed: {err}")
        })?;
        fleetlr_playbook::load(&file.name, &file.text, &catalogue)
            .map(|compiled| compiled.playbook)
            .map_err(|_| {
                format!(
                    "`playbook` `{name}` is invalid: `fleetlr validate {}` lists its problems",
                    dir.display()
                )
            })
    }
}

/// A tenant as the daemon reaches it.
pub trait DaemonTenant {
    /// How to reach this tenant: a client configuration (the certificate and CA files read),
    /// or a simulator to start, its scenario read and its limits those of the tenant.
    fn kind(&self) -> anyhow::Result<TenantKind>;
}

impl DaemonTenant for Tenant {
    fn kind(&self) -> anyhow::Result<TenantKind> {
        match &self.file().simulated {
            Some(simulated) => {
                let simulator = simulator(self, simulated)?;
                Ok(TenantKind::Simulated(Box::new(simulator)))
            }
            None => Ok(TenantKind::Real(client_config(self)?)),
        }
    }
}

fn simulator(
    tenant: &Tenant,
    simulated: &SimulatedFile,
) -> anyhow::Result<(fleetlr_sim::SimArgs, fleetlr_sim::Scenario)> {
    let limits = tenant.limits();
    let mut args = fleetlr_sim::SimArgs::default();
    args.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    args.devices = simulated.devices.unwrap_or(args.devices);
    args.seed = simulated.seed.unwrap_or(args.seed);
    args.speedup = simulated.speedup.unwrap_or(1.0);
    // The simulated service enforces exactly the limits this tenant is configured for.
    args.rate_limit_per_minute = limits.live_response_calls.get();
    args.max_sessions = limits.max_sessions;
    args.api_limit_per_minute = limits.api_calls_per_minute;
    args.api_limit_per_hour = limits.api_calls_per_hour;
    args.library_max_bytes = tenant.max_library_file_bytes();
    args.tls_dir = tenant.data_dir().join("sim-tls").join(&tenant.name);
    let scenario = match &simulated.scenario {
        Some(path) => {
            let path = tenant.resolve(path);
            let scenario = fleetlr_sim::load_scenario(&path)
                .with_context(|| format!("tenant `{}`: `simulated.scenario`", tenant.name))?;
            args.scenario = Some(path);
            scenario
        }
        None => fleetlr_sim::Scenario::default(),
    };
    Ok((args, scenario))
}

fn client_config(tenant: &Tenant) -> anyhow::Result<ClientConfig> {
    let raw = tenant.file();
    let read = |key: &str, path: &Path| {
        let path = tenant.resolve(path);
        std::fs::read(&path).with_context(|| {
            format!(
                "tenant `{}`: reading `{key}` {}",
                tenant.name,
                path.display()
            )
        })
    };
    let credential = match (&raw.client_secret, &raw.certificate) {
        (Some(secret), None) => Credential::ClientSecret(secret.clone()),
        (None, Some(certificate)) => Credential::Certificate {
            pkcs12: secrecy::SecretBox::new(Box::new(read("certificate.path", &certificate.path)?)),
            password: certificate.password.clone(),
        },
        _ => anyhow::bail!(
            "tenant `{}`: give exactly one of `client_secret` and `certificate`",
            tenant.name
        ),
    };
    let (Some(tenant_id), Some(client_id)) = (&raw.tenant_id, &raw.client_id) else {
        anyhow::bail!(
            "tenant `{}`: give `tenant_id` and `client_id`, or `simulated:`",
            tenant.name
        );
    };
    let cloud = raw.cloud.clone().map(|c| c.0).unwrap_or_default();
    let mut config = ClientConfig::new(cloud, tenant_id, client_id, credential);
    if let Some(ca_file) = &raw.ca_file {
        let pem = String::from_utf8(read("ca_file", ca_file)?)
            .with_context(|| format!("tenant `{}`: `ca_file` is not PEM text", tenant.name))?;
        config.extra_ca_pem = Some(pem);
    }
    Ok(config)
}
