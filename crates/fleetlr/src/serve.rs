//! `fleetlr serve`: the daemon. Reads the configuration, opens the store, starts simulated
//! tenants in-process when asked, starts the engine and the HTTP API, and on SIGTERM or Ctrl-C
//! stops submitting, lets result captures finish within the grace period, and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use fleetlr_engine::{Engine, EngineSetup, PlaybookDir, TenantSetup};
use fleetlr_store::Store;

use crate::config::{self, Config, DaemonConfig};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The configuration file (see config/fleetlr.yaml for every key).
    #[arg(long, default_value = "config/dev.yaml")]
    config: PathBuf,
}

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = config::load(&args.config)?;
    let problems = config.check();
    if !problems.is_empty() {
        bail!(
            "{} is not a usable configuration:\n  {}",
            args.config.display(),
            problems.join("\n  ")
        );
    }
    crate::logging::init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    // Histogram samples pile up in the recorder until upkeep folds them in; nobody has to
    // scrape `/metrics` for memory to stay flat.
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let database = config.data_dir.join("fleetlr.db");
    let store = Store::open(&database)
        .await
        .with_context(|| format!("opening {}", database.display()))?;
    store
        .integrity_check()
        .await
        .with_context(|| format!("checking {}", database.display()))?;
    bootstrap_admin(&store, &config.data_dir).await?;
    // No delivery of an earlier process can still be creating a run: their claims are free.
    let expired = store
        .expire_claim_leases()
        .await
        .context("freeing alert claims left by the previous run")?;
    if expired > 0 {
        tracing::info!(
            expired,
            "alert claims left unfinished by the previous process are free again"
        );
    }
    let mut simulators = Vec::new();
    let mut tenants = Vec::new();
    for tenant in &config.tenants {
        let (client, simulator) = crate::tenants::connect(tenant).await?;
        simulators.extend(simulator);
        tenants.push(TenantSetup {
            name: tenant.name.clone(),
            client,
            limits: tenant.limits(),
        });
    }
    let engine = Engine::start(
        store,
        EngineSetup {
            tenants,
            playbooks: PlaybookDir::new(
                config.playbooks_dir.clone(),
                config.max_library_file_bytes(),
            ),
            artifacts_dir: config.data_dir.join("artifacts"),
        },
    );
    engine
        .configure_schedules(&config.schedule_defs())
        .await
        .context("storing the configured schedules")?;
    engine.start_schedules();
    if let Some(retention) = config.retention {
        engine.start_retention(retention.keep_runs_for, retention.prune_every);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    // Scripts and tests read this line to find the daemon (the port may be chosen by the OS).
    println!("fleetlr listening on http://{address}");
    tracing::info!(%address, data = %config.data_dir.display(), "fleetlr is serving");
    let app = fleetlr_server::router(
        engine.clone(),
        fleetlr_server::ServerOptions {
            metrics: Some(metrics),
            hooks: std::sync::Arc::new(config.hook_setup()),
        },
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    let grace = config.shutdown_grace;
    tracing::info!(
        ?grace,
        "stopping: no new submissions; in-flight actions resume at the next start"
    );
    engine.shutdown(grace).await;
    for sim in simulators {
        sim.shutdown();
    }
    Ok(ExitCode::SUCCESS)
}

/// On a database without tokens nobody could use the API: create an `admin` token and leave it
/// in `<data_dir>/admin.token` (readable by this user only) for the operator and the CLI to pick
/// up. The token is never logged. The file is written before the hash is stored, so a crash in
/// between leaves no token nobody has.
async fn bootstrap_admin(store: &Store, data_dir: &std::path::Path) -> anyhow::Result<()> {
    if !store.tokens().await?.is_empty() {
        return Ok(());
    }
    let (token, hash) = fleetlr_server::auth::new_token();
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    write_private(&path, &format!("{token}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    store
        .create_token("admin", fleetlr_store::Role::Admin, &hash, "bootstrap")
        .await
        .context("storing the first admin token")?;
    tracing::info!(file = %path.display(), "created the first admin token (`fleetlr token create` makes more)");
    Ok(())
}

/// Where `serve` leaves the first admin token, under the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let partial = path.with_extension("partial");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&partial)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
