//! The typed client of the Microsoft Defender for Endpoint API: live response, machine
//! actions, machines and the live response library, authenticated through `azure_identity`.
//!
//! It owns the calls: cloud endpoints, custom CA trust, errors classified for callers
//! (`retry_after()`, `is_busy()`, `is_not_found()`, `is_transient()`, …), and streaming result
//! downloads; the models of the wire are `fleetlr-defender-models`, re-exported as `models`. It must never know
//! about playbooks or storage, and it never retries on its own except once on a 401 with a
//! fresh token: every other scheduling decision (waiting out a 429, coming back to a busy
//! device) belongs to the engine.
//!
//! Pointing it at the simulator (or any custom host behind a private CA):
//!
//! ```no_run
//! # async fn example() -> Result<(), fleetlr_defender::Error> {
//! use fleetlr_defender::odata::{Filter, ODataQuery};
//! use fleetlr_defender::{ClientConfig, Cloud, Credential, DefenderClient};
//!
//! let mut config = ClientConfig::new(
//!     Cloud::Custom {
//!         api_base: "https://127.0.0.1:8443".into(),
//!         authority_host: "https://127.0.0.1:8443".into(),
//!     },
//!     "tenant-id",
//!     "client-id",
//!     Credential::ClientSecret("client-secret".to_owned().into()),
//! );
//! config.extra_ca_pem = Some(std::fs::read_to_string("tls/ca.pem").unwrap_or_default());
//! let client = DefenderClient::new(config)?;
//! let servers = client
//!     .list_all_machines(&ODataQuery::new().filter(Filter::has_tag("prod")))
//!     .await?;
//! # let _ = servers;
//! # Ok(())
//! # }
//! ```

mod auth;
mod chunked;
mod client;
mod download;
mod error;
pub mod odata;
mod tls;

pub use auth::{AzureTokenSource, Credential, TokenSource};
pub use client::{ClientConfig, DEFAULT_SCOPE, DEFAULT_TIMEOUT, DefenderClient};
pub use download::{Download, ResultEncoding};
pub use error::Error;
/// The wire models, from their own crate so that parsing can be built without the client.
pub use fleetlr_defender_models as models;
pub use fleetlr_defender_models::{ApiError, Cloud, ErrorKind, Region, TokenError, classify};
pub use tls::https_client;
