//! The benchmark harness: how close fleetlr comes to what the platform's limits allow, what it
//! costs to run, and how it compares with the ways people drive Live Response today.
//!
//! A scenario (`scenarios/*.yaml`) names a simulated fleet, a playbook and a time speed-up. The
//! harness starts the simulator in this process and the real daemon as a child process (this
//! very binary, started as `serve`: a release build, real HTTPS, SQLite on disk), runs the
//! scenario through the daemon's REST API, and judges it against the lower bound the documented
//! limits impose, computed from the simulator's own record (`bounds`). Baselines (`baseline`)
//! run the same fleet, seed for seed, on a fresh simulator. Figures go to JSON and a markdown
//! table (`report`).
//!
//! It never changes the simulator's behaviour to suit a strategy, and it measures time in the
//! tenant's simulated seconds, so a figure means the same at any speed-up.

mod baseline;
pub mod bounds;
mod daemon;
mod replay;
mod report;
mod run;
pub mod scenario;
mod sim;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

pub use report::Report;
pub use run::run_scenario;

/// Where the scenarios shipped with the harness live.
pub const SCENARIO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");

#[derive(Debug, Parser)]
#[command(
    name = "fleetlr-bench",
    about = "Run benchmark scenarios against the simulator and the real daemon",
    after_help = "Scenarios: fleet-1k, offline-heavy, response-under-load, scale-100k (and tiny, the CI smoke test), or a path to a scenario file. Build with --release: `cargo run --release -p fleetlr-bench -- fleet-1k`."
)]
struct Cli {
    /// Scenario names (files in crates/fleetlr-bench/scenarios) or paths.
    #[arg(required = true)]
    scenarios: Vec<String>,
    /// Where `benchmarks.md` and `benchmarks/<scenario>.json` are written.
    #[arg(long, default_value = "docs")]
    out: PathBuf,
    /// Also write the simulator's raw record of fleetlr's run (every action and command with
    /// its times, every device's offline windows) to DIR/<scenario>-{stats,devices}.json.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Run fleetlr only, not the baselines (quick iterations on the scheduler).
    #[arg(long)]
    fleetlr_only: bool,
}

/// The harness's command line.
pub fn cli() -> ExitCode {
    let cli = Cli::parse();
    let result = (|| -> anyhow::Result<()> {
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        let daemon = std::env::current_exe().context("finding this program")?;
        for name in &cli.scenarios {
            let mut scenario = scenario::load(name)?;
            scenario.record_to.clone_from(&cli.record);
            if cli.fleetlr_only {
                scenario.baselines = scenario::Baselines {
                    give_up_after: scenario.baselines.give_up_after,
                    ..scenario::Baselines::default()
                };
            }
            eprintln!("=== {}: {}", scenario.name, scenario.description);
            let report = runtime.block_on(run_scenario(&scenario, &daemon))?;
            println!("{}", report.markdown_section());
            report_to(&cli.out, &report)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes a report's JSON and rewrites `benchmarks.md` under `out`.
pub fn report_to(out: &std::path::Path, report: &Report) -> anyhow::Result<()> {
    report::write(out, report)
}
