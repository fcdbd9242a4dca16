//! `hooks:` and `rules:` of the configuration: alert webhooks (a name, a credential, a payload
//! format) and the rules that turn their alerts into runs. Building the [`Webhooks`] the server
//! runs and checking the configuration are one pass ([`build`]), so what `validate --config`
//! accepts is exactly what `serve` runs: credentials, JSON pointers, patterns and templates
//! parsed, every rule's playbook read, and every alert field a playbook or parameter needs
//! checked against what the hook's format can provide.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use fleetlr_hooks::{FieldTemplate, Format, Mapping, Pointer, Rule, Severity};
use fleetlr_playbook::Priority;
use http::HeaderName;
use regex::Regex;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::ReferenceChecks;
use crate::values::Period;

/// The configured hooks (with what each accepts as its credential) and rules.
#[derive(Debug, Default)]
pub struct Webhooks {
    pub hooks: Vec<HookSpec>,
    pub rules: Vec<Rule>,
}

/// One hook as the server is to run it.
#[derive(Debug)]
pub struct HookSpec {
    /// The last segment of its URL, `/hooks/{name}`.
    pub name: String,
    pub credential: HookCredential,
    pub mapping: Mapping,
}

/// How a hook's deliveries prove where they come from; what is not given is the server's
/// default.
#[derive(Debug)]
pub enum HookCredential {
    /// Signed with a shared secret (HMAC-SHA256 over the timestamp and the body).
    Hmac {
        secret: SecretString,
        signature_header: Option<HeaderName>,
        timestamp_header: Option<HeaderName>,
        max_skew: Option<Duration>,
    },
    /// A shared secret sent as a bearer token.
    Bearer(SecretString),
}

