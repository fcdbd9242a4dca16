//! `fleetlr hooks …`: alert webhooks on a running daemon. `test` shows what a payload would do
//! (which rules fire, the runs they would create) without creating anything; `log` lists recent
//! deliveries with their outcome, reason and run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use fleetlr_server::api::{AlertDeliveryView, HookTest};

use crate::client_cmd::{Api, ServerArgs, print_value, runtime, table};

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Dry run: which rules a payload would fire and what runs they would create (nothing is created).
    Test {
        /// The hook, as configured under `hooks:`.
        name: String,
        /// A JSON file with the alert, as the hook's sender would post it.
        payload: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Recent deliveries to alert webhooks: outcome, reason and run, per device and rule.
    Log {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(command: &HooksCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        match command {
            HooksCommand::Test {
                name,
                payload,
                server,
            } => {
                let text = std::fs::read_to_string(payload)
                    .with_context(|| format!("reading {}", payload.display()))?;
                let body: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", payload.display()))?;
                let api = Api::new(server)?;
                let value = api
                    .call(
                        reqwest::Method::POST,
                        &format!("/api/v1/hooks/{name}/test"),
                        Some(&body),
                    )
                    .await?;
                let test: HookTest =
                    serde_json::from_value(value.clone()).context("reading the dry run")?;
                print_value(server.output, &value, || test_report(&test));
            }
            HooksCommand::Log { limit, server } => {
                let api = Api::new(server)?;
                let value = api
                    .call(
                        reqwest::Method::GET,
                        &format!("/api/v1/alerts?limit={limit}"),
                        None,
                    )
                    .await?;
                let log: Vec<AlertDeliveryView> =
                    serde_json::from_value(value.clone()).context("reading deliveries")?;
                print_value(server.output, &value, || log_table(&log));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn test_report(test: &HookTest) -> String {
    let mut out = String::new();
    if let Some(alert) = &test.alert {
        out.push_str(&format!(
            "alert {} on {}\n",
            alert.id,
            alert.devices.join(", ")
        ));
    }
    if let Some(reason) = &test.ignored {
        out.push_str(&format!("ignored: {reason}\n"));
    }
    for decision in &test.decisions {
        match &decision.run {
            Some(run) => {
                out.push_str(&format!(
                    "rule {} fires on {}: playbook {} ({} priority{}), started by `{}`\n",
                    decision.rule,
                    decision.device,
                    run.playbook,
                    run.priority,
                    run.cooldown
                        .as_ref()
                        .map(|c| format!(", cooldown {c}"))
                        .unwrap_or_default(),
                    run.started_by
                ));
                if let Some(history) = &decision.history {
                    out.push_str(&format!("  but now: {history}\n"));
                }
                for (name, value) in &run.parameters {
                    out.push_str(&format!("  param {name} = {value}\n"));
                }
                for (name, value) in &run.alert {
                    out.push_str(&format!("  alert.{name} = {value}\n"));
                }
            }
            None => out.push_str(&format!(
                "rule {} does not fire on {}: {}\n",
                decision.rule, decision.device, decision.reason
            )),
        }
    }
    out
}

fn log_table(log: &[AlertDeliveryView]) -> String {
    let cell = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = log
        .iter()
        .map(|d| {
            vec![
                d.received_at.clone(),
                d.hook.clone(),
                cell(&d.alert_id),
                cell(&d.device_id),
                cell(&d.rule),
                d.outcome.clone(),
                cell(&d.run_id),
                d.reason.clone(),
            ]
        })
        .collect();
    table(
        &[
            "RECEIVED", "HOOK", "ALERT", "DEVICE", "RULE", "OUTCOME", "RUN", "REASON",
        ],
        &rows,
    )
}
