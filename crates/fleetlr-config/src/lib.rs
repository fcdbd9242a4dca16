//! The daemon's configuration file (`fleetlr serve --config FILE`, documented key by key in
//! `config/fleetlr.yaml`) as a model: `${VAR}` replaced from the environment (`interpolate`),
//! then YAML with unknown keys refused and typed values (`values`) checked where they are
//! written (`file:line:column`), relative paths taken from the config file's directory, and
//! every semantic problem reported together by [`Config::check_with`]. Alert webhooks and
//! their rules are in `hooks`, cron schedules in `schedules`, a tenant's limits in `limits`.
//! Secrets are held in `secrecy` types and never printed.
//!
//! It must never depend on the daemon's heavy crates (storage, engine, server, Defender
//! client, simulator), so the loader builds and is fuzzed alone: what a check needs from them
//! (a scenario file read, a cron timing, a playbook compiled) is asked through
//! [`ReferenceChecks`], and turning the model into their types is the `fleetlr` binary's job.

mod hooks;
mod interpolate;
mod limits;
mod schedules;
mod values;

use std::env::VarError;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fleetlr_defender_models::Cloud;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use hooks::{HookCredential, HookSpec, Webhooks};
pub use interpolate::InterpolateError;
pub use limits::Limits;
pub use schedules::{MissedFile, OverlapFile, PriorityFile, ScheduleFile, TargetsFile};
pub use values::CloudSetting;

use values::Period;

/// How long shutdown waits when the configuration does not say (`shutdown_grace`).
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A configuration that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading the configuration {origin}")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Interpolate(#[from] InterpolateError),
    #[error(transparent)]
    Yaml(#[from] fleetlr_playbook::yaml::YamlError),
}

/// What checking needs from crates this one must not depend on, answered by the daemon (the
/// simulator's scenario loader, the engine's cron timing and playbook directory). Each answer
/// is `Err` with the problem, said the way [`Config::check_with`] reports it.
pub trait ReferenceChecks {
    /// Whether the simulator can use the scenario file at `path` (a file that exists).
    fn scenario(&self, path: &Path) -> Result<(), String>;
    /// Whether `cron` read in `timezone` says when a schedule fires.
    fn timing(&self, cron: &str, timezone: &str) -> Result<(), String>;
    /// The playbook `name` of the directory `dir` (library files up to `max_file_bytes`),
    /// compiled; the problem names `playbook` and says what to do.
    fn playbook(
        &self,
        dir: &Path,
        max_file_bytes: u64,
        name: &str,
    ) -> Result<fleetlr_playbook::Playbook, String>;
}

/// The configuration, relative paths resolved against the config file's directory.
#[derive(Debug)]
pub struct Config {
    /// Where the REST API listens.
    pub listen: SocketAddr,
    /// `fleetlr.db`, `artifacts/`, `admin.token` and `sim-tls/` live here.
    pub data_dir: PathBuf,
    /// Named playbooks (`<name>.yaml`) with their library files in `scripts/`.
    pub playbooks_dir: PathBuf,
    /// How long result downloads may finish after SIGTERM.
    pub shutdown_grace: Duration,
    max_library_file_bytes: u64,
    pub tenants: Vec<Tenant>,
    hooks: Vec<hooks::HookFile>,
    hook_lines: Vec<Option<usize>>,
    rules: Vec<hooks::RuleFile>,
    rule_lines: Vec<Option<usize>>,
    /// Playbooks run on cron expressions (`schedules:`).
    pub schedules: Vec<ScheduleFile>,
    /// How long ended runs are kept (`retention:`); forever when absent.
    pub retention: Option<Retention>,
}

/// `retention:` ended runs (records and collected files) older than `keep_runs_for` are
/// removed every `prune_every` by the daemon, or by `fleetlr prune`.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub keep_runs_for: Duration,
    pub prune_every: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    keep_runs_for: Period,
    #[serde(default)]
    prune_every: Option<Period>,
}