/// Shortest secret accepted: a guessable secret would make the hook an open door.
const MIN_SECRET_CHARS: usize = 16;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HookFile {
    name: String,
    format: FormatName,
    credential: CredentialFile,
    /// Extra alert fields: name → JSON pointer into the payload.
    #[serde(default)]
    fields: BTreeMap<String, String>,
    /// `generic` only: where the alert id and the device id(s) are.
    #[serde(default)]
    alert_id: Option<String>,
    #[serde(default)]
    device_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FormatName {
    Defender,
    Graph,
    Sentinel,
    Generic,
}

impl FormatName {
    /// The built-in format, or `None` for `generic` (which needs its pointers).
    fn builtin(self) -> Option<Format> {
        match self {
            Self::Defender => Some(Format::Defender),
            Self::Graph => Some(Format::Graph),
            Self::Sentinel => Some(Format::Sentinel),
            Self::Generic => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialFile {
    #[serde(default)]
    hmac: Option<HmacFile>,
    #[serde(default)]
    bearer: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HmacFile {
    secret: SecretString,
    #[serde(default)]
    signature_header: Option<String>,
    #[serde(default)]
    timestamp_header: Option<String>,
    #[serde(default)]
    max_skew: Option<Period>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleFile {
    name: String,
    #[serde(default)]
    hooks: Vec<String>,
    #[serde(default)]
    severity_at_least: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    device_tags: Vec<String>,
    playbook: String,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    cooldown: Option<Period>,
}

/// What the checks need from the rest of the configuration.
pub(super) struct Context<'a> {
    pub tenants: Vec<&'a str>,
    pub playbooks_dir: &'a Path,
    pub max_library_file_bytes: u64,
}

/// A hook or rule entry with the line it starts on, when it could be told.
pub(super) struct Entry<'a, T> {
    pub raw: &'a T,
    pub line: Option<usize>,
}

/// The hooks and rules as the server runs them, and every problem found on the way (each
/// naming the entry, its line and the key); the setup is only usable without problems.
pub(super) fn build(
    hooks: &[Entry<'_, HookFile>],
    rules: &[Entry<'_, RuleFile>],
    context: &Context<'_>,
    refs: &impl ReferenceChecks,
) -> (Webhooks, Vec<String>) {
    let mut problems = Vec::new();
    let mut built_hooks: Vec<HookSpec> = Vec::new();
    for (i, entry) in hooks.iter().enumerate() {
        let mut own = Vec::new();
        if hooks[..i].iter().any(|h| h.raw.name == entry.raw.name) {
            own.push(
                "the name is already used by an earlier hook: give each hook its own `name`"
                    .to_owned(),
            );
        }
        if let Some(hook) = hook(entry.raw, &mut own) {
            built_hooks.push(hook);
        }
        problems.extend(place("hook", &entry.raw.name, entry.line, own));
    }
    let mut built_rules = Vec::new();
    for (i, entry) in rules.iter().enumerate() {
        let mut own = Vec::new();
        if rules[..i].iter().any(|r| r.raw.name == entry.raw.name) {
            own.push(
                "the name is already used by an earlier rule: give each rule its own `name`"
                    .to_owned(),
            );
        }
        if let Some(rule) = rule(entry.raw, hooks, &built_hooks, context, refs, &mut own) {
            built_rules.push(rule);
        }
        problems.extend(place("rule", &entry.raw.name, entry.line, own));
    }
    (
        Webhooks {
            hooks: built_hooks,
            rules: built_rules,
        },
        problems,
    )
}

fn place(what: &str, name: &str, line: Option<usize>, problems: Vec<String>) -> Vec<String> {
    problems
        .into_iter()
        .map(|problem| match line {
            Some(line) => format!("line {line}: {what} `{name}`: {problem}"),
            None => format!("{what} `{name}`: {problem}"),
        })
        .collect()
}

fn hook(raw: &HookFile, problems: &mut Vec<String>) -> Option<HookSpec> {
    if !super::is_tenant_name(&raw.name) {
        problems.push(
            "`name` is the last segment of the hook's URL (/hooks/NAME): use only letters, digits, `-` and `_`, at most 64"
                .to_owned(),
        );
    }
    let credential = credential(&raw.credential, problems);
    let pointer = |key: &str, text: &str, problems: &mut Vec<String>| {
        Pointer::parse(text)
            .map_err(|err| problems.push(format!("`{key}`: {err}")))
            .ok()
    };
    let format = match raw.format.builtin() {
        None => {
            let alert_id = match &raw.alert_id {
                Some(text) => pointer("alert_id", text, problems),
                None => {
                    problems.push("a `generic` hook needs `alert_id`: the JSON pointer to the alert's id, e.g. /alert/id".into());
                    None
                }
            };
            let device_id = match &raw.device_id {
                Some(text) => pointer("device_id", text, problems),
                None => {
                    problems.push("a `generic` hook needs `device_id`: the JSON pointer to the MDE device id or computer name (or an array of them), e.g. /host/mdeDeviceId".into());
                    None
                }
            };
            alert_id
                .zip(device_id)
                .map(|(alert_id, device_id)| Format::Generic {
                    alert_id,
                    device_id,
                })
        }
        Some(named) => {
            for (key, given) in [
                ("alert_id", raw.alert_id.is_some()),
                ("device_id", raw.device_id.is_some()),
            ] {
                if given {
                    problems.push(format!("`{key}` is only for a `generic` hook: the built-in formats know where the alert id and devices are; remove it"));
                }
            }
            Some(named)
        }
    };
    let mut fields = BTreeMap::new();
    for (name, text) in &raw.fields {
        if !is_field_name(name) {
            problems.push(format!("field `{name}`: a field name is letters, digits and `_` (it is used as {{{{ alert.NAME }}}})"));
        }
        if let Some(pointer) = pointer(&format!("fields.{name}"), text, problems) {
            fields.insert(name.clone(), pointer);
        }
    }
    Some(HookSpec {
        name: raw.name.clone(),
        credential: credential?,
        mapping: Mapping {
            format: format?,
            fields,
        },
    })
}

fn credential(raw: &CredentialFile, problems: &mut Vec<String>) -> Option<HookCredential> {
    let weak = |key: &str, secret: &SecretString, problems: &mut Vec<String>| {
        if secret.expose_secret().chars().count() < MIN_SECRET_CHARS {
            problems.push(format!("`credential.{key}` is shorter than {MIN_SECRET_CHARS} characters: use a long random secret (e.g. `openssl rand -hex 32`), from an environment variable"));
        }
    };
    match (&raw.hmac, &raw.bearer) {
        (Some(hmac), None) => {
            weak("hmac.secret", &hmac.secret, problems);
            let mut header = |key: &str, given: &Option<String>| {
                given.as_ref().and_then(|text| {
                    HeaderName::from_bytes(text.as_bytes())
                        .map_err(|_| {
                            problems.push(format!(
                                "`credential.hmac.{key}` `{text}` is not an HTTP header name"
                            ));
                        })
                        .ok()
                })
            };
            let signature_header = header("signature_header", &hmac.signature_header);
            let timestamp_header = header("timestamp_header", &hmac.timestamp_header);
            if hmac.max_skew.is_some_and(|skew| skew.0.is_zero()) {
                problems.push("`credential.hmac.max_skew` is 0s: give the largest clock difference to accept, e.g. 5m".into());
            }
            Some(HookCredential::Hmac {
                secret: hmac.secret.clone(),
                signature_header,
                timestamp_header,
                max_skew: hmac.max_skew.map(|skew| skew.0),
            })
        }
        (None, Some(bearer)) => {
            weak("bearer", bearer, problems);
            Some(HookCredential::Bearer(bearer.clone()))
        }
        _ => {
            problems.push("give exactly one of `credential.hmac` (a signing secret) and `credential.bearer` (a bearer secret)".into());
            None
        }
    }
}

fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn rule(
    raw: &RuleFile,
    hook_files: &[Entry<'_, HookFile>],
    hooks: &[HookSpec],
    context: &Context<'_>,
    refs: &impl ReferenceChecks,
    problems: &mut Vec<String>,
) -> Option<Rule> {
    if !super::is_tenant_name(&raw.name) {
        problems.push("`name` may hold only letters, digits, `-` and `_` (it is recorded with every delivery): rename the rule".into());
    }
    for name in &raw.hooks {
        if !hook_files.iter().any(|h| &h.raw.name == name) {
            problems.push(format!(
                "`hooks` names `{name}`, which is not a configured hook"
            ));
        }
    }
    if hook_files.is_empty() {
        problems.push(
            "no hook is configured, so the rule can never fire: add one under `hooks:`".into(),
        );
    }
    let severity_at_least = raw.severity_at_least.as_deref().and_then(|text| {
        let severity = Severity::parse(text);
        if severity.is_none() {
            problems.push(format!(
                "`severity_at_least` `{text}` is not informational, low, medium or high"
            ));
        }
        severity
    });
    let pattern = |key: &str, text: &Option<String>, problems: &mut Vec<String>| {
        text.as_deref().and_then(|text| {
            Regex::new(text)
                .map_err(|err| problems.push(format!("`{key}` is not a valid pattern (Rust regex syntax; `(?i)` ignores case): {err}")))
                .ok()
        })
    };
    let title = pattern("title", &raw.title, problems);
    let category = pattern("category", &raw.category, problems);
    let priority = match raw.priority.as_deref() {
        None | Some("response") => Priority::Response,
        Some("collection") => Priority::Collection,
        Some(other) => {
            problems.push(format!(
                "`priority` `{other}` is not `response` or `collection`"
            ));
            Priority::Response
        }
    };
    if let Some(tenant) = &raw.tenant
        && !context.tenants.contains(&tenant.as_str())
    {
        problems.push(format!(
            "`tenant` `{tenant}` is not a configured tenant (they are: {})",
            context.tenants.join(", ")
        ));
    }
    if raw.cooldown.is_some_and(|c| c.0.is_zero()) {
        problems.push(
            "`cooldown` is 0s: give a period (e.g. 30m), or leave it out for no cooldown".into(),
        );
    }
    let mut parameters = BTreeMap::new();
    for (name, text) in &raw.parameters {
        match FieldTemplate::parse(text) {
            Ok(template) => {
                parameters.insert(name.clone(), template);
            }
            Err(err) => problems.push(format!("parameter `{name}`: {err}")),
        }
    }
    // The fields each hook this rule takes can provide.
    let taken: Vec<&HookSpec> = hooks
        .iter()
        .filter(|h| raw.hooks.is_empty() || raw.hooks.contains(&h.name))
        .collect();
    let needs_field = |field: &str, why: &str, problems: &mut Vec<String>| {
        for hook in &taken {
            if !hook.mapping.provides().contains(field) {
                problems.push(format!(
                    "{why} needs alert field `{field}`, which hook `{}` ({} format) cannot provide: add it to the hook's `fields` with a JSON pointer",
                    hook.name,
                    hook.mapping.format.name()
                ));
            }
        }
    };
    for (name, template) in &parameters {
        for field in template.fields() {
            needs_field(field, &format!("parameter `{name}`"), problems);
        }
    }
    let playbook_alert_fields = playbook_fields(raw, &parameters, context, refs, problems)?;
    for field in &playbook_alert_fields {
        needs_field(field, &format!("playbook `{}`", raw.playbook), problems);
    }
    Some(Rule {
        name: raw.name.clone(),
        hooks: raw.hooks.clone(),
        severity_at_least,
        title,
        category,
        device_tags: raw.device_tags.clone(),
        playbook: raw.playbook.clone(),
        parameters,
        priority,
        tenant: raw.tenant.clone(),
        cooldown: raw
            .cooldown
            .map(|c| c.0)
            .filter(|c: &Duration| !c.is_zero()),
        playbook_alert_fields,
    })
}

/// Reads the rule's playbook and checks the parameters against it; its alert fields.
fn playbook_fields(
    raw: &RuleFile,
    parameters: &BTreeMap<String, FieldTemplate>,
    context: &Context<'_>,
    refs: &impl ReferenceChecks,
    problems: &mut Vec<String>,
) -> Option<Vec<String>> {
    let playbook = refs
        .playbook(
            context.playbooks_dir,
            context.max_library_file_bytes,
            &raw.playbook,
        )
        .map_err(|problem| problems.push(problem))
        .ok()?;
    let declared: BTreeSet<&str> = playbook
        .parameters
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    for name in parameters.keys() {
        if !declared.contains(name.as_str()) {
            problems.push(format!(
                "parameter `{name}` is not declared by playbook `{}`",
                raw.playbook
            ));
        }
    }
    for parameter in &playbook.parameters {
        if parameter.default.is_none() && !parameters.contains_key(&parameter.name) {
            problems.push(format!(
                "playbook `{}` requires parameter `{}`: give it under `parameters` (it may use {{{{ alert.NAME }}}})",
                raw.playbook, parameter.name
            ));
        }
    }
    Some(
        playbook
            .alert_fields
            .iter()
            .map(|f| f.name.clone())
            .collect(),
    )
}
