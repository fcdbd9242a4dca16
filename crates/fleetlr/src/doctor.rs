//! `fleetlr doctor --config FILE`: checks, for each configured tenant, everything that must be
//! right before a run can work — a token, each permission (by a harmless call where one
//! exists), the library, the clock — and the daemon's storage, and says how to fix each
//! failure. Exit code 1 when any check fails.
//!
//! `Machine.LiveResponse` has no harmless call (every live response call starts an action on
//! a device), so it is read from the `roles` claim of the token Entra ID issued; Defender's own
//! settings (live response on, for servers, unsigned scripts) cannot be read through the API
//! at all and are listed as reminders.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use fleetlr_defender::{AzureTokenSource, TokenSource};
use secrecy::ExposeSecret;

use crate::config::{self, Config, DaemonConfig, Tenant};

/// The clocks may differ this much: tokens carry validity times, and Defender dates actions.
const CLOCK_TOLERANCE_SECS: i64 = 60;
/// Less free space than this under the data directory is a failure.
const MIN_FREE_BYTES: u64 = 1024 * 1024 * 1024;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[arg(long, default_value = "config/dev.yaml")]
    config: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Fail,
    /// Not checkable, or not needed by every feature: said, never failing.
    Note,
}

struct Check {
    verdict: Verdict,
    what: String,
    detail: String,
}

impl Check {
    fn ok(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Verdict::Ok, what, detail)
    }

    fn fail(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Verdict::Fail, what, detail)
    }

    fn note(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Verdict::Note, what, detail)
    }

    fn new(verdict: Verdict, what: impl Into<String>, detail: impl Into<String>) -> Self {
        // One line per check: library errors (azure_identity's) come with line breaks.
        let detail: String = detail.into();
        Self {
            verdict,
            what: what.into(),
            detail: detail.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }
}

pub fn run(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let config = config::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut report = Vec::new();
        let problems = config.check();
        report.push((
            format!("configuration {}", args.config.display()),
            if problems.is_empty() {
                vec![Check::ok("configuration", "valid")]
            } else {
                problems
                    .into_iter()
                    .map(|p| Check::fail("configuration", p))
                    .collect()
            },
        ));
        for tenant in &config.tenants {
            report.push((
                format!("tenant {}", tenant.name),
                tenant_checks(tenant).await,
            ));
        }
        report.push(("storage".to_owned(), storage_checks(&config)));
        report
    });
    let mut out = String::new();
    let mut failed = 0;
    for (section, checks) in &report {
        let _ = writeln!(out, "{section}");
        for check in checks {
            let mark = match check.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Fail => {
                    failed += 1;
                    "FAIL"
                }
                Verdict::Note => "note",
            };
            let _ = writeln!(out, "  {mark}  {}: {}", check.what, check.detail);
        }
    }
    if failed > 0 {
        let _ = writeln!(out, "{failed} check(s) failed: fix them as said above");
    }
    print!("{out}");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Permissions fleetlr uses, what for, and whether every run needs them.
const PERMISSIONS: &[(&str, &str, bool)] = &[
    (
        "Machine.Read.All",
        "resolving targets, checking device health",
        true,
    ),
    (
        "Machine.LiveResponse",
        "running playbooks (runliveresponse, cancel)",
        true,
    ),
    (
        "Library.Manage",
        "putting playbook scripts in the library",
        true,
    ),
    (
        "Machine.Isolate",
        "only playbooks that isolate devices",
        false,
    ),
];

const GRANT_HINT: &str = "in Entra ID, App registrations > the app > API permissions > Add a permission > APIs my organization uses > WindowsDefenderATP > Application permissions, add it, then Grant admin consent";

