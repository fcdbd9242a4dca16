//! `fleetlr-bench SCENARIO...`: runs benchmark scenarios and writes their figures. Started as
//! `fleetlr-bench serve …` it is the daemon itself (the harness starts itself that way, so the
//! daemon it measures is this very release build).

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|arg| arg == "serve") {
        return fleetlr::main_with(std::env::args_os());
    }
    fleetlr_bench::cli()
}
