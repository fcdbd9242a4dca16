//! Rules: which alerts start which playbook. A rule matches on the hook an alert came through,
//! its severity, title and category patterns, and the device's tags; it names the playbook,
//! parameters templated from the alert (`{{ alert.title }}`), the priority, the tenant and a
//! cooldown (at most one run per device per period). Every rule that matches fires.

use std::collections::BTreeMap;
use std::time::Duration;

use fleetlr_playbook::Priority;
use regex::Regex;

use crate::mapping::{Alert, Severity};

/// Text with `{{ alert.NAME }}` substitutions, for rule parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTemplate {
    source: String,
    parts: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(String),
}

impl FieldTemplate {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("`{text}`: `{{{{` is never closed by `}}}}`"))?;
            let inner = after[..close].trim();
            let field = inner
                .strip_prefix("alert.")
                .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .ok_or_else(|| {
                    format!("`{text}`: `{{{{ {inner} }}}}` is not an alert field; write {{{{ alert.NAME }}}}, e.g. {{{{ alert.title }}}}")
                })?;
            parts.push(Piece::Field(field.to_owned()));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Piece::Text(rest.to_owned()));
        }
        Ok(Self {
            source: text.to_owned(),
            parts,
        })
    }

    /// The alert fields the template uses.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Piece::Field(name) => Some(name.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// The text with the fields filled in, or the first field the alert lacks.
    pub fn render(&self, fields: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Piece::Text(text) => out.push_str(text),
                Piece::Field(name) => out.push_str(fields.get(name).ok_or_else(|| name.clone())?),
            }
        }
        Ok(out)
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

/// A configured rule, checked.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// Hooks whose alerts it takes; empty: every hook.
    pub hooks: Vec<String>,
    pub severity_at_least: Option<Severity>,
    /// Searched in the title (anywhere, unless anchored).
    pub title: Option<Regex>,
    pub category: Option<Regex>,
    /// The device must carry at least one of these machine tags (looked up in MDE).
    pub device_tags: Vec<String>,
    pub playbook: String,
    pub parameters: BTreeMap<String, FieldTemplate>,
    pub priority: Priority,
    pub tenant: Option<String>,
    pub cooldown: Option<Duration>,
    /// The alert fields the playbook declares: an alert without one of them cannot run it.
    pub playbook_alert_fields: Vec<String>,
}

/// What a matching rule would start on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    pub parameters: BTreeMap<String, String>,
    pub alert_fields: BTreeMap<String, String>,
}

impl Rule {
    /// Whether the rule takes alerts from `hook`.
    pub fn takes(&self, hook: &str) -> bool {
        self.hooks.is_empty() || self.hooks.iter().any(|h| h == hook)
    }

    /// The checks that need nothing but the alert; `Err` says why the rule does not match.
    pub fn matches_alert(&self, alert: &Alert) -> Result<(), String> {
        if let Some(least) = self.severity_at_least {
            match alert.severity() {
                Some(severity) if severity >= least => {}
                Some(severity) => {
                    return Err(format!(
                        "severity {} is below {}",
                        severity.as_str(),
                        least.as_str()
                    ));
                }
                None => {
                    return Err(format!(
                        "severity `{}` is not informational, low, medium or high",
                        alert.field("severity").unwrap_or("(none)")
                    ));
                }
            }
        }
        for (what, pattern) in [("title", &self.title), ("category", &self.category)] {
            if let Some(pattern) = pattern {
                let value = alert.field(what).unwrap_or_default();
                if !pattern.is_match(value) {
                    return Err(format!("{what} `{value}` does not match `{pattern}`"));
                }
            }
        }
        Ok(())
    }

    /// The device-tag check, given the device's machine tags.
    pub fn matches_tags(&self, tags: &[String]) -> Result<(), String> {
        if self.device_tags.is_empty()
            || self
                .device_tags
                .iter()
                .any(|wanted| tags.iter().any(|t| t.eq_ignore_ascii_case(wanted)))
        {
            Ok(())
        } else {
            Err(format!(
                "the device carries none of the tags {} (it has: {})",
                self.device_tags.join(", "),
                if tags.is_empty() {
                    "none".to_owned()
                } else {
                    tags.join(", ")
                }
            ))
        }
    }