/// One tenant as configured: a real one (Entra ID app credentials) or a simulated one.
#[derive(Debug)]
pub struct Tenant {
    /// How runs, the CLI and the API name the tenant.
    pub name: String,
    raw: TenantFile,
    /// Line of the tenant's entry in the file, for messages, when it could be told.
    line: Option<usize>,
    /// The config file's directory, which relative paths start from.
    base: PathBuf,
    data_dir: PathBuf,
    max_library_file_bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default = "default_listen", deserialize_with = "values::socket_addr")]
    listen: SocketAddr,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default = "default_playbooks_dir")]
    playbooks_dir: PathBuf,
    #[serde(default)]
    shutdown_grace: Option<Period>,
    #[serde(default)]
    max_library_file_bytes: Option<u64>,
    #[serde(default)]
    tenants: Vec<TenantFile>,
    #[serde(default)]
    hooks: Vec<hooks::HookFile>,
    #[serde(default)]
    rules: Vec<hooks::RuleFile>,
    #[serde(default)]
    schedules: Vec<ScheduleFile>,
    #[serde(default)]
    retention: Option<RetentionFile>,
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

/// A tenant's entry as written: a real one (Entra ID app credentials) or `simulated`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    pub name: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    #[serde(default)]
    pub certificate: Option<CertificateFile>,
    #[serde(default)]
    pub cloud: Option<CloudSetting>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub simulated: Option<SimulatedFile>,
    #[serde(default)]
    pub limits: LimitsFile,
}

/// `certificate:` the app's credential as a certificate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFile {
    /// A PKCS#12 bundle (`.pfx`) with the certificate and its private key.
    pub path: PathBuf,
    #[serde(default)]
    pub password: Option<SecretString>,
}

/// `simulated:` a simulator the daemon starts in-process for this tenant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedFile {
    #[serde(default)]
    pub devices: Option<usize>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub speedup: Option<f64>,
    #[serde(default)]
    pub scenario: Option<PathBuf>,
}

/// Every key optional: the engine's defaults are the documented platform limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    live_response_calls_per_minute: Option<u32>,
    pacing_margin: Option<f64>,
    response_call_within: Option<Period>,
    max_sessions: Option<u32>,
    sessions_kept_for_portal: Option<u32>,
    sessions_reserved_for_response: Option<u32>,
    api_calls_per_minute: Option<u32>,
    api_calls_per_hour: Option<u32>,
    poll_interval: Option<Period>,
    offline_after: Option<Period>,
    offline_after_min: Option<Period>,
    offline_recheck: Option<Period>,
    offline_rechecks_at_base: Option<u32>,
    offline_recheck_max: Option<Period>,
    inactive_recheck: Option<Period>,
    busy_retry: Option<Period>,
    reconcile_settle: Option<Period>,
    time_scale: Option<f64>,
}

/// Reads a configuration file: `${VAR}` replaced from the environment, the YAML parsed, paths
/// resolved against the file's directory. Semantic problems are left to [`Config::check_with`].
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        origin: origin.clone(),
        source,
    })?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parse(&origin, &text, base, |name| std::env::var(name))
}

/// [`load`] on text already read; `base` is the directory relative paths start from and `env`
/// looks up `${VAR}`s.
pub fn parse(
    origin: &str,
    text: &str,
    base: &Path,
    env: impl Fn(&str) -> Result<String, VarError>,
) -> Result<Config, ConfigError> {
    let text = interpolate::interpolate(origin, text, env)?;
    let file: ConfigFile = fleetlr_playbook::yaml::from_str(origin, &text)?;
    let lines = entry_lines(&text, "tenants", file.tenants.len());
    let hook_lines = entry_lines(&text, "hooks", file.hooks.len());
    let rule_lines = entry_lines(&text, "rules", file.rules.len());
    let data_dir = base.join(&file.data_dir);
    let max_library_file_bytes = file
        .max_library_file_bytes
        .unwrap_or(fleetlr_playbook::Catalogue::DEFAULT_MAX_FILE_BYTES);
    let tenants = file
        .tenants
        .into_iter()
        .zip(lines)
        .map(|(raw, line)| Tenant {
            name: raw.name.clone(),
            raw,
            line,
            base: base.to_path_buf(),
            data_dir: data_dir.clone(),
            max_library_file_bytes,
        })
        .collect();
    Ok(Config {
        listen: file.listen,
        playbooks_dir: base.join(&file.playbooks_dir),
        data_dir,
        shutdown_grace: file.shutdown_grace.map_or(DEFAULT_SHUTDOWN_GRACE, |p| p.0),
        max_library_file_bytes,
        tenants,
        hooks: file.hooks,
        hook_lines,
        rules: file.rules,
        rule_lines,
        schedules: file.schedules,
        retention: file.retention.map(|r| Retention {
            keep_runs_for: r.keep_runs_for.0,
            prune_every: r.prune_every.map_or(Duration::from_secs(86_400), |p| p.0),
        }),
    })
}

