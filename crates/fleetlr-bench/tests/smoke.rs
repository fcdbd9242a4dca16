//! The CI smoke test: the `tiny` scenario through the whole harness (simulator, the daemon as a
//! child process, both baselines, the report). Behaviour only: no figure is judged by speed.

use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tiny_scenario_runs_end_to_end_and_reports_sound_figures() {
    let scenario = fleetlr_bench::scenario::load("tiny").expect("tiny loads");
    let exe = Path::new(env!("CARGO_BIN_EXE_fleetlr-bench"));
    let report = fleetlr_bench::run_scenario(&scenario, exe)
        .await
        .expect("the scenario runs");
    assert_eq!(report.devices, 12);
    let names: Vec<&str> = report.strategies.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["fleetlr", "fire-and-retry", "sequential"]);
    let fleetlr = &report.strategies[0];
    assert_eq!(fleetlr.http_429, 0, "fleetlr caused no 429");
    assert!(fleetlr.peak_sessions <= 25);
    let bound = fleetlr.lower_bound.expect("a lower bound");
    // Ten devices online at some point, two calls each (stop-on-failure aside).
    assert!(bound.needed_calls >= 12, "{bound:?}");
    let efficiency = fleetlr.efficiency.expect("an efficiency");
    // No schedule beats the bound: above 1 the bound itself would be wrong.
    assert!(efficiency > 0.0 && efficiency <= 1.0, "{efficiency}");
    let daemon = fleetlr.daemon.expect("daemon usage");
    assert!(
        daemon.peak_rss_mib > 1.0 && daemon.cpu_secs > 0.0,
        "{daemon:?}"
    );
    assert!(report.strategies[2].projected_from == Some(3));
    // The greedy replay, under the platform's limits and under fleetlr's own.
    for replay in [
        "omniscient_greedy_replay_h",
        "omniscient_greedy_replay_within_fleetlr_limits_h",
    ] {
        let hours = fleetlr.extra.get(replay).copied().unwrap_or(0.0);
        // No schedule beats the bound, the replay included.
        assert!(
            hours * 3600.0 + 1e-6 >= bound.lower_bound_secs,
            "{replay}: {hours} h"
        );
    }
    assert!(report.wall_secs.is_some_and(|wall| wall > 0.0));
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.target == "the scenario runs in under 10 minutes"),
        "{:?}",
        report.checks
    );

    let out = tempfile::tempdir().expect("tempdir");
    fleetlr_bench::report_to(out.path(), &report).expect("report written");
    let md = std::fs::read_to_string(out.path().join("benchmarks.md")).expect("markdown");
    assert!(md.contains("## tiny") && md.contains("| fleetlr |"), "{md}");
    assert!(out.path().join("benchmarks/tiny.json").exists());
}