    /// The run's parameters and alert fields for a device whose alert fields are `fields`, or
    /// the field the alert lacks.
    pub fn fire(&self, fields: BTreeMap<String, String>) -> Result<Firing, String> {
        if let Some(missing) = self
            .playbook_alert_fields
            .iter()
            .find(|f| !fields.contains_key(*f))
        {
            return Err(format!(
                "the alert has no `{missing}`, which playbook `{}` needs",
                self.playbook
            ));
        }
        let mut parameters = BTreeMap::new();
        for (name, template) in &self.parameters {
            let value = template.render(&fields).map_err(|missing| {
                format!("the alert has no `{missing}` for parameter `{name}`")
            })?;
            parameters.insert(name.clone(), value);
        }
        Ok(Firing {
            parameters,
            alert_fields: fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::AlertDevice;

    fn alert(severity: &str, title: &str, category: &str) -> Alert {
        let fields: BTreeMap<String, String> = [
            ("id", "da1"),
            ("severity", severity),
            ("title", title),
            ("category", category),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Alert {
            id: "da1".into(),
            fields,
            devices: vec![AlertDevice {
                id: "m1".into(),
                fields: [("process_name".to_owned(), "invoice.exe".to_owned())]
                    .into_iter()
                    .collect(),
            }],
        }
    }

    fn rule() -> Rule {
        Rule {
            name: "contain".into(),
            hooks: vec!["mde".into()],
            severity_at_least: Some(Severity::Medium),
            title: Some(Regex::new("(?i)mimikatz|ransom").expect("regex")),
            category: Some(Regex::new("^CredentialAccess$").expect("regex")),
            device_tags: vec!["prod".into()],
            playbook: "alert-response".into(),
            parameters: [(
                "reason".to_owned(),
                FieldTemplate::parse("{{ alert.title }} ({{alert.id}})").expect("template"),
            )]
            .into_iter()
            .collect(),
            priority: Priority::Response,
            tenant: None,
            cooldown: None,
            playbook_alert_fields: vec!["process_name".into()],
        }
    }

    #[test]
    fn a_rule_matches_on_hook_severity_title_category_and_tags() {
        let rule = rule();
        assert!(rule.takes("mde") && !rule.takes("sentinel"));
        let good = alert("High", "Mimikatz credential theft tool", "CredentialAccess");
        assert_eq!(rule.matches_alert(&good), Ok(()));
        let low = alert("Low", "Mimikatz credential theft tool", "CredentialAccess");
        assert_eq!(
            rule.matches_alert(&low),
            Err("severity low is below medium".into())
        );
        let unknown = alert("UnSpecified", "Mimikatz", "CredentialAccess");
        assert!(rule.matches_alert(&unknown).is_err());
        let title = alert("High", "Suspicious PowerShell", "CredentialAccess");
        assert!(
            rule.matches_alert(&title)
                .expect_err("title")
                .starts_with("title `Suspicious PowerShell`")
        );
        let category = alert("High", "ransomware", "Execution");
        assert!(rule.matches_alert(&category).is_err());
        assert_eq!(rule.matches_tags(&["PROD".into(), "x".into()]), Ok(()));
        assert!(
            rule.matches_tags(&[])
                .expect_err("no tags")
                .contains("none")
        );
    }

    #[test]
    fn a_firing_rule_templates_its_parameters_from_the_alert_and_needs_the_playbooks_fields() {
        let rule = rule();
        let alert = alert("High", "Mimikatz", "CredentialAccess");
        let firing = rule
            .fire(alert.fields_for(&alert.devices[0]))
            .expect("fires");
        assert_eq!(firing.parameters["reason"], "Mimikatz (da1)");
        assert_eq!(firing.alert_fields["process_name"], "invoice.exe");
        assert_eq!(firing.alert_fields["device_id"], "m1");
        let err = rule.fire(alert.fields.clone()).expect_err("no process");
        assert!(err.contains("no `process_name`"), "{err}");
    }

    #[test]
    fn templates_only_take_alert_fields() {
        assert!(FieldTemplate::parse("plain").is_ok());
        let template = FieldTemplate::parse("{{ alert.a }}-{{ alert.b }}").expect("parses");
        assert_eq!(template.fields().collect::<Vec<_>>(), ["a", "b"]);
        assert!(
            FieldTemplate::parse("{{ params.x }}")
                .expect_err("not alert")
                .contains("not an alert field")
        );
        assert!(FieldTemplate::parse("{{ alert.title").is_err());
        assert!(FieldTemplate::parse("{{ alert. }}").is_err());
    }
}
