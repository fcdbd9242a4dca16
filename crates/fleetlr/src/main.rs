//! The `fleetlr` binary: the command-line edge of the workspace. It parses arguments, sets up
//! logging and hands over to the library crates; it holds no business logic of its own.

use clap::{Parser, Subcommand};

mod playbook_cmd;
mod sim;

#[derive(Debug, Parser)]
#[command(name = "fleetlr", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a simulated Microsoft Defender for Endpoint API over HTTPS.
    Sim(fleetlr_sim::SimArgs),
    /// Check playbooks and report every problem as file:line:column.
    Validate(playbook_cmd::ValidateArgs),
    /// Show how a playbook compiles into API calls and how long a run would take.
    Plan(playbook_cmd::PlanArgs),
    /// Playbook format tools.
    #[command(subcommand)]
    Playbook(playbook_cmd::PlaybookCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim::run(args),
        Command::Validate(args) => playbook_cmd::validate(&args),
        Command::Plan(args) => playbook_cmd::plan(&args),
        Command::Playbook(command) => Ok(playbook_cmd::schema(&command)),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
