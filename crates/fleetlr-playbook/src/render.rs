//! Turning a compiled playbook into the concrete commands for one device of one run.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::compile::CompiledPlaybook;
use crate::model::{Action, OnFailure, ParamKind, ParamValue};
use crate::names::StepId;
use crate::rules;
use crate::template::{Part, Template, Var};

/// The run-time values templates may use, for one device.
#[derive(Debug, Clone, Copy)]
pub struct TemplateContext<'a> {
    pub run_id: &'a str,
    pub device_id: &'a str,
    pub device_name: &'a str,
    /// Bound by [`CompiledPlaybook::bind_parameters`].
    pub params: &'a BTreeMap<String, ParamValue>,
    /// The fields the alert webhook provided, for alert-started runs.
    pub alert: Option<&'a BTreeMap<String, String>>,
}

/// One `runliveresponse` call ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedCall {
    pub commands: Vec<RenderedCommand>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedCommand {
    /// The playbook step this command runs, so its outcome maps back to the YAML.
    pub step_id: StepId,
    pub on_failure: OnFailure,
    pub command: Command,
}

/// A Live Response command with its parameters filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    PutFile {
        file_name: String,
    },
    /// `args` is `None` when the step has none, so the API call carries no `Args`.
    RunScript {
        script_name: String,
        args: Option<String>,
    },
    GetFile {
        path: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("parameter `{0}` has no value")]
    MissingParameter(String),
    #[error("step `{step}` uses `alert.{field}` but the run was not started by an alert")]
    NoAlert { step: StepId, field: String },
    #[error("alert field `{field}` is missing from the alert (step `{step}`)")]
    MissingAlertField { step: StepId, field: String },
    #[error("step `{step}`: `{var}` {problem}")]
    UnsafeArgument {
        step: StepId,
        var: String,
        problem: String,
    },
    #[error("step `{step}`: {problem}")]
    BadPath { step: StepId, problem: String },
}

/// Errors binding run parameters to a playbook's declarations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("playbook has no parameter `{0}`")]
    Unknown(String),
    #[error("parameter `{0}` is required")]
    Missing(String),
    #[error("parameter `{name}`: `{value}` is not {expected}")]
    Invalid {
        name: String,
        value: String,
        expected: String,
    },
    #[error("parameter `{name}` is used in script arguments but its value {problem}")]
    UnsafeArgument { name: String, problem: String },
    #[error("parameter `{name}` is used in a GetFile path but its value: {problem}")]
    UnsafePath { name: String, problem: String },
    #[error("the parameters make a bad GetFile path: {0}")]
    BadPath(RenderError),
}

