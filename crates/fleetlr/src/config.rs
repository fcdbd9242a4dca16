//! The daemon's configuration file (`fleetlr serve --config FILE`): YAML with unknown keys
//! refused, `${VAR}` replaced from the environment before parsing (for secrets), relative paths
//! taken from the config file's directory, and every semantic problem reported together.
//! Secrets are held in `secrecy` types and never printed.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;
use serde::Deserialize;

/// The configuration, paths resolved.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub playbooks_dir: PathBuf,
    pub shutdown_grace: Duration,
    max_library_file_bytes: u64,
    pub tenants: Vec<Tenant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default = "default_playbooks_dir")]
    playbooks_dir: PathBuf,
    #[serde(default)]
    shutdown_grace: Option<String>,
    #[serde(default)]
    max_library_file_bytes: Option<u64>,
    tenants: Vec<RawTenant>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_data_dir() -> PathBuf {
    "data".into()
}

fn default_playbooks_dir() -> PathBuf {
    "playbooks".into()
}

/// One tenant: a real one (credentials) or a simulated one (`simulated:`).
#[derive(Debug)]
pub struct Tenant {
    pub name: String,
    raw: RawTenant,
    base: PathBuf,
    data_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    name: String,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<SecretString>,
    #[serde(default)]
    certificate: Option<CertificateFile>,
    #[serde(default)]
    cloud: Option<CloudSpec>,
    /// A PEM CA to trust besides the system's (a private simulator or proxy).
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    simulated: Option<Simulated>,
    #[serde(default)]
    limits: RawLimits,
}

/// `public`, `public_legacy`, `us_gcc`, `us_gcc_high`, `{regional: eu}` or
/// `{custom: {api_base: …, authority_host: …}}`, written as plain YAML (no `!tags`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CloudSpec {
    Named(String),
    Regional { regional: fleetlr_defender::Region },
    Custom { custom: CustomCloud },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomCloud {
    api_base: String,
    authority_host: String,
}

