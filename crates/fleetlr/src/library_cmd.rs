//! `fleetlr library list|sync --config FILE`: the tenants' live response libraries against the
//! scripts beside the playbooks (`playbooks_dir/scripts/`), compared by SHA-256. `sync` uploads
//! only what differs, as the daemon does before each run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use fleetlr_engine::PlaybookDir;
use fleetlr_engine::budget::ApiBudget;
use fleetlr_engine::library_sync::{self, Comparison, LibraryEntry, LocalFile};

use crate::config::{self, Config};

#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Every library file and every local script, and whether their SHA-256 match.
    List(LibraryArgs),
    /// Upload the scripts the library lacks or holds with other content; leave the rest.
    Sync(LibraryArgs),
}

#[derive(Debug, clap::Args)]
pub struct LibraryArgs {
    #[arg(long, default_value = "config/dev.yaml")]
    config: PathBuf,
    /// Only this tenant (default: every configured tenant).
    #[arg(long)]
    tenant: Option<String>,
}

pub fn run(command: &LibraryCommand) -> anyhow::Result<ExitCode> {
    let (LibraryCommand::List(args) | LibraryCommand::Sync(args)) = command;
    let config = config::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let local = local_files(&config)?;
        let tenants: Vec<_> = config
            .tenants
            .iter()
            .filter(|t| args.tenant.as_ref().is_none_or(|name| *name == t.name))
            .collect();
        if tenants.is_empty() {
            anyhow::bail!(
                "no tenant named `{}` in {}",
                args.tenant.as_deref().unwrap_or_default(),
                args.config.display()
            );
        }
        for tenant in tenants {
            let (client, _simulator) = crate::tenants::connect(tenant).await?;
            let limits = tenant.limits();
            let budget = ApiBudget::new(
                limits.api_calls_per_minute,
                limits.api_calls_per_hour,
                limits.time_scale,
            )
            .for_tenant(&tenant.name);
            match command {
                LibraryCommand::List(_) => {
                    let library = budget
                        .call("libraryfiles.list", || client.list_library_files())
                        .await
                        .with_context(|| {
                            format!("tenant `{}`: listing the library", tenant.name)
                        })?;
                    println!("tenant {}:", tenant.name);
                    print!(
                        "{}",
                        entries_table(&library_sync::compare(&local, &library))
                    );
                }
                LibraryCommand::Sync(_) => {
                    let report = library_sync::sync_library(&client, &budget, &local)
                        .await
                        .with_context(|| {
                            format!("tenant `{}`: syncing the library", tenant.name)
                        })?;
                    println!(
                        "tenant {}: {} uploaded{}, {} unchanged",
                        tenant.name,
                        report.uploaded.len(),
                        if report.uploaded.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", report.uploaded.join(", "))
                        },
                        report.unchanged.len()
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Every script beside the playbooks.
fn local_files(config: &Config) -> anyhow::Result<Vec<LocalFile>> {
    let playbooks = PlaybookDir::new(
        config.playbooks_dir.clone(),
        config.max_library_file_bytes(),
    );
    let catalogue = playbooks
        .catalogue()
        .with_context(|| format!("reading {}", config.playbooks_dir.display()))?;
    let names: Vec<&str> = catalogue.files.keys().map(String::as_str).collect();
    playbooks
        .library_files(&names)
        .context("reading the playbooks' scripts")
}

fn entries_table(entries: &[LibraryEntry]) -> String {
    let short = |sha: &Option<String>| {
        sha.as_deref()
            .map_or_else(|| "-".to_owned(), |s| s.chars().take(12).collect())
    };
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                short(&e.local_sha256),
                short(&e.library_sha256),
                match e.comparison {
                    Comparison::Same => "same",
                    Comparison::Differs => "differs (sync replaces it)",
                    Comparison::NotInLibrary => "not in the library (sync uploads it)",
                    Comparison::NotLocal => "not a playbook script (left alone)",
                }
                .to_owned(),
            ]
        })
        .collect();
    crate::client_cmd::table(
        &["FILE", "LOCAL SHA-256", "LIBRARY SHA-256", "STATE"],
        &rows,
    )
}
