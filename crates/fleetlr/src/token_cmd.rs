//! `fleetlr token create|list|revoke --config FILE`: API tokens, managed offline on the daemon's
//! database (the daemon may be running; SQLite serialises the writes). A new token is printed
//! once and only its hash is kept.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use fleetlr_store::{Role, Store};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (only this once).
    Create {
        /// A name for who uses it (a person, a SOAR, a script); recorded on everything it does.
        #[arg(long)]
        name: String,
        /// viewer (read), operator (also start and control runs, download artifacts), or admin.
        #[arg(long, value_parser = ["viewer", "operator", "admin"])]
        role: String,
        #[arg(long, default_value = "config/dev.yaml")]
        config: PathBuf,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long, default_value = "config/dev.yaml")]
        config: PathBuf,
    },
    /// Revoke a token by name; it stops working at once.
    Revoke {
        name: String,
        #[arg(long, default_value = "config/dev.yaml")]
        config: PathBuf,
    },
}

pub fn run(command: &TokenCommand) -> anyhow::Result<ExitCode> {
    let config = match command {
        TokenCommand::Create { config, .. }
        | TokenCommand::List { config }
        | TokenCommand::Revoke { config, .. } => config,
    };
    let config = crate::config::load(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let database = config.data_dir.join("fleetlr.db");
        let store = Store::open(&database)
            .await
            .with_context(|| format!("opening {}", database.display()))?;
        match command {
            TokenCommand::Create { name, role, .. } => {
                let role = Role::parse(role)?;
                if let Some(problem) = fleetlr_server::auth::token_name_problem(name) {
                    anyhow::bail!("token name `{name}`: {problem}");
                }
                let (token, hash) = fleetlr_server::auth::new_token();
                let by = format!(
                    "cli:{}",
                    std::env::var("USER").unwrap_or_else(|_| "someone".into())
                );
                store.create_token(name, role, &hash, &by).await?;
                println!("{token}");
                eprintln!(
                    "token `{name}` ({}) created; this is the only time it is shown",
                    role.as_str()
                );
            }
            TokenCommand::List { .. } => {
                for token in store.tokens().await? {
                    let state = token
                        .revoked_at
                        .map_or_else(|| "live".to_owned(), |at| format!("revoked {at}"));
                    println!(
                        "{:<24} {:<9} {} (by {}) {state}",
                        token.name,
                        token.role.as_str(),
                        token.created_at,
                        token.created_by
                    );
                }
            }
            TokenCommand::Revoke { name, .. } => {
                store.revoke_token(name).await?;
                println!("token `{name}` revoked");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
