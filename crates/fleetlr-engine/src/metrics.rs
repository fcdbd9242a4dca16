//! What the engine reports to the process's metrics recorder (Prometheus, in the daemon).
//! Without a recorder these are no-ops, so tests and libraries pay nothing.

use fleetlr_defender::Error;

/// A call to the Defender API and how it ended: `ok`, the HTTP status, `network` or `token`.
pub fn api_call<T>(tenant: &str, endpoint: &'static str, result: &Result<T, Error>) {
    let outcome = match result {
        Ok(_) => "ok".to_owned(),
        Err(err) => match err.status() {
            Some(status) => status.to_string(),
            None if err.is_token_failure() => "token".to_owned(),
            None => "network".to_owned(),
        },
    };
    metrics::counter!(
        "fleetlr_api_calls_total",
        "tenant" => tenant.to_owned(),
        "endpoint" => endpoint,
        "outcome" => outcome,
    )
    .increment(1);
}

/// Sessions fleetlr holds in a tenant (Pending and InProgress actions, and uncertain ones).
pub fn sessions_in_use(tenant: &str, sessions: usize) {
    metrics::gauge!("fleetlr_sessions_in_use", "tenant" => tenant.to_owned()).set(sessions as f64);
}

/// `runliveresponse` calls in the current window, against the tenant's limit.
pub fn live_response_window(tenant: &str, used: usize, limit: u32) {
    metrics::gauge!("fleetlr_live_response_window_calls", "tenant" => tenant.to_owned())
        .set(used as f64);
    metrics::gauge!("fleetlr_live_response_window_limit", "tenant" => tenant.to_owned())
        .set(f64::from(limit));
}

/// Seconds from a run's creation to its first submission.
pub fn first_submission(tenant: &str, seconds: f64) {
    metrics::histogram!("fleetlr_run_first_submission_seconds", "tenant" => tenant.to_owned())
        .record(seconds);
}

/// Bytes of results written to the artifact directory.
pub fn result_bytes(tenant: &str, bytes: u64) {
    metrics::counter!("fleetlr_result_download_bytes_total", "tenant" => tenant.to_owned())
        .increment(bytes);
}

/// A delivery to an alert webhook and what became of it (`started`, `duplicate`, `suppressed`,
/// `ignored`, `refused`, `failed`), one per device and rule it concerned.
pub fn alert_delivery(hook: &str, outcome: &'static str) {
    metrics::counter!(
        "fleetlr_alert_deliveries_total",
        "hook" => hook.to_owned(),
        "outcome" => outcome,
    )
    .increment(1);
}
