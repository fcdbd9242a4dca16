//! The `fleetlr` command, built as a binary of the test package so end-to-end tests can start,
//! signal and kill -9 the real daemon (`CARGO_BIN_EXE_fleetlr-under-test`).

fn main() -> std::process::ExitCode {
    fleetlr::main()
}
