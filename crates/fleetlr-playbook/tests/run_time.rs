//! Run-time behaviour of a compiled playbook: binding parameters, rendering for one device,
//! and the planning estimate.

use std::collections::BTreeMap;
use std::time::Duration;

use fleetlr_playbook::{
    BindError, Catalogue, Command, CompiledPlaybook, FileFacts, Limits, ParamValue, RenderError,
    TemplateContext,
};

const PLAYBOOK: &str = r#"
name: sample
description: Exercises every template name.
parameters:
  process: {type: string}
  depth: {type: int, default: 2}
  mode: {type: enum, values: [quick, full], default: quick}
  target: {type: string, default: 'C:\Program Files\x'}
alert_fields:
  file: The alerted file
steps:
  - id: dump
    run_script: minidump.ps1
    args: '{{ params.process }} -Depth {{ params.depth }} -Mode {{ params.mode }} -Target {{ params.target | base64 }} -Run {{ run.id }}'
    expected_duration: 4m
  - id: fetch
    get_file: 'C:\out\{{ device.name }}-{{ device.id }}.zip'
  - id: alerted
    get_file: '{{ alert.file }}'
"#;

fn compiled() -> CompiledPlaybook {
    let mut catalogue = Catalogue::new("scripts");
    catalogue.files.insert(
        "minidump.ps1".into(),
        FileFacts {
            size: 10,
            sha256: "ab".into(),
        },
    );
    fleetlr_playbook::load("sample.yaml", PLAYBOOK, &catalogue).unwrap_or_else(|p| panic!("{p}"))
}

fn supplied(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn binding_fills_defaults_and_types_values() {
    let bound = compiled()
        .bind_parameters(&supplied(&[("process", "lsass"), ("depth", "5")]))
        .expect("bound");
    assert_eq!(bound["process"], ParamValue::String("lsass".into()));
    assert_eq!(bound["depth"], ParamValue::Int(5));
    assert_eq!(bound["mode"], ParamValue::String("quick".into()));
}

#[test]
fn binding_reports_every_problem() {
    let errors = compiled()
        .bind_parameters(&supplied(&[
            ("depth", "deep"),
            ("mode", "slow"),
            ("extra", "1"),
        ]))
        .expect_err("invalid");
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        vec![
            "playbook has no parameter `extra`",
            "parameter `process` is required",
            "parameter `depth`: `deep` is not a whole number",
            "parameter `mode`: `slow` is not one of quick, full",
        ]
    );
    let unsafe_value = compiled()
        .bind_parameters(&supplied(&[("process", "x;calc")]))
        .expect_err("unsafe");
    assert!(
        matches!(&unsafe_value[0], BindError::UnsafeArgument { name, .. } if name == "process"),
        "{unsafe_value:?}"
    );
}

#[test]
fn binding_refuses_a_get_file_path_that_could_never_be_collected() {
    let playbook = "name: fetch\ndescription: x\nparameters:\n  path: {type: string}\nsteps:\n  - id: fetch\n    get_file: '{{ params.path }}'\n";
    let fetch = fleetlr_playbook::load("fetch.yaml", playbook, &Catalogue::new("scripts"))
        .unwrap_or_else(|p| panic!("{p}"));
    let bind = |path: &str| fetch.bind_parameters(&supplied(&[("path", path)]));
    assert!(bind("C:\\Windows\\Temp\\x.log").is_ok());
    for path in [
        "C:\\x.log\0",
        "C:\\x\r\ny",
        "C:\\logs\\*.log",
        "\u{202e}gol.x\\:C",
        "C:\\a\u{200b}b",
    ] {
        let errors = bind(path).expect_err(path);
        assert!(
            matches!(&errors[0], BindError::UnsafePath { name, .. } if name == "path"),
            "{path:?}: {errors:?}"
        );
    }
    let errors = bind("").expect_err("empty");
    assert_eq!(
        errors[0].to_string(),
        "the parameters make a bad GetFile path: step `fetch`: GetFile path is empty"
    );
    let unsafe_argument = compiled().bind_parameters(&supplied(&[("process", "ls\u{202e}ass")]));
    assert!(
        unsafe_argument.is_err(),
        "a bidirectional override in an argument"
    );
}

