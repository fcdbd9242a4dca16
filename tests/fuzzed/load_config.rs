//! The configuration loader on any bytes: `${VAR}` interpolation, the YAML, then the semantic
//! checks and each tenant's kind. Nothing may panic; every refusal must say something.
//! Shared by the fuzz target (`fuzz/fuzz_targets/load_config.rs`) and the mutation test in
//! `tests/it/fuzz_corpus.rs`.

pub fn load_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Variables are set or not by their name, so both paths are reached.
    let env = |name: &str| {
        if name.len().is_multiple_of(2) {
            Ok(format!("value of {name}"))
        } else {
            Err(std::env::VarError::NotPresent)
        }
    };
    let base = std::path::Path::new("/nonexistent/fleetlr-fuzz");
    match fleetlr::config::parse("fuzz.yaml", text, base, env) {
        Ok(config) => {
            let problems = config.check();
            assert!(problems.iter().all(|p| !p.is_empty()));
            // The daemon goes on only with a configuration that passed its checks.
            if !problems.is_empty() {
                return;
            }
            for tenant in &config.tenants {
                let _ = tenant.limits();
                if let Err(err) = tenant.kind() {
                    assert!(!format!("{err:#}").is_empty());
                }
            }
        }
        Err(err) => assert!(!format!("{err:#}").is_empty()),
    }
}