async fn tenant_checks(tenant: &Tenant) -> Vec<Check> {
    let mut checks = Vec::new();
    let (client_config, _simulator) = match crate::tenants::client_config(tenant).await {
        Ok(found) => found,
        Err(err) => return vec![Check::fail("credentials", format!("{err:#}"))],
    };
    let api_base = client_config.cloud.api_base();
    let http = match fleetlr_defender::https_client(
        client_config.extra_ca_pem.as_deref(),
        Duration::from_secs(30),
    ) {
        Ok(http) => http,
        Err(err) => return vec![Check::fail("TLS", err.to_string())],
    };
    let tokens = AzureTokenSource::new(
        &client_config.tenant_id,
        &client_config.client_id,
        client_config.credential,
        &client_config.cloud.authority_host(),
        &client_config.scope,
        http.clone(),
    );
    let token = match tokens {
        Ok(tokens) => tokens.token().await,
        Err(err) => Err(err),
    };
    let token = match token {
        Ok(token) => {
            checks.push(Check::ok(
                "token",
                format!(
                    "signed in as app {} at {}",
                    client_config.client_id,
                    client_config.cloud.authority_host()
                ),
            ));
            token
        }
        Err(err) => {
            let fix = if err.transient {
                "the sign-in endpoint is unreachable or failing: check the network path (proxy, firewall) to it and `cloud`"
            } else {
                "check `tenant_id`, `client_id` and the secret or certificate (an expired secret is refused too; make a new one under Certificates & secrets)"
            };
            checks.push(Check::fail("token", format!("{err}: {fix}")));
            return checks;
        }
    };
    let roles = token_roles(token.expose_secret());
    let get = |path: &'static str| {
        let request = http
            .get(format!("{}{path}", api_base.trim_end_matches('/')))
            .bearer_auth(token.expose_secret());
        async move { request.send().await }
    };
    let machines = get("/api/machines?$top=1").await;
    let library = get("/api/libraryfiles").await;
    for (permission, used_for, required) in PERMISSIONS {
        let probe = match *permission {
            "Machine.Read.All" => Some(("listing one device", &machines)),
            "Library.Manage" => Some(("listing the library", &library)),
            _ => None,
        };
        let what = format!("permission {permission}");
        let check = match (probe, &roles) {
            (Some((call, Ok(response))), _) if response.status().is_success() => {
                Check::ok(what, format!("{call} worked"))
            }
            (Some((call, Ok(response))), _) if response.status().as_u16() == 403 => Check::fail(
                what,
                format!("{call} was refused (403); it is needed for {used_for}: {GRANT_HINT}"),
            ),
            (Some((call, Ok(response))), _) => Check::fail(
                what,
                format!(
                    "{call} answered {}: check `cloud` (the API base is {api_base})",
                    response.status()
                ),
            ),
            (Some((call, Err(err))), _) => Check::fail(
                what,
                format!("{call} failed: {err}; check `cloud` and the network path to {api_base}"),
            ),
            (None, Some(roles)) if roles.iter().any(|r| r == permission) => Check::ok(
                what,
                "granted (read from the token's roles claim: no API call can test it without acting on a device)",
            ),
            (None, Some(_)) if *required => Check::fail(
                what,
                format!(
                    "not in the token's roles claim; it is needed for {used_for}: {GRANT_HINT}"
                ),
            ),
            (None, Some(_)) => Check::note(what, format!("not granted; needed for {used_for}")),
            (None, None) => Check::note(
                what,
                format!(
                    "cannot be checked: the token carries no readable roles claim and no harmless call exists; it is needed for {used_for}"
                ),
            ),
        };
        checks.push(check);
    }
    checks.push(match &library {
        Ok(response) if response.status().is_success() => {
            Check::ok("library", "reachable")
        }
        _ => Check::fail(
            "library",
            "not reachable (see Library.Manage above): runs that put scripts or files would fail before they start",
        ),
    });
    checks.push(clock_check(machines.as_ref().ok().and_then(|r| {
        r.headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .map(str::to_owned)
    })));
    checks.push(Check::note(
        "Defender settings",
        "not visible through the API; in the Defender portal, Settings > Endpoints > Advanced features: Live Response on, Live Response for Servers on (for servers), Live Response unsigned script execution on (unless every script is signed); device groups' automation level must allow actions",
    ));
    checks
}

/// The `roles` claim of a JWT access token, when it is one (the API does not promise it).
fn token_roles(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        claims["roles"]
            .as_array()?
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect(),
    )
}

/// The API's `Date` header against this host's clock.
fn clock_check(date: Option<String>) -> Check {
    let Some(date) = date else {
        return Check::fail(
            "clock",
            "the API's answer had no Date header to compare with",
        );
    };
    let Ok(theirs) = chrono::DateTime::parse_from_rfc2822(&date) else {
        return Check::fail(
            "clock",
            format!("the API's Date header `{date}` is unreadable"),
        );
    };
    let skew = (chrono::Utc::now() - theirs.with_timezone(&chrono::Utc)).num_seconds();
    if skew.abs() <= CLOCK_TOLERANCE_SECS {
        Check::ok("clock", format!("{skew:+} s from the API's clock"))
    } else {
        Check::fail(
            "clock",
            format!(
                "this host is {skew:+} s from the API's clock (more than {CLOCK_TOLERANCE_SECS} s): sync it with NTP (timedatectl set-ntp true); tokens and expiry times depend on it"
            ),
        )
    }
}

fn storage_checks(config: &Config) -> Vec<Check> {
    let dir = &config.data_dir;
    let mut checks = vec![writable(dir)];
    match free_bytes(dir) {
        Some(free) if free >= MIN_FREE_BYTES => {
            checks.push(Check::ok("disk", format!("{} MiB free", free / (1024 * 1024))));
        }
        Some(free) => checks.push(Check::fail(
            "disk",
            format!(
                "{} MiB free under {}: collected files need room; free space or move `data_dir` (at least 1 GiB)",
                free / (1024 * 1024),
                dir.display()
            ),
        )),
        None => checks.push(Check::note("disk", "free space could not be read")),
    }
    checks
}

/// Whether the data directory exists (or can be made) and takes a file.
fn writable(dir: &Path) -> Check {
    let what = format!("data_dir {}", dir.display());
    let probe = dir.join(".fleetlr-doctor");
    let result = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b"probe"))
        .and_then(|()| std::fs::remove_file(&probe));
    match result {
        Ok(()) => Check::ok(what, "writable"),
        Err(err) => Check::fail(
            what,
            format!(
                "not writable ({err}): create it and give the daemon's user write access (systemd: StateDirectory=fleetlr), or point `data_dir` elsewhere"
            ),
        ),
    }
}

/// Free bytes on the file system holding `dir` (or its nearest existing parent).
fn free_bytes(dir: &Path) -> Option<u64> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    let stats = rustix::fs::statvfs(existing).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_from_a_jwt_payload_and_nothing_else() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"roles":["Machine.Read.All","Library.Manage"]}"#);
        assert_eq!(
            token_roles(&format!("eyJ0eXAiOiJKV1QifQ.{payload}.sig")),
            Some(vec!["Machine.Read.All".into(), "Library.Manage".into()])
        );
        assert_eq!(token_roles("opaque-token"), None);
    }

    #[test]
    fn the_clock_passes_within_a_minute_and_fails_beyond() {
        let date =
            |offset: i64| (chrono::Utc::now() + chrono::TimeDelta::seconds(offset)).to_rfc2822();
        assert_eq!(clock_check(Some(date(20))).verdict, Verdict::Ok);
        let far = clock_check(Some(date(-300)));
        assert_eq!(far.verdict, Verdict::Fail);
        assert!(far.detail.contains("NTP"), "{}", far.detail);
        assert_eq!(clock_check(None).verdict, Verdict::Fail);
    }
}
