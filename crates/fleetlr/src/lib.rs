//! The `fleetlr` command line: the edge of the workspace. It parses arguments, reads files,
//! sets up logging and hands over to the library crates; it holds no business logic of its own.
//! It is a library with a one-line binary (`main.rs`) so the end-to-end tests in `tests/` can
//! build the very same command as a binary of their own and kill it at will.

use clap::{Parser, Subcommand};

mod client_cmd;
pub mod config;
mod doctor;
mod hooks_cmd;
mod library_cmd;
mod logging;
mod playbook_cmd;
mod prune_cmd;
mod schedules_cmd;
mod serve;
mod sim;
mod tenants;
mod token_cmd;

#[derive(Debug, Parser)]
#[command(name = "fleetlr", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: the scheduler and the REST API, as the configuration says.
    Serve(serve::ServeArgs),
    /// Start a playbook run on the daemon (see `fleetlr run --help` for exit codes).
    Run(client_cmd::RunArgs),
    /// List, show and control runs on the daemon.
    #[command(subcommand)]
    Runs(client_cmd::RunsCommand),
    /// Alert webhooks on the daemon: dry-run a payload, list recent deliveries.
    #[command(subcommand)]
    Hooks(hooks_cmd::HooksCommand),
    /// Download collected files from the daemon.
    #[command(subcommand)]
    Artifacts(client_cmd::ArtifactsCommand),
    /// Print a shell completion script: `fleetlr completions bash > /etc/bash_completion.d/fleetlr`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// List, add, remove, pause and resume cron schedules on the daemon.
    #[command(subcommand)]
    Schedules(schedules_cmd::SchedulesCommand),
    /// Compare the tenants' live response libraries with the playbooks' scripts, or sync them.
    #[command(subcommand)]
    Library(library_cmd::LibraryCommand),
    /// Check each tenant (token, permissions, library, clock) and the storage; say what to fix.
    Doctor(doctor::DoctorArgs),
    /// Remove runs (records and collected files) that ended longer ago than a period.
    Prune(prune_cmd::PruneArgs),
    /// Create, list and revoke API tokens (on the daemon's database).
    #[command(subcommand)]
    Token(token_cmd::TokenCommand),
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

/// Runs the command line given to this process.
pub fn main() -> std::process::ExitCode {
    main_with(std::env::args_os())
}

/// Runs the command line `args` (the first is the program's name), for programs that embed the
/// daemon: the benchmark harness starts itself as `fleetlr serve`.
pub fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> std::process::ExitCode {
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::Run(args) => client_cmd::run(&args),
        Command::Runs(command) => client_cmd::runs(&command),
        Command::Schedules(command) => schedules_cmd::run(&command),
        Command::Library(command) => library_cmd::run(&command),
        Command::Doctor(args) => doctor::run(&args),
        Command::Prune(args) => prune_cmd::run(&args),
        Command::Token(command) => token_cmd::run(&command),
        Command::Hooks(command) => hooks_cmd::run(&command),
        Command::Artifacts(command) => client_cmd::artifacts(&command),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "fleetlr",
                &mut std::io::stdout(),
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
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