impl CompiledPlaybook {
    /// Checks run parameters given as text (command line, JSON, webhook) against their
    /// declarations, filling in defaults. Reports every problem.
    pub fn bind_parameters(
        &self,
        supplied: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, ParamValue>, Vec<BindError>> {
        let mut errors: Vec<BindError> = supplied
            .keys()
            .filter(|name| !self.playbook.parameters.iter().any(|p| &p.name == *name))
            .map(|name| BindError::Unknown(name.clone()))
            .collect();
        let mut bound = BTreeMap::new();
        for parameter in &self.playbook.parameters {
            let name = &parameter.name;
            let value = match (supplied.get(name), &parameter.default) {
                (Some(text), _) => match typed(&parameter.kind, text) {
                    Ok(value) => value,
                    Err(expected) => {
                        let value = text.clone();
                        errors.push(BindError::Invalid {
                            name: name.clone(),
                            value,
                            expected,
                        });
                        continue;
                    }
                },
                (None, Some(default)) => default.clone(),
                (None, None) => {
                    errors.push(BindError::Missing(name.clone()));
                    continue;
                }
            };
            if let ParamValue::String(text) = &value {
                // Refused now rather than when each device's call is rendered, so a run that
                // could never send its commands is never accepted.
                let problem = if self.param_in(name, Slot::Args) {
                    rules::arg_value(text).map(|problem| BindError::UnsafeArgument {
                        name: name.clone(),
                        problem,
                    })
                } else {
                    None
                }
                .or_else(|| {
                    let flaw =
                        rules::path_chars(text).filter(|_| self.param_in(name, Slot::Path))?;
                    Some(BindError::UnsafePath {
                        name: name.clone(),
                        problem: flaw.message,
                    })
                });
                if let Some(problem) = problem {
                    errors.push(problem);
                    continue;
                }
            }
            bound.insert(name.clone(), value);
        }
        if errors.is_empty() {
            errors.extend(
                self.check_parameter_paths(&bound)
                    .err()
                    .map(BindError::BadPath),
            );
        }
        if errors.is_empty() {
            Ok(bound)
        } else {
            Err(errors)
        }
    }

    /// Renders every GetFile path made of parameters alone (no device, run or alert value), so
    /// a path that could never be collected is refused with the run rather than per device.
    fn check_parameter_paths(
        &self,
        params: &BTreeMap<String, ParamValue>,
    ) -> Result<(), RenderError> {
        let ctx = TemplateContext {
            run_id: "",
            device_id: "",
            device_name: "",
            params,
            alert: None,
        };
        for step in &self.playbook.steps {
            if let Action::GetFile { path } = &step.action
                && path.vars().all(|v| matches!(v, Var::Param(_)))
            {
                check_path(&fill(path, &ctx, &step.id, Slot::Path)?, &step.id)?;
            }
        }
        Ok(())
    }

    /// Whether parameter `name` is substituted into script arguments or a GetFile path.
    fn param_in(&self, name: &str, slot: Slot) -> bool {
        self.playbook.steps.iter().any(|s| {
            let template = match (&s.action, slot) {
                (
                    Action::RunScript {
                        args: Some(args), ..
                    },
                    Slot::Args,
                ) => args,
                (Action::GetFile { path }, Slot::Path) => path,
                _ => return false,
            };
            template
                .raw_vars()
                .any(|v| matches!(v, Var::Param(n) if n == name))
        })
    }
}

fn typed(kind: &ParamKind, text: &str) -> Result<ParamValue, String> {
    match kind {
        ParamKind::String => Ok(ParamValue::String(text.to_owned())),
        ParamKind::Int => text
            .trim()
            .parse()
            .map(ParamValue::Int)
            .map_err(|_| "a whole number".into()),
        ParamKind::Bool => match text.trim() {
            "true" => Ok(ParamValue::Bool(true)),
            "false" => Ok(ParamValue::Bool(false)),
            _ => Err("true or false".into()),
        },
        ParamKind::Enum(values) if values.iter().any(|v| v == text) => {
            Ok(ParamValue::String(text.to_owned()))
        }
        ParamKind::Enum(values) => Err(format!("one of {}", values.join(", "))),
    }
}

/// The calls for one device, with every template filled in and every substituted value
/// checked against the API's rules.
pub fn render(
    compiled: &CompiledPlaybook,
    ctx: &TemplateContext<'_>,
) -> Result<Vec<RenderedCall>, RenderError> {
    compiled
        .calls
        .iter()
        .map(|call| {
            let commands = call
                .commands
                .iter()
                .map(|step| {
                    let command = match &step.action {
                        Action::PutFile { file } => Command::PutFile {
                            file_name: file.name.to_string(),
                        },
                        Action::RunScript { script, args } => Command::RunScript {
                            script_name: script.name.to_string(),
                            args: args
                                .as_ref()
                                .map(|t| fill(t, ctx, &step.id, Slot::Args))
                                .transpose()?,
                        },
                        Action::GetFile { path } => {
                            let path = fill(path, ctx, &step.id, Slot::Path)?;
                            check_path(&path, &step.id)?;
                            Command::GetFile { path }
                        }
                    };
                    Ok(RenderedCommand {
                        step_id: step.id.clone(),
                        on_failure: step.on_failure,
                        command,
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(RenderedCall { commands })
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Args,
    Path,
}

fn fill(
    template: &Template,
    ctx: &TemplateContext<'_>,
    step: &StepId,
    slot: Slot,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(template.source.len());
    for part in &template.parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Base64(var) => out.push_str(&STANDARD.encode(value_of(var, ctx, step)?)),
            Part::Var(var) => {
                let value = value_of(var, ctx, step)?;
                if slot == Slot::Args
                    && let Some(problem) = rules::arg_value(&value)
                {
                    let var = var.to_string();
                    return Err(RenderError::UnsafeArgument {
                        step: step.clone(),
                        var,
                        problem,
                    });
                }
                out.push_str(&value);
            }
        }
    }
    Ok(out)
}

fn value_of(var: &Var, ctx: &TemplateContext<'_>, step: &StepId) -> Result<String, RenderError> {
    Ok(match var {
        Var::Param(name) => ctx
            .params
            .get(name)
            .ok_or_else(|| RenderError::MissingParameter(name.clone()))?
            .to_string(),
        Var::DeviceName => ctx.device_name.to_owned(),
        Var::DeviceId => ctx.device_id.to_owned(),
        Var::RunId => ctx.run_id.to_owned(),
        Var::Alert(field) => {
            let alert = ctx.alert.ok_or_else(|| RenderError::NoAlert {
                step: step.clone(),
                field: field.clone(),
            })?;
            alert
                .get(field)
                .ok_or_else(|| RenderError::MissingAlertField {
                    step: step.clone(),
                    field: field.clone(),
                })?
                .clone()
        }
    })
}

fn check_path(path: &str, step: &StepId) -> Result<(), RenderError> {
    let problem = rules::path_chars(path)
        .map(|flaw| flaw.message)
        .or_else(|| rules::path_shape(path).map(|(message, _)| message));
    match problem {
        Some(problem) => Err(RenderError::BadPath {
            step: step.clone(),
            problem,
        }),
        None => Ok(()),
    }
}
