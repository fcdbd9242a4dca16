//! `fleetlr schedules …`: the daemon's cron schedules through its REST API, with each one's
//! next fire time.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use fleetlr_server::api::{NewSchedule, ScheduleView};
use serde_json::Value;

use crate::client_cmd::{Api, ServerArgs, TargetArgs, print_value, runtime, table};

#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// Every schedule with its next fire time and what became of its latest one.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Add a schedule: a playbook run at each fire time of a cron expression.
    Add(Box<AddArgs>),
    /// Remove a schedule added through the API (its runs stay).
    Remove {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Stop a schedule from firing.
    Pause {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Let a paused schedule fire again, from its next fire time on.
    Resume {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The schedule's name (letters, digits, `-`, `_`, `.`).
    name: String,
    /// Five fields: minute hour day-of-month month day-of-week, e.g. "0 2 * * *".
    #[arg(long)]
    cron: String,
    /// IANA time zone the expression is read in, e.g. Europe/Paris.
    #[arg(long, default_value = "UTC")]
    timezone: String,
    /// A playbook the daemon knows by name.
    #[arg(long)]
    playbook: String,
    /// Tenant name from the daemon's configuration (default: its first tenant).
    #[arg(long)]
    tenant: Option<String>,
    #[command(flatten)]
    targets: TargetArgs,
    /// Fire times missed while the daemon was down: fire the latest once, or skip them.
    #[arg(long, value_parser = ["run_once", "skip"], default_value = "run_once")]
    missed: String,
    /// A fire time while the previous run is still open: skip it, or fire when that run ends.
    #[arg(long, value_parser = ["skip", "queue"], default_value = "skip")]
    overlap: String,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(command: &SchedulesCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        match command {
            SchedulesCommand::List { server } => {
                let api = Api::new(server)?;
                let value = api
                    .call(reqwest::Method::GET, "/api/v1/schedules", None)
                    .await?;
                let schedules: Vec<ScheduleView> =
                    serde_json::from_value(value.clone()).context("reading schedules")?;
                print_value(server.output, &value, || schedules_table(&schedules));
            }
            SchedulesCommand::Add(args) => {
                let api = Api::new(&args.server)?;
                let body = serde_json::to_value(add_body(args)).context("encoding the request")?;
                let value = api
                    .call(reqwest::Method::POST, "/api/v1/schedules", Some(&body))
                    .await?;
                let added: ScheduleView =
                    serde_json::from_value(value.clone()).context("reading the schedule")?;
                print_value(args.server.output, &value, || {
                    format!(
                        "schedule {} added; next fire time {}\n",
                        added.name,
                        added.next_fire_at.as_deref().unwrap_or("none")
                    )
                });
            }
            SchedulesCommand::Remove { name, server } => {
                let api = Api::new(server)?;
                api.call(
                    reqwest::Method::DELETE,
                    &format!("/api/v1/schedules/{name}"),
                    None,
                )
                .await?;
                print_value(server.output, &Value::Null, || {
                    format!("schedule {name} removed\n")
                });
            }
            SchedulesCommand::Pause { name, server }
            | SchedulesCommand::Resume { name, server } => {
                let verb = if matches!(command, SchedulesCommand::Pause { .. }) {
                    "pause"
                } else {
                    "resume"
                };
                let api = Api::new(server)?;
                let value = api
                    .call(
                        reqwest::Method::POST,
                        &format!("/api/v1/schedules/{name}/{verb}"),
                        Some(&serde_json::json!({})),
                    )
                    .await?;
                let schedule: ScheduleView =
                    serde_json::from_value(value.clone()).context("reading the schedule")?;
                print_value(server.output, &value, || {
                    format!("schedule {}: {}\n", schedule.name, next_fire(&schedule))
                });
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn add_body(args: &AddArgs) -> NewSchedule {
    NewSchedule {
        name: args.name.clone(),
        cron: args.cron.clone(),
        timezone: Some(args.timezone.clone()),
        playbook: args.playbook.clone(),
        tenant: args.tenant.clone(),
        targets: args.targets.targets(Vec::new()),
        parameters: args.targets.parameters(),
        priority: args.targets.priority.clone(),
        missed: Some(args.missed.clone()),
        overlap: Some(args.overlap.clone()),
    }
}

fn next_fire(schedule: &ScheduleView) -> String {
    match (&schedule.next_fire_at, schedule.paused) {
        (_, true) => "paused".into(),
        (Some(at), false) => format!("next {at}"),
        (None, false) => "no next fire time".into(),
    }
}

fn schedules_table(schedules: &[ScheduleView]) -> String {
    let rows: Vec<Vec<String>> = schedules
        .iter()
        .map(|s| {
            let mut last = String::new();
            if let Some(firing) = &s.last_firing {
                let _ = write!(last, "{} {}", firing.fire_time, firing.outcome);
            }
            vec![
                s.name.clone(),
                format!("{} ({})", s.cron, s.timezone),
                s.playbook.clone(),
                if s.paused {
                    "paused".into()
                } else {
                    s.next_fire_at.clone().unwrap_or_default()
                },
                last,
                format!("missed {}, overlap {}", s.missed, s.overlap),
                s.source.clone(),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "CRON",
            "PLAYBOOK",
            "NEXT (UTC)",
            "LAST",
            "POLICIES",
            "FROM",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        add: AddArgs,
    }

    #[test]
    fn add_takes_the_same_target_flags_as_run() {
        let cli = Cli::try_parse_from([
            "add",
            "nightly",
            "--cron",
            "0 2 * * *",
            "--playbook",
            "collect-file",
            "--device",
            "a",
            "--tag",
            "prod",
            "--group",
            "7",
            "--filter",
            "osPlatform eq 'Linux'",
            "--param",
            "path=C:\\x",
            "--priority",
            "response",
        ])
        .expect("parses");
        let body = add_body(&cli.add);
        assert_eq!(body.targets.devices, ["a"]);
        assert_eq!(body.targets.tags, ["prod"]);
        assert_eq!(body.targets.rbac_group_ids, ["7"]);
        assert_eq!(
            body.targets.filter.as_deref(),
            Some("osPlatform eq 'Linux'")
        );
        assert_eq!(body.parameters["path"], "C:\\x");
        assert_eq!(body.priority.as_deref(), Some("response"));
        assert!(
            Cli::try_parse_from([
                "add",
                "n",
                "--cron",
                "x",
                "--playbook",
                "p",
                "--device-file",
                "f"
            ])
            .is_err()
        );
    }

    #[test]
    fn schedules_render_from_the_servers_json() {
        let schedules: Vec<ScheduleView> = serde_json::from_value(serde_json::json!([{
            "name": "nightly", "source": "config", "cron": "0 2 * * *", "timezone": "Europe/Paris",
            "playbook": "fleet-triage-windows", "tenant": null, "targets": {"tags": ["prod"]},
            "parameters": {}, "priority": null, "missed": "run_once", "overlap": "skip",
            "paused": false, "next_fire_at": "2026-12-02T01:00:00+00:00", "queued_fire_time": null,
            "last_firing": {"fire_time": "2026-12-01T01:00:00+00:00", "outcome": "fired",
                            "run_id": "r1", "detail": {}},
            "created_by": "config", "created_at": "t", "updated_at": "t"
        }]))
        .expect("the server's shape");
        assert_eq!(
            schedules_table(&schedules),
            "\
NAME     CRON                      PLAYBOOK              NEXT (UTC)                 LAST                             POLICIES                       FROM
nightly  0 2 * * * (Europe/Paris)  fleet-triage-windows  2026-12-02T01:00:00+00:00  2026-12-01T01:00:00+00:00 fired  missed run_once, overlap skip  config
"
        );
    }
}
