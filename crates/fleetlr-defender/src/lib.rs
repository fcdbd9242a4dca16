//! The typed client of the Microsoft Defender for Endpoint API: live response, machine
//! actions, machines and the live response library, authenticated through `azure_identity`.
//!
//! It owns the wire: models tolerant of unknown values and missing fields, cloud endpoints,
//! custom CA trust, errors classified for callers (`retry_after()`, `is_busy()`,
//! `is_not_found()`, `is_transient()`, …), and streaming result downloads. It must never know
//! about playbooks or storage, and it never retries on its own except once on a 401 with a
//! fresh token: every other scheduling decision (waiting out a 429, coming back to a busy
//! device) belongs to the engine.

mod auth;
mod client;
mod cloud;
mod download;
mod error;
pub mod models;
pub mod odata;
mod tls;

pub use auth::{AzureTokenSource, Credential, TokenError, TokenSource};
pub use client::{ClientConfig, DEFAULT_SCOPE, DEFAULT_TIMEOUT, DefenderClient};
pub use cloud::{Cloud, Region};
pub use download::{Download, ResultEncoding};
pub use error::{ApiError, Error, ErrorKind};
pub use tls::https_client;
