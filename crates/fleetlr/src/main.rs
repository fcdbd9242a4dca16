//! The `fleetlr` binary; everything is in the library (see `lib.rs`).

fn main() -> std::process::ExitCode {
    fleetlr::main()
}
