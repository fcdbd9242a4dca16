//! The `fleetlr` binary: the command-line edge of the workspace. It parses arguments, sets up
//! logging and hands over to the library crates; it holds no business logic of its own.

use clap::{Parser, Subcommand};

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