impl CloudSpec {
    fn cloud(&self) -> anyhow::Result<fleetlr_defender::Cloud> {
        use fleetlr_defender::Cloud;
        Ok(match self {
            Self::Named(name) => match name.as_str() {
                "public" => Cloud::Public,
                "public_legacy" => Cloud::PublicLegacy,
                "us_gcc" => Cloud::UsGcc,
                "us_gcc_high" => Cloud::UsGccHigh,
                other => bail!(
                    "cloud `{other}` is not public, public_legacy, us_gcc, us_gcc_high, {{regional: …}} or {{custom: …}}"
                ),
            },
            Self::Regional { regional } => Cloud::Regional(*regional),
            Self::Custom { custom } => Cloud::Custom {
                api_base: custom.api_base.clone(),
                authority_host: custom.authority_host.clone(),
            },
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateFile {
    /// A PKCS#12 bundle (`.pfx`) with the certificate and its key.
    path: PathBuf,
    #[serde(default)]
    password: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Simulated {
    #[serde(default)]
    devices: Option<usize>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    speedup: Option<f64>,
    #[serde(default)]
    scenario: Option<PathBuf>,
}

/// Every key optional; the engine's defaults are the documented platform limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    live_response_calls_per_minute: Option<u32>,
    pacing_margin: Option<f64>,
    max_sessions: Option<u32>,
    sessions_kept_for_portal: Option<u32>,
    sessions_reserved_for_response: Option<u32>,
    api_calls_per_minute: Option<u32>,
    api_calls_per_hour: Option<u32>,
    poll_interval: Option<String>,
    offline_after: Option<String>,
    offline_recheck: Option<String>,
    offline_recheck_max: Option<String>,
    busy_retry: Option<String>,
    reconcile_settle: Option<String>,
    time_scale: Option<f64>,
}

/// How to reach a tenant.
pub enum TenantKind {
    Real(fleetlr_defender::ClientConfig),
    Simulated(Box<(fleetlr_sim::SimArgs, fleetlr_sim::Scenario)>),
}

/// Reads, interpolates and parses a configuration file.
pub fn load(path: &Path) -> anyhow::Result<Config> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the configuration {origin}"))?;
    let text = interpolate(&origin, &text, |name| std::env::var(name).ok())?;
    let raw: RawConfig = fleetlr_playbook::yaml::from_str(&origin, &text)?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let shutdown_grace = match &raw.shutdown_grace {
        Some(text) => duration(&origin, "shutdown_grace", text)?,
        None => crate::serve::DEFAULT_GRACE,
    };
    let data_dir = base.join(&raw.data_dir);
    Ok(Config {
        listen: raw.listen,
        playbooks_dir: base.join(&raw.playbooks_dir),
        shutdown_grace,
        max_library_file_bytes: raw
            .max_library_file_bytes
            .unwrap_or(fleetlr_playbook::Catalogue::DEFAULT_MAX_FILE_BYTES),
        tenants: raw
            .tenants
            .into_iter()
            .map(|raw| Tenant {
                name: raw.name.clone(),
                raw,
                base: base.clone(),
                data_dir: data_dir.clone(),
            })
            .collect(),
        data_dir,
    })
}

/// Replaces `${NAME}` with the variable's value; `$${` stands for a literal `${`. An unset
/// variable is an error naming it and its line. Comment lines are left alone.
fn interpolate(
    origin: &str,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    for (number, line) in text.split_inclusive('\n').enumerate() {
        // Comment lines stay as written: a commented-out example needs no variable set.
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            if rest[..start].ends_with('$') {
                out.push_str(&rest[..start - 1]);
                out.push_str("${");
                rest = &rest[start + 2..];
                continue;
            }
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                bail!("{origin}:{}: `${{` without a closing `}}`", number + 1);
            };
            let name = &rest[start + 2..start + end];
            let value = lookup(name).with_context(|| {
                format!(
                    "{origin}:{}: environment variable `{name}` is not set; set it, or write `$${{` for a literal `${{`",
                    number + 1
                )
            })?;
            out.push_str(&value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

fn duration(origin: &str, key: &str, text: &str) -> anyhow::Result<Duration> {
    fleetlr_playbook::parse_duration(text).with_context(|| {
        format!("{origin}: `{key}: {text}` is not a duration; write e.g. 90s, 10m, 1h30m or 3d")
    })
}

impl Config {
    pub fn max_library_file_bytes(&self) -> u64 {
        self.max_library_file_bytes
    }

    /// Every semantic problem, for `serve` to refuse to start and `validate` to report.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.tenants.is_empty() {
            problems.push("`tenants` is empty: configure at least one tenant".to_owned());
        }
        for (i, tenant) in self.tenants.iter().enumerate() {
            if self.tenants[..i].iter().any(|t| t.name == tenant.name) {
                problems.push(format!("tenant `{}` is configured twice", tenant.name));
            }
            if let Some(Err(err)) = tenant.raw.cloud.as_ref().map(CloudSpec::cloud) {
                problems.push(format!("tenant `{}`: {err:#}", tenant.name));
            }
            if let Err(err) = tenant.limits_checked() {
                problems.push(format!("tenant `{}`: {err:#}", tenant.name));
            }
            let raw = &tenant.raw;
            let credentials = [raw.client_secret.is_some(), raw.certificate.is_some()]
                .iter()
                .filter(|c| **c)
                .count();
            match &raw.simulated {
                Some(_) if raw.tenant_id.is_some() || credentials > 0 || raw.cloud.is_some() => {
                    problems.push(format!(
                        "tenant `{}`: a simulated tenant takes no tenant_id, credentials or cloud",
                        tenant.name
                    ))
                }
                Some(_) => {}
                None => {
                    if raw.tenant_id.is_none() || raw.client_id.is_none() {
                        problems.push(format!(
                            "tenant `{}`: give `tenant_id` and `client_id` (or `simulated:`)",
                            tenant.name
                        ));
                    }
                    if credentials != 1 {
                        problems.push(format!(
                            "tenant `{}`: give exactly one of `client_secret` and `certificate`",
                            tenant.name
                        ));
                    }
                }
            }
        }
        problems
    }
}

impl Tenant {
    fn resolve(&self, path: &Path) -> PathBuf {
        self.base.join(path)
    }

    /// The tenant's limits, defaults filled in (see `check` for invalid values).
    pub fn limits(&self) -> fleetlr_engine::Limits {
        self.limits_checked().unwrap_or_default()
    }

    fn limits_checked(&self) -> anyhow::Result<fleetlr_engine::Limits> {
        let raw = &self.raw.limits;
        let defaults = fleetlr_engine::Limits::default();
        let period = |key: &str, value: &Option<String>, default: Duration| match value {
            Some(text) => duration("limits", key, text),
            None => Ok(default),
        };
        let calls = match raw.live_response_calls_per_minute {
            Some(n) => {
                NonZeroU32::new(n).context("`live_response_calls_per_minute` must be at least 1")?
            }
            None => defaults.live_response_calls,
        };
        let speedup = self.raw.simulated.as_ref().and_then(|s| s.speedup);
        let limits = fleetlr_engine::Limits {
            live_response_calls: calls,
            live_response_window: defaults.live_response_window,
            pacing_margin: raw.pacing_margin.unwrap_or(defaults.pacing_margin),
            max_sessions: raw.max_sessions.unwrap_or(defaults.max_sessions),
            sessions_kept_for_portal: raw
                .sessions_kept_for_portal
                .unwrap_or(defaults.sessions_kept_for_portal),
            sessions_reserved_for_response: raw
                .sessions_reserved_for_response
                .unwrap_or(defaults.sessions_reserved_for_response),
            api_calls_per_minute: raw
                .api_calls_per_minute
                .unwrap_or(defaults.api_calls_per_minute),
            api_calls_per_hour: raw
                .api_calls_per_hour
                .unwrap_or(defaults.api_calls_per_hour),
            poll_interval: period("poll_interval", &raw.poll_interval, defaults.poll_interval)?,
            offline_after: period("offline_after", &raw.offline_after, defaults.offline_after)?,
            offline_recheck: period(
                "offline_recheck",
                &raw.offline_recheck,
                defaults.offline_recheck,
            )?,
            offline_recheck_max: period(
                "offline_recheck_max",
                &raw.offline_recheck_max,
                defaults.offline_recheck_max,
            )?,
            busy_retry: period("busy_retry", &raw.busy_retry, defaults.busy_retry)?,
            reconcile_settle: period(
                "reconcile_settle",
                &raw.reconcile_settle,
                defaults.reconcile_settle,
            )?,
            // A simulated tenant runs at its speed-up unless told otherwise.
            time_scale: raw.time_scale.or(speedup).unwrap_or(1.0),
        };
        if limits.max_sessions <= limits.sessions_kept_for_portal {
            bail!("`sessions_kept_for_portal` leaves no session of `max_sessions` for fleetlr");
        }
        if !(limits.time_scale >= 1.0 && limits.time_scale.is_finite()) {
            bail!("`time_scale` must be a number of at least 1");
        }
        if !(0.0..=1.0).contains(&limits.pacing_margin) {
            bail!("`pacing_margin` must be between 0 and 1 (0.05 is 5%)");
        }
        if limits.api_calls_per_minute == 0 || limits.api_calls_per_hour == 0 {
            bail!("the API call budgets must be at least 1");
        }
        Ok(limits)
    }

    /// How to reach this tenant: a client configuration, or a simulator to start.
    pub fn kind(&self) -> anyhow::Result<TenantKind> {
        let raw = &self.raw;
        if let Some(simulated) = &raw.simulated {
            let limits = self.limits();
            let mut args = fleetlr_sim::SimArgs::default();
            args.devices = simulated.devices.unwrap_or(args.devices);
            args.seed = simulated.seed.unwrap_or(args.seed);
            args.speedup = simulated.speedup.unwrap_or(1.0);
            // The simulated service enforces the limits this tenant is configured for.
            args.rate_limit_per_minute = limits.live_response_calls.get();
            args.max_sessions = limits.max_sessions;
            args.tls_dir = self.data_dir.join("sim-tls").join(&self.name);
            let scenario = match &simulated.scenario {
                Some(path) => {
                    let path = self.resolve(path);
                    args.scenario = Some(path.clone());
                    fleetlr_sim::load_scenario(&path)?
                }
                None => fleetlr_sim::Scenario::default(),
            };
            return Ok(TenantKind::Simulated(Box::new((args, scenario))));
        }
        let credential = match (&raw.client_secret, &raw.certificate) {
            (Some(secret), None) => fleetlr_defender::Credential::ClientSecret(secret.clone()),
            (None, Some(certificate)) => {
                let path = self.resolve(&certificate.path);
                let pkcs12 = std::fs::read(&path).with_context(|| {
                    format!("tenant `{}`: reading {}", self.name, path.display())
                })?;
                fleetlr_defender::Credential::Certificate {
                    pkcs12: secrecy::SecretBox::new(Box::new(pkcs12)),
                    password: certificate.password.clone(),
                }
            }
            _ => bail!(
                "tenant `{}`: give exactly one of `client_secret` and `certificate`",
                self.name
            ),
        };
        let extra_ca_pem = match &raw.ca_file {
            Some(path) => {
                let path = self.resolve(path);
                Some(std::fs::read_to_string(&path).with_context(|| {
                    format!("tenant `{}`: reading {}", self.name, path.display())
                })?)
            }
            None => None,
        };
        Ok(TenantKind::Real(fleetlr_defender::ClientConfig {
            cloud: match &raw.cloud {
                Some(spec) => spec
                    .cloud()
                    .with_context(|| format!("tenant `{}`", self.name))?,
                None => fleetlr_defender::Cloud::default(),
            },
            tenant_id: raw.tenant_id.clone().unwrap_or_default(),
            client_id: raw.client_id.clone().unwrap_or_default(),
            credential,
            scope: fleetlr_defender::DEFAULT_SCOPE.to_owned(),
            extra_ca_pem,
            timeout: fleetlr_defender::DEFAULT_TIMEOUT,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "SECRET").then(|| "s3cr3t".to_owned())
    }

    #[test]
    fn variables_are_replaced_and_dollar_dollar_escapes() {
        let text = interpolate(
            "c.yaml",
            "a: ${SECRET}\nb: $${SECRET}\n  # c: ${UNSET}\n",
            env,
        )
        .expect("interpolates");
        assert_eq!(text, "a: s3cr3t\nb: ${SECRET}\n  # c: ${UNSET}\n");
    }

    #[test]
    fn an_unset_variable_is_named_with_its_line() {
        let err = interpolate("c.yaml", "a: 1\nb: ${NOPE}\n", env).expect_err("unset");
        assert_eq!(
            err.to_string(),
            "c.yaml:2: environment variable `NOPE` is not set; set it, or write `$${` for a literal `${`"
        );
    }

    fn load_text(text: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fleetlr.yaml");
        std::fs::write(&path, text).expect("written");
        load(&path)
    }

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        let err = load_text("tenants: []\nlisten_addr: 1\n").expect_err("unknown key");
        let message = format!("{err:#}");
        assert!(message.contains("fleetlr.yaml:2:"), "{message}");
        assert!(message.contains("listen_addr"), "{message}");
    }

    #[test]
    fn semantic_problems_are_reported_together() {
        let config = load_text(
            "tenants:\n  - {name: a, tenant_id: t, client_id: c}\n  - {name: a, simulated: {}, limits: {max_sessions: 2, sessions_kept_for_portal: 2}}\n",
        )
        .expect("parses");
        let problems = config.check();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("exactly one of `client_secret` and `certificate`"));
    }

    #[test]
    fn a_simulated_tenant_runs_at_its_speedup_and_enforces_its_limits() {
        let config = load_text(
            "tenants:\n  - name: lab\n    simulated: {devices: 3, speedup: 60}\n    limits: {max_sessions: 50}\n",
        )
        .expect("parses");
        assert!(config.check().is_empty());
        let tenant = &config.tenants[0];
        assert_eq!(tenant.limits().time_scale, 60.0);
        match tenant.kind().expect("kind") {
            TenantKind::Simulated(sim) => {
                let (args, _) = *sim;
                assert_eq!(
                    (args.devices, args.max_sessions, args.speedup),
                    (3, 50, 60.0)
                );
            }
            TenantKind::Real(_) => panic!("expected a simulated tenant"),
        }
    }

    #[test]
    fn clouds_are_plain_yaml() {
        let config = load_text(
            "tenants:\n  - {name: a, tenant_id: t, client_id: c, client_secret: s, cloud: {regional: eu}}\n  - {name: b, tenant_id: t, client_id: c, client_secret: s, cloud: {custom: {api_base: 'https://x', authority_host: 'https://y'}}}\n  - {name: c, tenant_id: t, client_id: c, client_secret: s, cloud: mars}\n",
        )
        .expect("parses");
        assert_eq!(config.check().len(), 1, "{:?}", config.check());
        assert!(config.check()[0].contains("cloud `mars`"));
        match config.tenants[1].kind().expect("kind") {
            TenantKind::Real(client) => assert_eq!(client.cloud.api_base(), "https://x"),
            TenantKind::Simulated(..) => panic!("expected a real tenant"),
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = load_text(
            "tenants:\n  - {name: prod, tenant_id: t, client_id: c, client_secret: hunter2-very-secret}\n",
        )
        .expect("parses");
        assert!(config.check().is_empty());
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn the_shipped_configurations_load_and_check() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        for file in ["dev.yaml", "fleetlr.yaml"] {
            // The reference uses variables for its secrets; any value will do here.
            let path = root.join(file);
            let text = std::fs::read_to_string(&path).expect("shipped config");
            let text = interpolate(file, &text, |_| Some("x".into())).expect("interpolates");
            let raw: Result<RawConfig, _> = fleetlr_playbook::yaml::from_str(file, &text);
            assert!(raw.is_ok(), "{file}: {:?}", raw.err());
        }
        let dev = load(&root.join("dev.yaml")).expect("dev config");
        assert!(dev.check().is_empty(), "{:?}", dev.check());
        assert!(dev.playbooks_dir.join("collect-file.yaml").is_file());
        assert!(matches!(
            dev.tenants[0].kind().expect("kind"),
            TenantKind::Simulated(..)
        ));
    }
}
