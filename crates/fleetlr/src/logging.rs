//! Logs for the daemon: human-readable lines on standard error, filtered by `RUST_LOG`
//! (default `info`), or JSON lines when `FLEETLR_LOG_FORMAT=json`.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if std::env::var("FLEETLR_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already set (tests starting several daemons in one process): keep the first.
    drop(result);
}
