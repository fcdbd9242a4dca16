//! Command-line flags of `fleetlr sim` and the settings they resolve to.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `fleetlr sim`. Every duration is in *simulated* time and is divided by `--speedup`
/// to get wall-clock time, except the token lifetime (clients compute expiry on their own clock).
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to serve HTTPS on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Number of generated devices (added to those a scenario lists explicitly).
    #[arg(long, default_value_t = 50)]
    pub devices: usize,
    /// Seed for everything random (device ids, schedules, script outcomes, file contents).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Time speed-up factor: simulated durations are divided by this (60 = one minute per second).
    #[arg(long, default_value_t = 1.0, value_parser = parse_speedup)]
    pub speedup: f64,
    /// runliveresponse calls accepted in any sliding 60 s window (per app and tenant).
    #[arg(long, default_value_t = 10)]
    pub rate_limit_per_minute: u32,
    /// Concurrent live response sessions per tenant (25 in older docs, 50 in current ones).
    #[arg(long, default_value_t = 25)]
    pub max_sessions: u32,
    /// Whether Pending actions (queued for offline devices) hold a session slot (observed: yes).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pending_counts_as_session: bool,
    /// How long MDE queues an action for an offline device before it times out (3d older docs,
    /// 2h current ones).
    #[arg(long, default_value = "3d", value_parser = parse_duration)]
    pub offline_queue_ttl: Duration,
    /// Calls per sliding minute accepted on each endpoint other than runliveresponse.
    #[arg(long, default_value_t = 100)]
    pub api_limit_per_minute: u32,
    /// Calls per sliding hour accepted on each endpoint other than runliveresponse.
    #[arg(long, default_value_t = 1500)]
    pub api_limit_per_hour: u32,
    /// Largest library upload accepted, in bytes (20 MB per the API page; the portal says 250 MB).
    #[arg(long, default_value_t = 20 * 1024 * 1024)]
    pub library_max_bytes: u64,
    /// Largest page of a collection before `@odata.nextLink` is returned (documented maximum 10000).
    #[arg(long, default_value_t = 10_000)]
    pub page_size: usize,
    /// Lifetime of issued access tokens, in wall-clock time (Entra ID issues one hour).
    #[arg(long, default_value = "3599s", value_parser = parse_duration)]
    pub token_lifetime: Duration,
    /// How far the service's clock is ahead of this host's, in seconds (negative: behind), as
    /// every answer's `Date` header shows it: for testing clock checks.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub clock_skew_secs: i64,
    /// Whether 429 responses carry `Retry-After` (documented, but clients fall back when absent).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub send_retry_after: bool,
    /// Whether refused (429) runliveresponse calls also use up the sliding window.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub count_refused_calls: bool,
    /// Refuse script arguments containing `; & | ! $ ( )`, as the portal does (unconfirmed for the API).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub reject_special_args: bool,
    /// Scenario YAML: devices, tags, groups, schedules, script behaviours, files, faults, apps.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Directory holding the generated CA and server certificate; reused when present.
    #[arg(long, default_value = "./data/sim-tls")]
    pub tls_dir: PathBuf,
    /// Tenant id the simulated Entra ID accepts.
    #[arg(long, default_value = "00000000-0000-4000-8000-00000000f1ee")]
    pub tenant_id: String,
    /// Client (application) id of the default app, which holds every permission.
    #[arg(long, default_value = "11111111-1111-4111-8111-111111111111")]
    pub client_id: String,
    /// Client secret of the default app.
    #[arg(
        long,
        env = "FLEETLR_SIM_CLIENT_SECRET",
        default_value = "sim-secret",
        hide_env_values = true
    )]
    pub client_secret: String,
}

impl Default for SimArgs {
    fn default() -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: SimArgs,
        }
        // Parsing an empty command line applies exactly the documented defaults, so the
        // library and the CLI cannot drift apart.
        let mut args = Wrapper::parse_from(["sim"]).args;
        args.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        args
    }
}

fn parse_speedup(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 1.0 => Ok(value),
        _ => Err(format!(
            "speedup must be a number of at least 1, got `{text}`"
        )),
    }
}

/// Parses durations such as `500ms`, `30s`, `10m`, `2h`, `3d` (a bare number means seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30s, 10m, 2h or 3d"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in `{text}`; use ms, s, m, h or d"
            ));
        }
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("`{text}` is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(259_200)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("12"), Ok(Duration::from_secs(12)));
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn defaults_match_the_documented_limits() {
        let args = SimArgs::default();
        assert_eq!(args.rate_limit_per_minute, 10);
        assert_eq!(args.max_sessions, 25);
        assert_eq!(args.offline_queue_ttl, Duration::from_secs(3 * 86_400));
        assert_eq!(args.listen.port(), 0);
    }
}