/// The line of each entry of the top-level block sequence `key:` (`tenants`, `hooks`, `rules`),
/// so that problems found after parsing can say where the entry is. All `None` when the entries
/// cannot be told apart that simply (a flow sequence, say) and the count does not match what
/// was parsed.
fn entry_lines(text: &str, key: &str, count: usize) -> Vec<Option<usize>> {
    let mut lines = text.lines().enumerate().map(|(i, line)| (i + 1, line));
    let prefix = format!("{key}:");
    let is_key = |line: &str| {
        line.strip_prefix(prefix.as_str())
            .is_some_and(|rest| rest.trim().is_empty() || rest.trim_start().starts_with('#'))
    };
    let mut found = Vec::new();
    if lines.by_ref().any(|(_, line)| is_key(line)) {
        let mut item_indent = None;
        for (number, line) in lines {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            let is_item = trimmed == "-" || trimmed.starts_with("- ");
            match item_indent {
                None if is_item => {
                    item_indent = Some(indent);
                    found.push(number);
                }
                Some(items) if indent == items && is_item => found.push(number),
                Some(items) if indent > items => {}
                _ => break,
            }
        }
    }
    if found.len() == count {
        found.into_iter().map(Some).collect()
    } else {
        vec![None; count]
    }
}

impl Config {
    /// Largest library file a playbook may use, in bytes.
    pub fn max_library_file_bytes(&self) -> u64 {
        self.max_library_file_bytes
    }

    /// Every semantic problem, each naming the tenant (and its line) and the key, and saying
    /// what to do; `serve` refuses to start on any, `validate --config` lists them. Files the
    /// configuration refers to are looked at too (scenarios and playbooks through `refs`).
    pub fn check_with(&self, refs: &impl ReferenceChecks) -> Vec<String> {
        let mut problems = Vec::new();
        if self.tenants.is_empty() {
            problems.push(
                "no tenant is configured: give at least one under `tenants:` (see config/fleetlr.yaml)"
                    .to_owned(),
            );
        }
        if self.max_library_file_bytes == 0 {
            problems.push(
                "`max_library_file_bytes` is 0: give the largest library file size in bytes (the API documents 20000000)"
                    .to_owned(),
            );
        }
        if !self.playbooks_dir.is_dir() {
            problems.push(format!(
                "`playbooks_dir` {} is not a directory: create it, or point `playbooks_dir` at the playbooks (relative to the configuration file's directory)",
                self.playbooks_dir.display()
            ));
        }
        if self.data_dir.exists() && !self.data_dir.is_dir() {
            problems.push(format!(
                "`data_dir` {} is not a directory: point `data_dir` at a directory (it is created when missing)",
                self.data_dir.display()
            ));
        }
        if let Some(retention) = &self.retention {
            for (key, value) in [
                ("keep_runs_for", retention.keep_runs_for),
                ("prune_every", retention.prune_every),
            ] {
                if value.is_zero() {
                    problems.push(format!(
                        "`retention.{key}` is 0s: give a period longer than zero (e.g. 90d, 1d), or leave `retention` out to keep every run"
                    ));
                }
            }
        }
        let tenant_names: Vec<&str> = self.tenants.iter().map(|t| t.name.as_str()).collect();
        problems.extend(schedules::problems(
            &self.schedules,
            &tenant_names,
            &self.playbooks_dir,
            refs,
        ));
        for (i, tenant) in self.tenants.iter().enumerate() {
            let mut tenant_problems = tenant.problems(refs);
            if let Some(first) = self.tenants[..i].iter().find(|t| t.name == tenant.name) {
                let at = first
                    .line
                    .map_or_else(String::new, |l| format!(" (line {l})"));
                tenant_problems.insert(
                    0,
                    format!("the name is already used by an earlier tenant{at}: give each tenant its own `name`"),
                );
            }
            problems.extend(
                tenant_problems
                    .into_iter()
                    .map(|problem| match tenant.line {
                        Some(line) => format!("line {line}: tenant `{}`: {problem}", tenant.name),
                        None => format!("tenant `{}`: {problem}", tenant.name),
                    }),
            );
        }
        problems.extend(self.webhooks(refs).1);
        problems
    }

