//! The typed client of the Microsoft Defender for Endpoint API: live response, machine actions,
//! machines and the live response library, authenticated through `azure_identity`.
//!
//! It owns the wire: models tolerant of unknown values and missing fields, cloud endpoints,
//! custom CA trust, errors classified for callers (`retry_after()`, `is_busy()`,
//! `is_not_found()`, `is_transient()`), and streaming result downloads. It knows nothing of
//! playbooks or storage, and it never retries on its own except once on a 401 with a fresh
//! token: scheduling decisions belong to the engine.

mod auth;
mod client;
mod cloud;
mod error;
pub mod models;
pub mod odata;

pub use auth::{AzureTokenSource, Credential, TokenSource};
pub use client::{ClientConfig, DEFAULT_SCOPE, DefenderClient, Download, LibraryUpload};
pub use cloud::{Cloud, Region};
pub use error::{Error, ErrorKind};
