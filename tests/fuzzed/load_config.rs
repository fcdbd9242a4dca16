//! The configuration loader on any bytes: `${VAR}` interpolation, the YAML, then the semantic
//! checks, the webhooks and each tenant's limits. Nothing may panic; every refusal must say
//! something, and what passes the checks must hold what they promise the engine. Only the
//! light `fleetlr-config` is used, so the fuzz target builds quickly. Shared by the fuzz target
//! (`fuzz/fuzz_targets/load_config.rs`) and the mutation test in `tests/it/fuzz_corpus.rs`.

use std::path::Path;

use fleetlr_config::{Limits, ReferenceChecks};

/// Every rule's playbook: an alert field and a required parameter, so the rule checks have
/// something to compare against (the daemon reads the playbook directory instead).
const PLAYBOOK: &str = "name: fetch\nalert_fields:\n  file_path: the file\nparameters:\n  path:\n    type: string\n    description: the path\nsteps:\n  - id: fetch\n    get_file: '{{ alert.file_path }}'\n";

/// What the daemon would look at with its own crates (the simulator, the engine), answered
/// without them: every scenario and cron timing is taken as fine, every playbook is [`PLAYBOOK`].
struct Offline;

impl ReferenceChecks for Offline {
    fn scenario(&self, _path: &Path) -> Result<(), String> {
        Ok(())
    }

    fn timing(&self, _cron: &str, _timezone: &str) -> Result<(), String> {
        Ok(())
    }

    fn playbook(
        &self,
        _dir: &Path,
        _max_file_bytes: u64,
        name: &str,
    ) -> Result<fleetlr_playbook::Playbook, String> {
        fleetlr_playbook::load(name, PLAYBOOK, &fleetlr_playbook::Catalogue::new("scripts"))
            .map(|compiled| compiled.playbook)
            .map_err(|problems| format!("`playbook` `{name}` is invalid: {problems}"))
    }
}

pub fn load_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Variables are set or not by their name, so both paths are reached: the shipped files'
    // (upper case) are set, to values long enough for a hook's secret.
    let env = |name: &str| {
        if name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            Ok(format!("value of {name}"))
        } else {
            Err(std::env::VarError::NotPresent)
        }
    };
    // The shipped configurations' directory, so that their relative paths (the seeds') are
    // found and they pass the checks; the checks only look at files, never write.
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    match fleetlr_config::parse("fuzz.yaml", text, &base, env) {
        Ok(config) => {
            let problems = config.check_with(&Offline);
            assert!(problems.iter().all(|p| !p.is_empty()));
            // The daemon goes on only with a configuration that passed its checks.
            if !problems.is_empty() {
                return;
            }
            let (_webhooks, webhook_problems) = config.webhooks(&Offline);
            assert!(webhook_problems.is_empty(), "{webhook_problems:?}");
            for tenant in &config.tenants {
                assert_usable(&tenant.limits());
            }
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
}

/// What the engine relies on and the checks promise.
fn assert_usable(limits: &Limits) {
    let usable = limits
        .max_sessions
        .checked_sub(limits.sessions_kept_for_portal);
    assert!(
        usable.is_some_and(|usable| limits.sessions_reserved_for_response < usable),
        "{limits:?}"
    );
    assert!((0.0..=1.0).contains(&limits.pacing_margin), "{limits:?}");
    assert!(
        limits.time_scale.is_finite() && limits.time_scale >= 1.0,
        "{limits:?}"
    );
    assert!(
        limits.api_calls_per_minute > 0 && limits.api_calls_per_hour > 0,
        "{limits:?}"
    );
    assert!(
        !limits.poll_interval.is_zero() && !limits.busy_retry.is_zero(),
        "{limits:?}"
    );
    assert!(
        limits.offline_after >= limits.offline_after_min,
        "{limits:?}"
    );
    assert!(
        limits.offline_recheck_max >= limits.offline_recheck,
        "{limits:?}"
    );
}
