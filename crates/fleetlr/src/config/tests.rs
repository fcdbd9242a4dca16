//! Tests of the configuration: data-driven tables of good files, of files the parser refuses
//! (exact message, with its place) and of files `check` refuses (every problem, exact), the
//! conversions into a client or a simulator, and the shipped files.

use std::env::VarError;
use std::path::PathBuf;
use std::time::Duration;

use fleetlr_defender::Cloud;
use fleetlr_engine::Limits;
use secrecy::ExposeSecret;

use super::*;

/// A directory laid out like a deployment: `playbooks/`, a scenario, a CA and a certificate.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("playbooks")).expect("playbooks dir");
    std::fs::create_dir(dir.path().join("sim")).expect("sim dir");
    std::fs::write(dir.path().join("sim/small.yaml"), "fleet: {count: 3}\n").expect("scenario");
    std::fs::write(dir.path().join("ca.pem"), "-----BEGIN CERTIFICATE-----\n").expect("ca");
    std::fs::write(dir.path().join("app.pfx"), [0x30, 0x82, 1, 2]).expect("pfx");
    dir
}

fn env(name: &str) -> Result<String, VarError> {
    match name {
        "SECRET" => Ok("s3cr3t".into()),
        "EMPTY" => Ok(String::new()),
        _ => Err(VarError::NotPresent),
    }
}

fn parse_in(dir: &Path, text: &str) -> anyhow::Result<Config> {
    Ok(parse("fleetlr.yaml", text, dir, env)?)
}

const REAL: &str = "name: prod\n    tenant_id: t\n    client_id: c\n    client_secret: s";

