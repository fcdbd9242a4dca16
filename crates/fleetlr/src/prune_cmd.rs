//! `fleetlr prune --older-than 90d --config FILE`: removes runs that ended before then, with
//! their records and collected files, from the daemon's data directory (the daemon may be
//! running). Open runs and the audit log are never removed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use fleetlr_store::Store;

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove runs that ended longer ago than this (e.g. 90d, 12h); default: the
    /// configuration's `retention.keep_runs_for`.
    #[arg(long)]
    older_than: Option<String>,
    #[arg(long, default_value = "config/dev.yaml")]
    config: PathBuf,
}

pub fn run(args: &PruneArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(&args.config)?;
    let older_than = match (&args.older_than, config.retention) {
        (Some(text), _) => fleetlr_playbook::parse_duration(text).with_context(|| {
            format!("`--older-than {text}` is not a period; write e.g. 90d, 12h or 30m")
        })?,
        (None, Some(retention)) => retention.keep_runs_for,
        (None, None) => anyhow::bail!(
            "give --older-than (e.g. 90d), or `retention.keep_runs_for` in {}",
            args.config.display()
        ),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let database = config.data_dir.join("fleetlr.db");
        anyhow::ensure!(
            database.is_file(),
            "no database at {}: nothing to prune (is `data_dir` right?)",
            database.display()
        );
        let store = Store::open(&database)
            .await
            .with_context(|| format!("opening {}", database.display()))?;
        let report = fleetlr_engine::retention::prune(
            &store,
            &config.data_dir.join("artifacts"),
            older_than,
        )
        .await?;
        println!(
            "removed {} runs that ended more than {} ago ({} with collected files)",
            report.runs.len(),
            fleetlr_playbook::format_duration(older_than),
            report.artifact_dirs
        );
        Ok(ExitCode::SUCCESS)
    })
}
