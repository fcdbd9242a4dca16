//! Playbooks: the YAML model, validation with `file:line:column` messages, templating and the
//! compilation of steps into Live Response API calls.
//!
//! This crate also owns YAML parsing for the whole workspace (`yaml`), so that every YAML file
//! fleetlr reads (playbooks, daemon config, simulator scenarios) reports errors the same way.
//!
//! It is pure: no IO, no async, no clock. Callers read files and pass text in.

pub mod yaml;
