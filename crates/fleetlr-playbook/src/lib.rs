//! Playbooks: the YAML format a SOC engineer writes, its validation with
//! `file:line:column` messages, `{{ }}` templating, and the compilation of steps into Live
//! Response API calls that the engine executes.
//!
//! This crate also owns YAML parsing for the whole workspace (`yaml`), so that every YAML file
//! fleetlr reads (playbooks, daemon config, simulator scenarios) reports errors the same way.
//!
//! It is pure: no IO, no async, no clock, no environment. Callers read files and pass text
//! and file facts (a [`Catalogue`]) in; everything here is a function of its arguments.
//!
//! The path of a playbook: [`parse`] (text → checked [`Playbook`], or every [`Problems`]),
//! [`compile`] (steps → [`Call`]s), [`CompiledPlaybook::bind_parameters`] and [`render`] per
//! device at run time, [`estimate`] for planning, [`json_schema`] for editors.

mod compile;
mod diagnostic;
mod duration;
mod estimate;
mod model;
mod names;
mod parse;
mod read;
mod render;
mod rules;
mod schema;
mod template;
mod tree;
pub mod yaml;

pub use compile::{Call, CompiledPlaybook, compile};
pub use diagnostic::{Diagnostic, MAX_DIAGNOSTICS, Pos, Problems};
pub use duration::{format as format_duration, parse as parse_duration};
pub use estimate::{Estimate, Limits, call_duration, estimate};
pub use model::{
    Action, AlertField, Catalogue, FileFacts, LibraryFile, OnFailure, ParamKind, ParamValue,
    Parameter, Playbook, Priority, RunPolicy, Step,
};
pub use names::{LibraryName, StepId};
pub use parse::{MAX_PLAYBOOK_BYTES, decode_text, parse};
pub use render::{
    BindError, Command, RenderError, RenderedCall, RenderedCommand, TemplateContext, render,
};
pub use rules::FORBIDDEN_ARG_CHARS;
pub use schema::json_schema;
pub use template::{Part, Template, Var};
pub use tree::{MAX_DEPTH, MAX_NODES};

/// Reads, checks and compiles a playbook in one go: what `validate` and `plan` need.
pub fn load(origin: &str, text: &str, catalogue: &Catalogue) -> Result<CompiledPlaybook, Problems> {
    parse(origin, text, catalogue).map(compile)
}
