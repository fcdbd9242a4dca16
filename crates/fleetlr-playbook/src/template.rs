//! `{{ scope.name }}` templates in script arguments and GetFile paths.
//!
//! Deliberately tiny: substitution only, no conditions or loops, so what a playbook sends is
//! obvious from reading it. The one filter, `{{ name | base64 }}`, exists because script
//! arguments cannot carry spaces, quotes or `; & | ! $ ( )`: base64 lets any value through as
//! one safe argument that the script decodes. Names are resolved when the playbook is read, so
//! a template that parsed can only fail at render time for a missing or unsafe value.

use std::fmt;

use serde::Serialize;

/// A parsed template: literal text and the names substituted into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    /// The text as written in the playbook.
    pub source: String,
    pub parts: Vec<Part>,
    /// The character offset in `source` of each `Part::Text`, for precise messages.
    #[serde(skip)]
    text_offsets: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Text(String),
    /// `{{ name }}`: the value as it is.
    Var(Var),
    /// `{{ name | base64 }}`: the value's UTF-8 bytes in standard base64 with padding.
    Base64(Var),
}

/// A name a template can substitute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Var {
    /// `{{ params.NAME }}`: a declared playbook parameter.
    Param(String),
    /// `{{ device.name }}`: the device's DNS name as MDE knows it.
    DeviceName,
    /// `{{ device.id }}`: the MDE machine id.
    DeviceId,
    /// `{{ alert.FIELD }}`: a field the playbook declares under `alert_fields`.
    Alert(String),
    /// `{{ run.id }}`: fleetlr's run id.
    RunId,
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Var::Param(name) => write!(f, "params.{name}"),
            Var::DeviceName => f.write_str("device.name"),
            Var::DeviceId => f.write_str("device.id"),
            Var::Alert(field) => write!(f, "alert.{field}"),
            Var::RunId => f.write_str("run.id"),
        }
    }
}

/// The names a playbook declares, which are the only ones its templates may use.
pub(crate) struct Declared<'a> {
    pub params: &'a [String],
    pub alert_fields: &'a [String],
}

/// A problem at a character offset of the template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

const OPEN: &str = "{{";
const CLOSE: &str = "}}";

impl Template {
    /// Parses `text`, resolving every name against `declared`; reports every problem.
    pub(crate) fn parse(text: &str, declared: &Declared<'_>) -> Result<Self, Vec<TemplateError>> {
        let mut parts = Vec::new();
        let mut text_offsets = Vec::new();
        let mut errors = Vec::new();
        let mut rest = text;
        // Characters of `text` before `rest`, counted as we go so huge scalars stay linear.
        let mut consumed = 0;
        while let Some(open) = rest.find(OPEN) {
            if open > 0 {
                text_offsets.push(consumed);
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let offset = consumed + rest[..open].chars().count();
            let after_open = &rest[open + OPEN.len()..];
            let Some(close) = after_open.find(CLOSE) else {
                errors.push(TemplateError {
                    offset,
                    message: "`{{` is never closed by `}}`".into(),
                    hint: None,
                });
                rest = "";
                break;
            };
            match substitution(after_open[..close].trim(), declared) {
                Ok(part) => parts.push(part),
                Err((message, hint)) => errors.push(TemplateError {
                    offset,
                    message,
                    hint,
                }),
            }
            let used = open + OPEN.len() + close + CLOSE.len();
            consumed += rest[..used].chars().count();
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            text_offsets.push(consumed);
            parts.push(Part::Text(rest.to_owned()));
        }
        if errors.is_empty() {
            Ok(Self {
                source: text.to_owned(),
                parts,
                text_offsets,
            })
        } else {
            Err(errors)
        }
    }

    /// The names the template uses, in order.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) | Part::Base64(v) => Some(v),
            Part::Text(_) => None,
        })
    }

    /// The names substituted as they are (not encoded), whose values need checking.
    pub fn raw_vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Text(_) | Part::Base64(_) => None,
        })
    }

    /// The literal text pieces with their character offsets in `source`.
    pub(crate) fn literals(&self) -> impl Iterator<Item = (usize, &str)> {
        let texts = self.parts.iter().filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            Part::Var(_) | Part::Base64(_) => None,
        });
        self.text_offsets.iter().copied().zip(texts)
    }
}