#[test]
fn good_configurations_load_and_pass_check() {
    let cases = [
        "tenants:\n  - {name: lab, simulated: {}}\n",
        "tenants:\n  - name: prod\n    tenant_id: t\n    client_id: c\n    client_secret: ${SECRET}\n",
        "listen: '[::1]:0'\nshutdown_grace: 1h30m\ntenants:\n  - name: prod\n    tenant_id: t\n    client_id: c\n    certificate: {path: app.pfx, password: ${SECRET}}\n    cloud: us_gcc_high\n    ca_file: ca.pem\n",
        "tenants:\n- name: a-1\n  simulated: {devices: 1, seed: 7, speedup: 300, scenario: sim/small.yaml}\n  limits: {time_scale: 300, max_sessions: 50, sessions_reserved_for_response: 49}\n- name: b_2\n  tenant_id: t\n  client_id: c\n  client_secret: s\n  cloud: {regional: eu}\n",
        "tenants:\n  - {name: x, tenant_id: t, client_id: c, client_secret: s, cloud: {custom: {api_base: 'https://127.0.0.1:1', authority_host: 'https://127.0.0.1:1'}}, limits: {time_scale: 60}}\n",
        "tenants:\n  - name: prod # the main one\n    tenant_id: t\n    client_id: c\n    client_secret: s\n    limits:\n      pacing_margin: 0\n      offline_recheck: 1m\n      offline_recheck_max: 1m\n      sessions_kept_for_portal: 24\n      sessions_reserved_for_response: 0\n",
    ];
    for text in cases {
        let dir = fixture();
        let config = parse_in(dir.path(), text).unwrap_or_else(|err| panic!("{text}\n{err:#}"));
        assert_eq!(config.check(), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn defaults_fill_what_is_left_out() {
    let dir = fixture();
    let config =
        parse_in(dir.path(), "tenants:\n  - {name: lab, simulated: {}}\n").expect("parses");
    assert_eq!(config.listen, "127.0.0.1:8080".parse().expect("address"));
    assert_eq!(config.data_dir, dir.path().join("data"));
    assert_eq!(config.playbooks_dir, dir.path().join("playbooks"));
    assert_eq!(config.shutdown_grace, Duration::from_secs(30));
    assert_eq!(config.max_library_file_bytes(), 20_000_000);
    assert_eq!(config.tenants[0].limits(), Limits::default());
}

#[test]
fn the_parser_refuses_with_file_line_column_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "tenants: []\nlisten_addr: 1\n",
            "fleetlr.yaml:2:1: unknown field `listen_addr`, expected one of `listen`, `data_dir`, `playbooks_dir`, `shutdown_grace`, `max_library_file_bytes`, `tenants`, `hooks`, `rules`, `schedules`, `retention`",
        ),
        (
            "listen: localhost:8080\n",
            "fleetlr.yaml:1:9: listen: `localhost:8080` is not an IP address and port; write e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080 (host names are not resolved)",
        ),
        (
            "listen: 8080\n",
            "fleetlr.yaml:1:9: listen: `8080` is not an IP address and port; write e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080 (host names are not resolved)",
        ),
        (
            "shutdown_grace: 30\n",
            "fleetlr.yaml:1:17: shutdown_grace: `30` has no unit; write 30s, 30m, 30h or 30d",
        ),
        (
            "shutdown_grace: 30 seconds\n",
            "fleetlr.yaml:1:17: shutdown_grace: `30 seconds` is not a duration; write a whole number and a unit (s, m, h, d), e.g. 30s, 10m, 1h30m or 3d",
        ),
        (
            "tenants:\n  - name: a\n    limits:\n      poll_interval: 5x\n",
            "fleetlr.yaml:4:22: tenants[0].limits.poll_interval: `5x` is not a duration; write a whole number and a unit (s, m, h, d), e.g. 30s, 10m, 1h30m or 3d",
        ),
        (
            "tenants:\n  - name: a\n    simulated: {device: 3}\n",
            "fleetlr.yaml:3:17: tenants[0].simulated: unknown field `device`, expected one of `devices`, `seed`, `speedup`, `scenario`",
        ),
        (
            "tenants:\n  - name: a\n    limits: {max_session: 5}\n",
            "fleetlr.yaml:3:14: tenants[0].limits: unknown field `max_session`, expected one of `live_response_calls_per_minute`, `pacing_margin`, `response_call_within`, `max_sessions`, `sessions_kept_for_portal`, `sessions_reserved_for_response`, `api_calls_per_minute`, `api_calls_per_hour`, `poll_interval`, `offline_after`, `offline_after_min`, `offline_recheck`, `offline_rechecks_at_base`, `offline_recheck_max`, `inactive_recheck`, `busy_retry`, `reconcile_settle`, `time_scale`",
        ),
        (
            "tenants:\n  - name: a\n    limits: {max_sessions: -1}\n",
            "fleetlr.yaml:3:28: tenants[0].limits.max_sessions: invalid type: integer `-1`, expected u32",
        ),
        (
            "tenants:\n  - name: a\n    cloud: mars\n",
            "fleetlr.yaml:3:12: tenants[0].cloud: unknown cloud `mars`; write public, public_legacy, us_gcc, us_gcc_high, {regional: eu} (us, eu, uk, au, swa, ina, aea) or {custom: {api_base: https://…, authority_host: https://…}}",
        ),
        (
            "tenants:\n  - name: a\n    cloud: regional\n",
            "fleetlr.yaml:3:12: tenants[0].cloud: `regional` needs its region: write e.g. {regional: eu}",
        ),
        (
            "tenants:\n  - name: a\n    cloud: {regional: mars}\n",
            "fleetlr.yaml:3:23: tenants[0].cloud.regional: unknown variant `mars`, expected one of `us`, `eu`, `uk`, `au`, `swa`, `ina`, `aea`",
        ),
        (
            "tenants:\n  - name: a\n    cloud: {custom: {api_base: x}}\n",
            "fleetlr.yaml:3:21: tenants[0].cloud.custom: missing field `authority_host`",
        ),
        (
            "tenants:\n  - name: a\n    cloud: {regional: eu, custom: {}}\n",
            "fleetlr.yaml:3:12: tenants[0].cloud: a cloud is a single key; write public, public_legacy, us_gcc, us_gcc_high, {regional: eu} (us, eu, uk, au, swa, ina, aea) or {custom: {api_base: https://…, authority_host: https://…}}",
        ),
        (
            "tenants:\n  - name: a\n    certificate: {file: x.pfx}\n",
            "fleetlr.yaml:3:19: tenants[0].certificate: unknown field `file`, expected `path` or `password`",
        ),
        (
            "tenants:\n  - tenant_id: t\n",
            "fleetlr.yaml:2:5: tenants[0]: missing field `name`",
        ),
        (
            "tenants:\n  - name: a\n    client_secret: ${UNSET}\n",
            "fleetlr.yaml:3:20: environment variable `UNSET` is not set; set it, or write `$${` for a literal `${`",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, expected) in cases {
        let dir = fixture();
        let err = parse_in(dir.path(), text).expect_err(text);
        let message = format!("{err:#}");
        if message != *expected {
            wrong.push(format!(
                "{text:?}\n  got      {message}\n  expected {expected}"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn check_reports_every_problem_with_its_tenant_and_line() {
    let real_time_scale = format!("tenants:\n  - {REAL}\n    limits: {{time_scale: 10}}\n");
    let cases: &[(&str, &[&str])] = &[
        (
            "listen: 127.0.0.1:1\n",
            &[
                "no tenant is configured: give at least one under `tenants:` (see config/fleetlr.yaml)",
            ],
        ),
        (
            "playbooks_dir: nowhere\nmax_library_file_bytes: 0\ntenants:\n  - {name: lab, simulated: {}}\n",
            &[
                "`max_library_file_bytes` is 0: give the largest library file size in bytes (the API documents 20000000)",
                "`playbooks_dir` DIR/nowhere is not a directory: create it, or point `playbooks_dir` at the playbooks (relative to the configuration file's directory)",
            ],
        ),
        (
            "data_dir: ca.pem\ntenants:\n  - {name: lab, simulated: {}}\n",
            &[
                "`data_dir` DIR/ca.pem is not a directory: point `data_dir` at a directory (it is created when missing)",
            ],
        ),
        (
            "tenants:\n  - {name: lab, simulated: {}}\n  - name: lab\n    simulated: {}\n",
            &[
                "line 3: tenant `lab`: the name is already used by an earlier tenant (line 2): give each tenant its own `name`",
            ],
        ),
        (
            "tenants: [{name: lab, simulated: {}}, {name: lab, simulated: {}}]\n",
            &[
                "tenant `lab`: the name is already used by an earlier tenant: give each tenant its own `name`",
            ],
        ),
        (
            "tenants:\n  - {name: 'a b', simulated: {}}\n  - {name: '-a', simulated: {}}\n",
            &[
                "line 2: tenant `a b`: `name` may hold only letters, digits, `-` and `_`, start with a letter or digit and be at most 64 long: rename the tenant",
                "line 3: tenant `-a`: `name` may hold only letters, digits, `-` and `_`, start with a letter or digit and be at most 64 long: rename the tenant",
            ],
        ),
        (
            "tenants:\n  - {name: prod}\n",
            &[
                "line 2: tenant `prod`: `tenant_id` and `client_id` are missing: give the Entra ID directory (`tenant_id`) and app (`client_id`) ids, or `simulated:` for a simulated tenant",
                "line 2: tenant `prod`: give exactly one of `client_secret` and `certificate` (the app's credential)",
            ],
        ),
        (
            "tenants:\n  - {name: prod, tenant_id: '', client_secret: '${EMPTY}', certificate: {path: missing.pfx}}\n",
            &[
                "line 2: tenant `prod`: `client_id` is missing: give the Entra ID directory (`tenant_id`) and app (`client_id`) ids, or `simulated:` for a simulated tenant",
                "line 2: tenant `prod`: `tenant_id` is empty: give its value (is the environment variable it comes from empty?)",
                "line 2: tenant `prod`: `client_secret` is empty: give its value (is the environment variable it comes from empty?)",
                "line 2: tenant `prod`: give exactly one of `client_secret` and `certificate`, not both",
                "line 2: tenant `prod`: `certificate.path` DIR/missing.pfx is not a file: give the path of the file (relative paths start at the configuration file's directory)",
            ],
        ),
        (
            "tenants:\n  - {name: prod, tenant_id: t, client_id: c, client_secret: s, ca_file: nope.pem, cloud: {custom: {api_base: 'http://x', authority_host: 'https://y'}}}\n",
            &[
                "line 2: tenant `prod`: `ca_file` DIR/nope.pem is not a file: give the path of the file (relative paths start at the configuration file's directory)",
                "line 2: tenant `prod`: `cloud.custom.api_base` is `http://x`: give an https:// URL",
            ],
        ),
        (
            "tenants:\n  - {name: lab, tenant_id: t, client_secret: s, cloud: public, simulated: {devices: 0, speedup: 0.5}}\n",
            &[
                "line 2: tenant `lab`: a simulated tenant takes no `tenant_id`, `client_secret` or `cloud`: remove them, or remove `simulated` for a real tenant",
                "line 2: tenant `lab`: `simulated.speedup` is 0.5: give a number of at least 1 (1 is real time)",
                "line 2: tenant `lab`: `simulated.devices` is 0 and there is no scenario: the tenant would have no devices; give at least 1",
            ],
        ),
        (
            "tenants:\n  - {name: lab, ca_file: ca.pem, simulated: {}}\n",
            &[
                "line 2: tenant `lab`: a simulated tenant takes no `ca_file`: remove it, or remove `simulated` for a real tenant",
            ],
        ),
        (
            "tenants:\n  - {name: lab, simulated: {scenario: sim/none.yaml}}\n",
            &[
                "line 2: tenant `lab`: `simulated.scenario` DIR/sim/none.yaml is not a file: give the path of the file (relative paths start at the configuration file's directory)",
            ],
        ),
        (
            "tenants:\n  - {name: lab, simulated: {scenario: ca.pem}}\n",
            &[
                "line 2: tenant `lab`: `simulated.scenario`: DIR/ca.pem:1:1: invalid type: string \"-----BEGIN CERTIFICATE-----\", expected struct Scenario",
            ],
        ),
        (
            "tenants:\n  - name: lab\n    simulated: {}\n    limits:\n      live_response_calls_per_minute: 0\n      max_sessions: 0\n      api_calls_per_minute: 0\n      api_calls_per_hour: 0\n",
            &[
                "line 2: tenant `lab`: `limits.live_response_calls_per_minute` is 0: give at least 1 (the documented limit is 10)",
                "line 2: tenant `lab`: `limits.max_sessions` is 0: give at least 1 (the documented limit is 25)",
                "line 2: tenant `lab`: `limits.api_calls_per_minute` is 0: give at least 1 (the documented limit is 100)",
                "line 2: tenant `lab`: `limits.api_calls_per_hour` is 0: give at least 1 (the documented limit is 1500)",
            ],
        ),
        (
            "tenants:\n  - name: lab\n    simulated: {}\n    limits: {max_sessions: 5, sessions_kept_for_portal: 5}\n",
            &[
                "line 2: tenant `lab`: `limits.sessions_kept_for_portal` (5) leaves none of `limits.max_sessions` (5) for fleetlr: keep fewer for the portal",
            ],
        ),
        (
            "tenants:\n  - name: lab\n    simulated: {}\n    limits: {max_sessions: 5, sessions_kept_for_portal: 2, sessions_reserved_for_response: 3}\n",
            &[
                "line 2: tenant `lab`: `limits.sessions_reserved_for_response` (3) takes every session fleetlr may use (`max_sessions` 5 minus `sessions_kept_for_portal` 2), so collection runs would never start: reserve fewer",
            ],
        ),
        (
            "tenants:\n  - name: lab\n    simulated: {speedup: 10}\n    limits: {pacing_margin: 1.5, poll_interval: 0s, reconcile_settle: 0m, offline_recheck: 1h, offline_recheck_max: 30m, time_scale: 20}\n",
            &[
                "line 2: tenant `lab`: `limits.pacing_margin` is 1.5: give a fraction from 0 to 1 (0.05 is 5%)",
                "line 2: tenant `lab`: `limits.poll_interval` is 0s: give a period longer than zero",
                "line 2: tenant `lab`: `limits.reconcile_settle` is 0s: give a period longer than zero",
                "line 2: tenant `lab`: `limits.offline_recheck_max` (30m) is shorter than `limits.offline_recheck` (1h): make it at least as long",
                "line 2: tenant `lab`: `limits.time_scale` (20) is faster than `simulated.speedup` (10): fleetlr would exceed the simulator's limits; leave `time_scale` out (it follows the speed-up)",
            ],
        ),
        (
            "tenants:\n  - name: lab\n    simulated: {}\n    limits: {live_response_calls_per_minute: 7, response_call_within: 9s}\n",
            &[
                "line 2: tenant `lab`: `limits.response_call_within` (9s) is longer than one call interval (8.6s at 7 calls a minute), which a response run never waits past anyway: give at most that",
            ],
        ),
        (
            "tenants:\n  - name: lab\n    simulated: {}\n    limits: {response_call_within: 0s}\n",
            &[
                "line 2: tenant `lab`: `limits.response_call_within` is 0s: give a period longer than zero",
            ],
        ),
        (
            "tenants:\n  - name: lab\n    simulated: {}\n    limits: {time_scale: 0.5}\n",
            &["line 2: tenant `lab`: `limits.time_scale` is 0.5: give a number of at least 1"],
        ),
        (
            &real_time_scale,
            &[
                "line 2: tenant `prod`: `limits.time_scale` is 10: only a simulator (a simulated tenant or a `custom` cloud) runs faster than real time; remove it",
            ],
        ),
    ];
    let mut wrong = Vec::new();
    for (text, expected) in cases {
        let dir = fixture();
        let config = parse_in(dir.path(), text).unwrap_or_else(|err| panic!("{text}\n{err:#}"));
        let root = format!("{}/", dir.path().display());
        let problems: Vec<String> = config
            .check()
            .into_iter()
            .map(|p| p.replace(&root, "DIR/"))
            .collect();
        if problems != *expected {
            wrong.push(format!(
                "{text:?}\n  got      {problems:#?}\n  expected {expected:#?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn a_simulated_tenant_becomes_a_simulator_that_enforces_the_tenants_limits() {
    let dir = fixture();
    let config = parse_in(
        dir.path(),
        "max_library_file_bytes: 1000\ntenants:\n  - name: lab\n    simulated: {devices: 3, seed: 9, speedup: 60, scenario: sim/small.yaml}\n    limits: {max_sessions: 50, live_response_calls_per_minute: 7, api_calls_per_minute: 80, api_calls_per_hour: 900}\n",
    )
    .expect("parses");
    assert_eq!(config.check(), Vec::<String>::new());
    let tenant = &config.tenants[0];
    assert_eq!(
        tenant.limits().time_scale,
        60.0,
        "time follows the speed-up"
    );
    let TenantKind::Simulated(simulator) = tenant.kind().expect("kind") else {
        panic!("expected a simulated tenant");
    };
    let (args, scenario) = *simulator;
    assert_eq!(
        (args.devices, args.seed, args.speedup),
        (3, 9, 60.0),
        "as configured"
    );
    assert_eq!(
        (
            args.rate_limit_per_minute,
            args.max_sessions,
            args.api_limit_per_minute,
            args.api_limit_per_hour,
            args.library_max_bytes
        ),
        (7, 50, 80, 900, 1000),
        "the simulator's limits are the tenant's"
    );
    assert_eq!(args.listen, "127.0.0.1:0".parse().expect("address"));
    assert_eq!(args.tls_dir, dir.path().join("data/sim-tls/lab"));
    assert_eq!(args.scenario, Some(dir.path().join("sim/small.yaml")));
    assert_eq!(scenario.fleet.count, Some(3));
}

#[test]
fn an_explicit_time_scale_wins_over_the_speedup() {
    let dir = fixture();
    let config = parse_in(
        dir.path(),
        "tenants:\n  - {name: lab, simulated: {speedup: 60}, limits: {time_scale: 30}}\n",
    )
    .expect("parses");
    assert_eq!(config.tenants[0].limits().time_scale, 30.0);
}

#[test]
fn a_real_tenant_becomes_a_client_configuration() {
    let dir = fixture();
    let config = parse_in(
        dir.path(),
        "tenants:\n  - name: prod\n    tenant_id: t-1\n    client_id: c-1\n    client_secret: ${SECRET}\n    cloud: {regional: eu}\n    ca_file: ca.pem\n  - name: cert\n    tenant_id: t-2\n    client_id: c-2\n    certificate: {path: app.pfx, password: pw}\n",
    )
    .expect("parses");
    assert_eq!(config.check(), Vec::<String>::new());
    let TenantKind::Real(client) = config.tenants[0].kind().expect("kind") else {
        panic!("expected a real tenant");
    };
    assert_eq!(client.cloud, Cloud::Regional(fleetlr_defender::Region::Eu));
    assert_eq!(
        (client.tenant_id.as_str(), client.client_id.as_str()),
        ("t-1", "c-1")
    );
    assert_eq!(
        client.extra_ca_pem.as_deref(),
        Some("-----BEGIN CERTIFICATE-----\n")
    );
    let Credential::ClientSecret(secret) = &client.credential else {
        panic!("expected a client secret");
    };
    assert_eq!(secret.expose_secret(), "s3cr3t");

    let TenantKind::Real(client) = config.tenants[1].kind().expect("kind") else {
        panic!("expected a real tenant");
    };
    assert_eq!(client.cloud, Cloud::Public, "the default cloud");
    let Credential::Certificate { pkcs12, password } = &client.credential else {
        panic!("expected a certificate");
    };
    assert_eq!(pkcs12.expose_secret().as_slice(), [0x30, 0x82, 1, 2]);
    assert_eq!(
        password.as_ref().map(ExposeSecret::expose_secret),
        Some("pw")
    );
}

#[test]
fn a_missing_certificate_file_is_named_when_converting() {
    let dir = fixture();
    let config = parse_in(
        dir.path(),
        "tenants:\n  - {name: prod, tenant_id: t, client_id: c, certificate: {path: gone.pfx}}\n",
    )
    .expect("parses");
    let Err(err) = config.tenants[0].kind() else {
        panic!("the file is missing");
    };
    let message = format!("{err:#}").replace(&dir.path().display().to_string(), "DIR");
    assert!(
        message.starts_with("tenant `prod`: reading `certificate.path` DIR/gone.pfx: "),
        "{message}"
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let dir = fixture();
    let config = parse_in(
        dir.path(),
        "tenants:\n  - {name: a, tenant_id: t, client_id: c, client_secret: hunter2-secret}\n  - {name: b, tenant_id: t, client_id: c, certificate: {path: app.pfx, password: hunter3-secret}}\n",
    )
    .expect("parses");
    assert_eq!(config.check(), Vec::<String>::new());
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter"), "{debug}");
    for tenant in &config.tenants {
        let TenantKind::Real(client) = tenant.kind().expect("kind") else {
            panic!("expected a real tenant");
        };
        assert!(!format!("{client:?}").contains("hunter"));
    }
}

#[test]
fn relative_paths_start_at_the_config_files_directory_and_absolute_ones_stay() {
    let dir = fixture();
    let nested = dir.path().join("etc");
    std::fs::create_dir(&nested).expect("etc");
    let path = nested.join("fleetlr.yaml");
    std::fs::write(
        &path,
        format!(
            "data_dir: ../var\nplaybooks_dir: {}\ntenants:\n  - {{name: lab, simulated: {{scenario: ../sim/small.yaml}}}}\n",
            dir.path().join("playbooks").display()
        ),
    )
    .expect("written");
    let config = load(&path).expect("loads");
    assert_eq!(config.data_dir, nested.join("../var"));
    assert_eq!(config.playbooks_dir, dir.path().join("playbooks"));
    assert_eq!(config.check(), Vec::<String>::new());
}

#[test]
fn a_missing_file_is_named() {
    let err =
        anyhow::Error::from(load(Path::new("/nonexistent/fleetlr.yaml")).expect_err("missing"));
    assert!(
        format!("{err:#}").starts_with("reading the configuration /nonexistent/fleetlr.yaml: "),
        "{err:#}"
    );
}

fn shipped(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config")
        .join(file)
}

#[test]
fn the_shipped_dev_configuration_loads_checks_and_finds_the_repository() {
    let path = shipped("dev.yaml");
    let dev = load(&path).expect("dev config");
    assert_eq!(dev.check(), Vec::<String>::new());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo");
    let parent = |p: &Path| p.parent().expect("parent").canonicalize().expect("exists");
    assert_eq!(parent(&dev.data_dir), repo);
    assert_eq!(dev.data_dir.file_name(), Some("data".as_ref()));
    assert_eq!(
        dev.playbooks_dir.canonicalize().expect("playbooks"),
        repo.join("playbooks")
    );
    assert_eq!(dev.tenants.len(), 1);
    assert_eq!(dev.tenants[0].name, "lab");
    assert!(matches!(
        dev.tenants[0].kind().expect("kind"),
        TenantKind::Simulated(..)
    ));
}

#[test]
fn the_shipped_reference_configuration_loads_checks_and_shows_the_defaults() {
    let path = shipped("fleetlr.yaml");
    let text = std::fs::read_to_string(&path).expect("reference config");
    let base = path.parent().expect("config dir");
    // The reference takes its secrets from the environment; any long enough value will do.
    let config = parse("fleetlr.yaml", &text, base, |_| Ok("x".repeat(32))).expect("parses");
    assert_eq!(config.check(), Vec::<String>::new());
    assert_eq!(config.listen, "127.0.0.1:8080".parse().expect("address"));
    assert_eq!(
        config.shutdown_grace,
        fleetlr_config::DEFAULT_SHUTDOWN_GRACE
    );
    assert_eq!(
        config.max_library_file_bytes(),
        fleetlr_playbook::Catalogue::DEFAULT_MAX_FILE_BYTES
    );
    let real = &config.tenants[0];
    assert!(matches!(real.kind().expect("kind"), TenantKind::Real(_)));
    assert_eq!(
        real.limits(),
        Limits::default(),
        "the values written in the reference are the defaults"
    );
    assert!(config.tenants.iter().any(|t| t.file().simulated.is_some()));
}

fn with_hooks(hooks_and_rules: &str) -> (tempfile::TempDir, Config) {
    let dir = fixture();
    let playbooks = shipped("../playbooks");
    let text = format!(
        "playbooks_dir: '{}'\ntenants:\n  - {{name: lab, simulated: {{}}}}\n{hooks_and_rules}",
        playbooks.display()
    );
    let config = parse_in(dir.path(), &text).unwrap_or_else(|err| panic!("{text}\n{err:#}"));
    (dir, config)
}

#[test]
fn hooks_and_rules_that_can_work_pass_check() {
    let (_dir, config) = with_hooks(
        r#"hooks:
  - name: mde
    format: defender
    credential: {hmac: {secret: 0123456789abcdef0123, max_skew: 2m, signature_header: X-Sig}}
  - name: soar
    format: generic
    credential: {bearer: 0123456789abcdef0123}
    alert_id: /alert/id
    device_id: /alert/hosts
    fields: {title: /alert/name, process_name: /p/name, file_path: /p/path}
rules:
  - name: respond
    severity_at_least: medium
    title: '(?i)mimikatz|ransom'
    device_tags: [prod]
    playbook: alert-response
    tenant: lab
    cooldown: 30m
  - name: fetch
    hooks: [soar]
    playbook: collect-file
    priority: collection
    parameters: {path: '{{ alert.file_path }}'}
"#,
    );
    assert_eq!(config.check(), Vec::<String>::new());
    let setup = config.hook_setup();
    assert!(format!("{setup:?}").contains("respond"));
    assert!(
        !format!("{setup:?}").contains("0123456789abcdef0123"),
        "secrets stay hidden"
    );
}

#[test]
fn hooks_and_rules_are_checked_offline_with_their_lines() {
    let (_dir, config) = with_hooks(
        r#"hooks:
  - name: mde
    format: defender
    credential: {hmac: {secret: 0123456789abcdef0123}}
  - name: soar
    format: generic
    credential: {bearer: short}
    alert_id: alert/id
  - name: g
    format: generic
    credential: {bearer: 0123456789abcdef0123}
    alert_id: /id
    device_id: /host
rules:
  - name: respond
    hooks: [mde, g, nope]
    severity_at_least: severe
    title: '(unclosed'
    playbook: alert-response
    parameters: {x: '{{ alert.nope }}', y: '{{ params.z }}'}
    tenant: nowhere
  - name: missing
    playbook: no-such
"#,
    );
    let problems = config.check();
    let expected = [
        "line 8: hook `soar`: `credential.bearer` is shorter than 16 characters",
        "line 8: hook `soar`: `alert_id`: `alert/id` is not a JSON pointer",
        "line 8: hook `soar`: a `generic` hook needs `device_id`",
        "line 18: rule `respond`: `hooks` names `nope`, which is not a configured hook",
        "line 18: rule `respond`: `severity_at_least` `severe` is not informational, low, medium or high",
        "line 18: rule `respond`: `title` is not a valid pattern",
        "line 18: rule `respond`: `tenant` `nowhere` is not a configured tenant (they are: lab)",
        "line 18: rule `respond`: parameter `y`: `{{ params.z }}`: `{{ params.z }}` is not an alert field",
        "line 18: rule `respond`: parameter `x` needs alert field `nope`, which hook `mde` (defender format) cannot provide",
        "line 18: rule `respond`: parameter `x` needs alert field `nope`, which hook `g` (generic format) cannot provide",
        "line 18: rule `respond`: parameter `x` is not declared by playbook `alert-response`",
        "line 18: rule `respond`: playbook `alert-response` needs alert field `process_name`, which hook `g` (generic format) cannot provide",
        "line 18: rule `respond`: playbook `alert-response` needs alert field `file_path`, which hook `g` (generic format) cannot provide",
        "line 25: rule `missing`: `playbook` `no-such` is not in",
    ];
    for want in expected {
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "missing {want:?} in:\n{}",
            problems.join("\n")
        );
    }
    assert_eq!(problems.len(), expected.len(), "{}", problems.join("\n"));
}