#[test]
fn renders_every_name_for_one_device() {
    let compiled = compiled();
    let params = compiled
        .bind_parameters(&supplied(&[("process", "lsass")]))
        .expect("bound");
    let alert = BTreeMap::from([("file".to_owned(), r"C:\Users\bob\evil.exe".to_owned())]);
    let ctx = TemplateContext {
        run_id: "run-7",
        device_id: "m1",
        device_name: "ws1",
        params: &params,
        alert: Some(&alert),
    };
    let calls = fleetlr_playbook::render(&compiled, &ctx).expect("rendered");
    assert_eq!(calls.len(), 1, "run_script then two get_file fit one call");
    let commands: Vec<_> = calls[0]
        .commands
        .iter()
        .map(|c| (c.step_id.as_str(), &c.command))
        .collect();
    assert_eq!(
        commands,
        vec![
            (
                "dump",
                &Command::RunScript {
                    script_name: "minidump.ps1".into(),
                    // base64 of the UTF-8 bytes of `C:\Program Files\x`
                    args: Some(
                        "lsass -Depth 2 -Mode quick -Target QzpcUHJvZ3JhbSBGaWxlc1x4 -Run run-7"
                            .into()
                    ),
                }
            ),
            (
                "fetch",
                &Command::GetFile {
                    path: r"C:\out\ws1-m1.zip".into()
                }
            ),
            (
                "alerted",
                &Command::GetFile {
                    path: r"C:\Users\bob\evil.exe".into()
                }
            ),
        ]
    );
}

#[test]
fn rendering_refuses_missing_or_unsafe_run_time_values() {
    let compiled = compiled();
    let params = compiled
        .bind_parameters(&supplied(&[("process", "lsass")]))
        .expect("bound");
    let base = TemplateContext {
        run_id: "r",
        device_id: "m1",
        device_name: "ws1",
        params: &params,
        alert: None,
    };
    assert!(matches!(
        fleetlr_playbook::render(&compiled, &base),
        Err(RenderError::NoAlert { .. })
    ));

    let empty = BTreeMap::new();
    let no_field = TemplateContext {
        alert: Some(&empty),
        ..base
    };
    assert!(matches!(
        fleetlr_playbook::render(&compiled, &no_field),
        Err(RenderError::MissingAlertField { .. })
    ));

    let relative = BTreeMap::from([("file".to_owned(), "evil.exe".to_owned())]);
    let err = fleetlr_playbook::render(
        &compiled,
        &TemplateContext {
            alert: Some(&relative),
            ..base
        },
    )
    .expect_err("relative");
    assert_eq!(
        err.to_string(),
        "step `alerted`: GetFile path `evil.exe` is not absolute"
    );

    let alert = BTreeMap::from([("file".to_owned(), r"C:\x.exe".to_owned())]);
    let hostile_run = TemplateContext {
        run_id: "-Force",
        alert: Some(&alert),
        ..base
    };
    let err = fleetlr_playbook::render(&compiled, &hostile_run).expect_err("option injection");
    assert!(
        matches!(err, RenderError::UnsafeArgument { ref var, .. } if var == "run.id"),
        "{err}"
    );

    let tab_name = TemplateContext {
        device_name: "ws\t1",
        alert: Some(&alert),
        ..base
    };
    let err = fleetlr_playbook::render(&compiled, &tab_name).expect_err("control character");
    assert!(err.to_string().contains("TAB"), "{err}");
}

#[test]
fn estimate_takes_the_slower_bound_plus_one_device() {
    let compiled = compiled();
    let limits = Limits::default();
    // One call: 30 s overhead + 4 min script + 2 × 1 min default GetFile = 6.5 min.
    let chain = Duration::from_secs(390);
    let one = fleetlr_playbook::estimate(&compiled, 1, &limits);
    assert_eq!(
        (one.calls_per_device, one.total_calls, one.device_chain),
        (1, 1, chain)
    );
    assert_eq!(one.rate_bound, Duration::from_secs(6));
    assert_eq!(one.session_bound, Duration::from_secs(390 / 25));
    assert_eq!(one.wall_time, Duration::from_secs(15) + chain);

    let fleet = fleetlr_playbook::estimate(&compiled, 1_000, &limits);
    assert_eq!(
        fleet.rate_bound,
        Duration::from_secs(6_000),
        "1000 calls at 10/min"
    );
    assert_eq!(fleet.session_bound, Duration::from_secs(390 * 1_000 / 25));
    assert_eq!(fleet.bottleneck(), "sessions");
    assert_eq!(fleet.wall_time, Duration::from_secs(15_600) + chain);

    let zero = Limits {
        calls_per_minute: 0,
        max_sessions: 0,
        ..limits
    };
    assert_eq!(
        fleetlr_playbook::estimate(&compiled, 2, &zero).rate_bound,
        Duration::from_secs(120)
    );
}

#[test]
fn library_files_are_listed_once_for_syncing() {
    let files = compiled()
        .library_files()
        .iter()
        .map(|f| f.name.to_string())
        .collect::<Vec<_>>();
    assert_eq!(files, vec!["minidump.ps1"]);
}