fn substitution(inner: &str, declared: &Declared<'_>) -> Result<Part, (String, Option<String>)> {
    let Some((name, filter)) = inner.split_once('|') else {
        return resolve(inner, declared).map(Part::Var);
    };
    match filter.trim() {
        "base64" => resolve(name.trim(), declared).map(Part::Base64),
        other => Err((
            format!("unknown filter `{other}`"),
            Some("the only filter is base64, as in {{ params.path | base64 }}".into()),
        )),
    }
}

fn resolve(inner: &str, declared: &Declared<'_>) -> Result<Var, (String, Option<String>)> {
    const NAMES_HINT: &str =
        "names are params.NAME, device.name, device.id, alert.FIELD and run.id";
    let Some((scope, name)) = inner.split_once('.') else {
        return Err((
            format!("`{{{{ {inner} }}}}` is not a template name"),
            Some(NAMES_HINT.into()),
        ));
    };
    match (scope, name) {
        ("device", "name") => Ok(Var::DeviceName),
        ("device", "id") => Ok(Var::DeviceId),
        ("run", "id") => Ok(Var::RunId),
        ("params", name) if declared.params.iter().any(|p| p == name) => Ok(Var::Param(name.into())),
        ("params", name) => Err((
            format!("parameter `{name}` is not declared"),
            Some(match declared.params {
                [] => "declare it under `parameters`".to_owned(),
                names => format!("declared parameters: {}", names.join(", ")),
            }),
        )),
        ("alert", field) if declared.alert_fields.iter().any(|f| f == field) => {
            Ok(Var::Alert(field.into()))
        }
        ("alert", field) if declared.alert_fields.is_empty() => Err((
            format!("`alert.{field}` is used but the playbook declares no `alert_fields`"),
            Some("list the fields an alert webhook provides under `alert_fields`; only alert-started runs can use them".into()),
        )),
        ("alert", field) => Err((
            format!("alert field `{field}` is not declared"),
            Some(format!("declared alert fields: {}", declared.alert_fields.join(", "))),
        )),
        _ => Err((format!("`{{{{ {inner} }}}}` is not a template name"), Some(NAMES_HINT.into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> (Vec<String>, Vec<String>) {
        (vec!["process".into()], vec!["file_path".into()])
    }

    #[test]
    fn parses_names_and_literals() {
        let (params, alert_fields) = declared();
        let d = Declared {
            params: &params,
            alert_fields: &alert_fields,
        };
        let t = Template::parse(r"C:\x\{{params.process}}-{{ device.name }}.zip", &d)
            .expect("should succeed");
        assert_eq!(
            t.vars().cloned().collect::<Vec<_>>(),
            vec![Var::Param("process".into()), Var::DeviceName]
        );
        assert_eq!(
            t.literals().collect::<Vec<_>>(),
            vec![(0, r"C:\x\"), (23, "-"), (41, ".zip")]
        );
    }

    #[test]
    fn reports_every_bad_name_with_its_offset() {
        let (params, _) = declared();
        let d = Declared {
            params: &params,
            alert_fields: &[],
        };
        let base64 = Template::parse("{{ params.process | base64 }}", &d).expect("should succeed");
        assert_eq!(
            base64.parts,
            vec![Part::Base64(Var::Param("process".into()))]
        );
        assert!(Template::parse("{{ run.id | upper }}", &d).is_err());
        let errors = Template::parse("a {{ params.nope }} {{ alert.x }} {{ x }} {{ run.id", &d)
            .expect_err("should fail");
        let got: Vec<_> = errors
            .iter()
            .map(|e| (e.offset, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "parameter `nope` is not declared"),
                (
                    20,
                    "`alert.x` is used but the playbook declares no `alert_fields`"
                ),
                (34, "`{{ x }}` is not a template name"),
                (42, "`{{` is never closed by `}}`"),
            ]
        );
    }
}