    /// The alert webhooks and rules, and the problems found building them (part of
    /// [`Config::check_with`]'s); the webhooks are only meaningful without problems.
    pub fn webhooks(&self, refs: &impl ReferenceChecks) -> (Webhooks, Vec<String>) {
        let hooks: Vec<hooks::Entry<'_, hooks::HookFile>> = self
            .hooks
            .iter()
            .zip(self.hook_lines.iter().copied())
            .map(|(raw, line)| hooks::Entry { raw, line })
            .collect();
        let rules: Vec<hooks::Entry<'_, hooks::RuleFile>> = self
            .rules
            .iter()
            .zip(self.rule_lines.iter().copied())
            .map(|(raw, line)| hooks::Entry { raw, line })
            .collect();
        let context = hooks::Context {
            tenants: self.tenants.iter().map(|t| t.name.as_str()).collect(),
            playbooks_dir: &self.playbooks_dir,
            max_library_file_bytes: self.max_library_file_bytes,
        };
        hooks::build(&hooks, &rules, &context, refs)
    }
}

/// `a`, `a and b`, `a, b and c` (or `or`).
fn list(items: &[&str], last: &str) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., tail] => format!("{} {last} {tail}", init.join(", ")),
    }
}

/// Whether `name` can name a tenant: it appears in runs, the CLI, URLs and a directory name.
fn is_tenant_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Tenant {
    /// The tenant's entry as written.
    pub fn file(&self) -> &TenantFile {
        &self.raw
    }

    /// `path` from the tenant's entry, relative paths taken from the config file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.base.join(path)
    }

    /// The daemon's data directory (`data_dir`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Largest library file a playbook may use, in bytes (`max_library_file_bytes`).
    pub fn max_library_file_bytes(&self) -> u64 {
        self.max_library_file_bytes
    }

    /// The simulator's speed-up, for a simulated tenant.
    fn speedup(&self) -> Option<f64> {
        self.raw
            .simulated
            .as_ref()
            .map(|s| s.speedup.unwrap_or(1.0))
    }

    /// The tenant's limits, defaults filled in; a simulated tenant's `time_scale` is its
    /// speed-up unless given. Values [`Config::check_with`] refuses are not corrected here.
    pub fn limits(&self) -> Limits {
        let raw = &self.raw.limits;
        let defaults = Limits::default();
        let period = |value: Option<Period>, default: Duration| value.map_or(default, |p| p.0);
        Limits {
            live_response_calls: raw
                .live_response_calls_per_minute
                .and_then(NonZeroU32::new)
                .unwrap_or(defaults.live_response_calls),
            live_response_window: defaults.live_response_window,
            pacing_margin: raw.pacing_margin.unwrap_or(defaults.pacing_margin),
            response_call_within: period(raw.response_call_within, defaults.response_call_within),
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
            poll_interval: period(raw.poll_interval, defaults.poll_interval),
            offline_after: period(raw.offline_after, defaults.offline_after),
            offline_after_min: period(raw.offline_after_min, defaults.offline_after_min),
            offline_recheck: period(raw.offline_recheck, defaults.offline_recheck),
            offline_rechecks_at_base: raw
                .offline_rechecks_at_base
                .unwrap_or(defaults.offline_rechecks_at_base),
            offline_recheck_max: period(raw.offline_recheck_max, defaults.offline_recheck_max),
            inactive_recheck: period(raw.inactive_recheck, defaults.inactive_recheck),
            busy_retry: period(raw.busy_retry, defaults.busy_retry),
            reconcile_settle: period(raw.reconcile_settle, defaults.reconcile_settle),
            time_scale: raw
                .time_scale
                .or(self.speedup())
                .unwrap_or(defaults.time_scale),
        }
    }

    /// This tenant's problems, without the `tenant` prefix.
    fn problems(&self, refs: &impl ReferenceChecks) -> Vec<String> {
        let mut problems = Vec::new();
        if !is_tenant_name(&self.name) {
            problems.push(
                "`name` may hold only letters, digits, `-` and `_`, start with a letter or digit and be at most 64 long: rename the tenant"
                    .to_owned(),
            );
        }
        match &self.raw.simulated {
            Some(simulated) => self.simulated_problems(simulated, refs, &mut problems),
            None => self.real_problems(&mut problems),
        }
        self.limits_problems(&mut problems);
        problems
    }

    fn simulated_problems(
        &self,
        simulated: &SimulatedFile,
        refs: &impl ReferenceChecks,
        problems: &mut Vec<String>,
    ) {
        let raw = &self.raw;
        let given: Vec<&str> = [
            ("`tenant_id`", raw.tenant_id.is_some()),
            ("`client_id`", raw.client_id.is_some()),
            ("`client_secret`", raw.client_secret.is_some()),
            ("`certificate`", raw.certificate.is_some()),
            ("`cloud`", raw.cloud.is_some()),
            ("`ca_file`", raw.ca_file.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, present)| present.then_some(key))
        .collect();
        if !given.is_empty() {
            let them = if given.len() == 1 { "it" } else { "them" };
            problems.push(format!(
                "a simulated tenant takes no {}: remove {them}, or remove `simulated` for a real tenant",
                list(&given, "or")
            ));
        }
        if let Some(speedup) = simulated.speedup
            && !(speedup.is_finite() && speedup >= 1.0)
        {
            problems.push(format!(
                "`simulated.speedup` is {speedup}: give a number of at least 1 (1 is real time)"
            ));
        }
        if simulated.devices == Some(0) && simulated.scenario.is_none() {
            problems.push(
                "`simulated.devices` is 0 and there is no scenario: the tenant would have no devices; give at least 1"
                    .to_owned(),
            );
        }
        if let Some(scenario) = &simulated.scenario
            && self.file_problem("simulated.scenario", scenario, problems)
            && let Err(problem) = refs.scenario(&self.resolve(scenario))
        {
            problems.push(format!("`simulated.scenario`: {problem}"));
        }
    }

    fn real_problems(&self, problems: &mut Vec<String>) {
        let raw = &self.raw;
        let missing: Vec<&str> = [
            ("`tenant_id`", raw.tenant_id.is_none()),
            ("`client_id`", raw.client_id.is_none()),
        ]
        .into_iter()
        .filter_map(|(key, absent)| absent.then_some(key))
        .collect();
        if !missing.is_empty() {
            let are = if missing.len() == 1 { "is" } else { "are" };
            problems.push(format!(
                "{} {are} missing: give the Entra ID directory (`tenant_id`) and app (`client_id`) ids, or `simulated:` for a simulated tenant",
                list(&missing, "and")
            ));
        }
        let empty = [
            ("`tenant_id`", raw.tenant_id.as_deref()),
            ("`client_id`", raw.client_id.as_deref()),
            (
                "`client_secret`",
                raw.client_secret.as_ref().map(ExposeSecret::expose_secret),
            ),
        ];
        for (key, value) in empty {
            if value.is_some_and(|v| v.trim().is_empty()) {
                problems.push(format!(
                    "{key} is empty: give its value (is the environment variable it comes from empty?)"
                ));
            }
        }
        match (&raw.client_secret, &raw.certificate) {
            (Some(_), Some(_)) => problems
                .push("give exactly one of `client_secret` and `certificate`, not both".to_owned()),
            (None, None) => problems.push(
                "give exactly one of `client_secret` and `certificate` (the app's credential)"
                    .to_owned(),
            ),
            _ => {}
        }
        if let Some(certificate) = &raw.certificate {
            self.file_problem("certificate.path", &certificate.path, problems);
        }
        if let Some(ca_file) = &raw.ca_file {
            self.file_problem("ca_file", ca_file, problems);
        }
        if let Some(CloudSetting(Cloud::Custom {
            api_base,
            authority_host,
        })) = &raw.cloud
        {
            for (key, url) in [("api_base", api_base), ("authority_host", authority_host)] {
                if !url.starts_with("https://") {
                    problems.push(format!(
                        "`cloud.custom.{key}` is `{url}`: give an https:// URL"
                    ));
                }
            }
        }
    }

    /// Whether the file `key` names is there; reports it when not.
    fn file_problem(&self, key: &str, path: &Path, problems: &mut Vec<String>) -> bool {
        let resolved = self.resolve(path);
        let found = resolved.is_file();
        if !found {
            problems.push(format!(
                "`{key}` {} is not a file: give the path of the file (relative paths start at the configuration file's directory)",
                resolved.display()
            ));
        }
        found
    }

    fn limits_problems(&self, problems: &mut Vec<String>) {
        let raw = &self.raw.limits;
        let limits = self.limits();
        let mut say = |text: String| problems.push(text);
        for (key, value, documented) in [
            (
                "live_response_calls_per_minute",
                raw.live_response_calls_per_minute,
                10,
            ),
            ("max_sessions", raw.max_sessions, 25),
            ("api_calls_per_minute", raw.api_calls_per_minute, 100),
            ("api_calls_per_hour", raw.api_calls_per_hour, 1500),
        ] {
            if value == Some(0) {
                say(format!(
                    "`limits.{key}` is 0: give at least 1 (the documented limit is {documented})"
                ));
            }
        }
        let usable = limits
            .max_sessions
            .saturating_sub(limits.sessions_kept_for_portal);
        if limits.max_sessions > 0 && usable == 0 {
            say(format!(
                "`limits.sessions_kept_for_portal` ({}) leaves none of `limits.max_sessions` ({}) for fleetlr: keep fewer for the portal",
                limits.sessions_kept_for_portal, limits.max_sessions
            ));
        } else if usable > 0 && limits.sessions_reserved_for_response >= usable {
            say(format!(
                "`limits.sessions_reserved_for_response` ({}) takes every session fleetlr may use (`max_sessions` {} minus `sessions_kept_for_portal` {}), so collection runs would never start: reserve fewer",
                limits.sessions_reserved_for_response,
                limits.max_sessions,
                limits.sessions_kept_for_portal
            ));
        }
        if !(0.0..=1.0).contains(&limits.pacing_margin) {
            say(format!(
                "`limits.pacing_margin` is {}: give a fraction from 0 to 1 (0.05 is 5%)",
                limits.pacing_margin
            ));
        }
        let interval = limits
            .live_response_window
            .div_f64(f64::from(limits.live_response_calls.get()));
        if limits.response_call_within > interval {
            let secs = |d: Duration| format!("{}s", (d.as_secs_f64() * 10.0).round() / 10.0);
            say(format!(
                "`limits.response_call_within` ({}) is longer than one call interval ({} at {} calls a minute), which a response run never waits past anyway: give at most that",
                secs(limits.response_call_within),
                secs(interval),
                limits.live_response_calls,
            ));
        }
        for (key, value) in [
            ("response_call_within", limits.response_call_within),
            ("poll_interval", limits.poll_interval),
            ("offline_after", limits.offline_after),
            ("offline_after_min", limits.offline_after_min),
            ("offline_recheck", limits.offline_recheck),
            ("offline_recheck_max", limits.offline_recheck_max),
            ("inactive_recheck", limits.inactive_recheck),
            ("busy_retry", limits.busy_retry),
            ("reconcile_settle", limits.reconcile_settle),
        ] {
            if value.is_zero() {
                say(format!(
                    "`limits.{key}` is 0s: give a period longer than zero"
                ));
            }
        }
        if limits.offline_after < limits.offline_after_min {
            say(format!(
                "`limits.offline_after` ({}) is shorter than `limits.offline_after_min` ({}): make it at least as long",
                fleetlr_playbook::format_duration(limits.offline_after),
                fleetlr_playbook::format_duration(limits.offline_after_min)
            ));
        }
        if limits.offline_recheck_max < limits.offline_recheck {
            say(format!(
                "`limits.offline_recheck_max` ({}) is shorter than `limits.offline_recheck` ({}): make it at least as long",
                fleetlr_playbook::format_duration(limits.offline_recheck_max),
                fleetlr_playbook::format_duration(limits.offline_recheck)
            ));
        }
        let time_scale = limits.time_scale;
        if raw.time_scale.is_none() {
            // 1, or the speed-up (checked as such).
        } else if !(time_scale.is_finite() && time_scale >= 1.0) {
            say(format!(
                "`limits.time_scale` is {time_scale}: give a number of at least 1"
            ));
        } else if let Some(speedup) = self.speedup() {
            if time_scale > speedup {
                say(format!(
                    "`limits.time_scale` ({time_scale}) is faster than `simulated.speedup` ({speedup}): fleetlr would exceed the simulator's limits; leave `time_scale` out (it follows the speed-up)"
                ));
            }
        } else if time_scale != 1.0
            && !matches!(self.raw.cloud, Some(CloudSetting(Cloud::Custom { .. })))
        {
            say(format!(
                "`limits.time_scale` is {time_scale}: only a simulator (a simulated tenant or a `custom` cloud) runs faster than real time; remove it"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_lines_follow_block_sequences_and_give_up_on_anything_else() {
        let text = "listen: 1\ntenants:   # the tenants\n\n  # a comment\n  - name: a\n    limits:\n      - x\n  -\n    name: b\n  - {name: c}\nafter: 1\n  - not a tenant\n";
        assert_eq!(
            entry_lines(text, "tenants", 3),
            [Some(5), Some(8), Some(10)]
        );
        assert_eq!(
            entry_lines("tenants:\n- a\n- b\nx: 1\n", "tenants", 2),
            [Some(2), Some(3)]
        );
        assert_eq!(entry_lines("tenants: [{name: a}]\n", "tenants", 1), [None]);
        assert_eq!(entry_lines("tenants:\n  - a\n", "tenants", 2), [None, None]);
    }
}
