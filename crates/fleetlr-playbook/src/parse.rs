//! Reading a playbook: YAML text → tree → checked [`Playbook`], reporting every problem with
//! its line and column in one pass.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::diagnostic::{self, Diagnostic, Pos, Problems, Sink};
use crate::duration;
use crate::model::{
    Action, AlertField, Catalogue, LibraryFile, OnFailure, ParamKind, ParamValue, Parameter,
    Playbook, Priority, RunPolicy, Step,
};
use crate::names::{self, LibraryName, NameError, StepId};
use crate::read::{self, Fields};
use crate::rules;
use crate::template::{Declared, Part, Template, Var};
use crate::tree::{self, Node};

/// Largest playbook accepted. Real ones are a few kilobytes; the bound keeps hostile input cheap.
pub const MAX_PLAYBOOK_BYTES: usize = 1024 * 1024;

/// RunScript times out after 10 minutes in the API.
const MAX_RUN_SCRIPT: Duration = Duration::from_secs(600);
/// The portal's limit for file transfer commands; the API documents none.
const MAX_TRANSFER: Duration = Duration::from_secs(1_800);

// The keys each section accepts; `schema.rs` tests that the JSON Schema says the same.
pub(crate) const PLAYBOOK_KEYS: &[&str] = &[
    "name",
    "description",
    "parameters",
    "alert_fields",
    "policy",
    "steps",
];
pub(crate) const PARAMETER_KEYS: &[&str] = &["type", "description", "default", "values"];
pub(crate) const POLICY_KEYS: &[&str] =
    &["priority", "expires_after", "max_failure_percent", "canary"];
pub(crate) const STEP_KEYS: &[&str] = &[
    "id",
    "description",
    "put_file",
    "run_script",
    "args",
    "get_file",
    "on_failure",
    "expected_duration",
];
const ACTION_KEYS: &[&str] = &["put_file", "run_script", "get_file"];
const PARAMETER_EXPLAINED: &[(&str, &str)] = &[(
    "required",
    "a parameter is required unless it has a `default`",
)];

/// Reads and checks a playbook. `origin` names the text in messages (usually its path);
/// `catalogue` lists the library files beside it.
pub fn parse(origin: &str, text: &str, catalogue: &Catalogue) -> Result<Playbook, Problems> {
    if text.len() > MAX_PLAYBOOK_BYTES {
        let message = format!(
            "playbook is {} bytes, more than the {MAX_PLAYBOOK_BYTES} allowed",
            text.len()
        );
        let pos = Pos { line: 1, column: 1 };
        return Err(diagnostic::single(
            origin,
            Diagnostic {
                pos,
                message,
                hint: None,
            },
        ));
    }
    let root = tree::parse(text).map_err(|d| diagnostic::single(origin, d))?;
    let mut reader = Reader {
        sink: Sink::default(),
        catalogue,
    };
    let playbook = reader.playbook(&root);
    reader.sink.finish(origin, playbook)
}

/// Decodes UTF-8 bytes, or reports where the first invalid byte is.
pub fn decode_text<'a>(origin: &str, bytes: &'a [u8]) -> Result<&'a str, Problems> {
    std::str::from_utf8(bytes).map_err(|err| {
        // The prefix up to `valid_up_to` is valid UTF-8 by definition.
        let prefix = std::str::from_utf8(&bytes[..err.valid_up_to()]).unwrap_or_default();
        let line = prefix.matches('\n').count() + 1;
        let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let pos = Pos {
            line: to_u32(line),
            column: to_u32(column),
        };
        let message = "file is not UTF-8 text".into();
        diagnostic::single(
            origin,
            Diagnostic {
                pos,
                message,
                hint: None,
            },
        )
    })
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

struct Reader<'c> {
    sink: Sink,
    catalogue: &'c Catalogue,
}

/// Where a parameter's values were written, to point at them when a later check fails.
struct ParamSource<'n> {
    key: Pos,
    default: Option<&'n Node>,
    values: Vec<&'n Node>,
}

impl Reader<'_> {
    fn playbook(&mut self, root: &Node) -> Option<Playbook> {
        let fields = Fields::read(&mut self.sink, root, "the playbook", PLAYBOOK_KEYS, &[])?;
        let name = self.name(&fields);
        let description = fields
            .require(&mut self.sink, "description", "the playbook")
            .and_then(|n| read::string(&mut self.sink, n, "`description`"))
            .map(str::to_owned);
        let (parameters, sources) = match fields.get("parameters") {
            Some(node) => self.parameters(node),
            None => (Vec::new(), BTreeMap::new()),
        };
        // Every written name counts as declared, even when its spec has a problem, so one
        // mistake is not reported again at each use.
        let declared_params: Vec<String> = sources.keys().cloned().collect();
        let (alert_fields, alert_positions): (Vec<AlertField>, Vec<Pos>) = fields
            .get("alert_fields")
            .map_or_else(Vec::new, |n| self.alert_fields(n))
            .into_iter()
            .unzip();
        let policy = fields
            .get("policy")
            .map_or_else(RunPolicy::default, |n| self.policy(n));
        let steps = fields
            .require(&mut self.sink, "steps", "the playbook")
            .and_then(|n| self.steps(n, &declared_params, &alert_fields));
        if let Some(steps) = &steps {
            self.unused_names(
                steps,
                &parameters,
                &sources,
                &alert_fields,
                &alert_positions,
            );
            self.arg_safe_parameter_values(steps, &parameters, &sources);
        }
        Some(Playbook {
            name: name?,
            description: description?,
            parameters,
            alert_fields,
            policy,
            steps: steps?,
        })
    }

    fn name(&mut self, fields: &Fields<'_>) -> Option<String> {
        let node = fields.require(&mut self.sink, "name", "the playbook")?;
        let text = read::string(&mut self.sink, node, "`name`")?;
        // Same alphabet as step ids: the name is typed on command lines and put in API comments.
        match StepId::parse(text) {
            Ok(_) => Some(text.to_owned()),
            Err(_) => {
                self.sink.error_with_hint(
                    node.pos,
                    format!("playbook name `{text}` is not a valid name"),
                    "use letters, digits, `-` and `_` (at most 64 characters); put prose in `description`",
                );
                None
            }
        }
    }

    fn parameters<'n>(
        &mut self,
        node: &'n Node,
    ) -> (Vec<Parameter>, BTreeMap<String, ParamSource<'n>>) {
        let mut parameters = Vec::new();
        let mut sources = BTreeMap::new();
        let Some(entries) = self.named_entries(node, "`parameters`", "parameter") else {
            return (parameters, sources);
        };
        for (name, key, spec) in entries {
            sources.insert(name.to_owned(), param_source(key, spec));
            parameters.extend(self.parameter(name, spec));
        }
        (parameters, sources)
    }

    /// The `name: value` entries of a mapping whose keys are identifiers, with key positions.
    fn named_entries<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        item: &str,
    ) -> Option<Vec<(&'n str, Pos, &'n Node)>> {
        let tree::Kind::Map(entries) = &node.kind else {
            self.sink.error(
                node.pos,
                format!("expected {what} as a mapping, found {}", node.describe()),
            );
            return None;
        };
        let mut out: Vec<(&str, Pos, &Node)> = Vec::new();
        for (key, value) in entries {
            let Some(name) = read::string(&mut self.sink, key, &format!("{item} name")) else {
                continue;
            };
            if out.iter().any(|(n, _, _)| *n == name) {
                self.sink
                    .error(key.pos, format!("{item} `{name}` is declared twice"));
                continue;
            }
            if let Err(err) = names::check_identifier(name, item) {
                self.name_error(key.pos, err);
                continue;
            }
            out.push((name, key.pos, value));
        }
        Some(out)
    }

    fn parameter(&mut self, name: &str, spec: &Node) -> Option<Parameter> {
        let what = format!("parameter `{name}`");
        let fields = Fields::read(
            &mut self.sink,
            spec,
            &what,
            PARAMETER_KEYS,
            PARAMETER_EXPLAINED,
        )?;
        let description = fields
            .get("description")
            .and_then(|n| read::string(&mut self.sink, n, "`description`"))
            .map(str::to_owned);
        let kind_node = fields.require(&mut self.sink, "type", &what)?;
        let kind = match read::string(&mut self.sink, kind_node, "`type`")? {
            "string" => ParamKind::String,
            "int" => ParamKind::Int,
            "bool" => ParamKind::Bool,
            "enum" => ParamKind::Enum(self.enum_values(&fields, &what)?),
            other => {
                self.sink.error_with_hint(
                    kind_node.pos,
                    format!("unknown parameter type `{other}`"),
                    "types are string, int, bool and enum",
                );
                return None;
            }
        };
        if !matches!(kind, ParamKind::Enum(_))
            && let Some(pos) = fields.key_pos("values")
        {
            self.sink
                .error(pos, "`values` only applies to parameters of type enum");
        }
        let default = match fields.get("default") {
            Some(node) => Some(self.param_value(node, &kind, name)?),
            None => None,
        };
        Some(Parameter {
            name: name.to_owned(),
            kind,
            default,
            description,
        })
    }

    fn enum_values(&mut self, fields: &Fields<'_>, what: &str) -> Option<Vec<String>> {
        let node = fields.require(&mut self.sink, "values", what)?;
        let items = read::list(&mut self.sink, node, "`values`")?;
        if items.is_empty() {
            self.sink
                .error(node.pos, "an enum needs at least one value");
            return None;
        }
        let mut values: Vec<String> = Vec::new();
        for item in items {
            let value = read::string(&mut self.sink, item, "an enum value")?;
            if values.iter().any(|v| v == value) {
                self.sink
                    .error(item.pos, format!("enum value `{value}` is listed twice"));
            }
            values.push(value.to_owned());
        }
        Some(values)
    }

    fn param_value(&mut self, node: &Node, kind: &ParamKind, name: &str) -> Option<ParamValue> {
        let what = format!("the default of `{name}`");
        match kind {
            ParamKind::String => {
                read::string(&mut self.sink, node, &what).map(|s| ParamValue::String(s.into()))
            }
            ParamKind::Int => read::integer(&mut self.sink, node, &what).map(ParamValue::Int),
            ParamKind::Bool => read::boolean(&mut self.sink, node, &what).map(ParamValue::Bool),
            ParamKind::Enum(values) => {
                let value = read::string(&mut self.sink, node, &what)?;
                if !values.iter().any(|v| v == value) {
                    self.sink.error_with_hint(
                        node.pos,
                        format!("default `{value}` of `{name}` is not one of its values"),
                        format!("values: {}", values.join(", ")),
                    );
                    return None;
                }
                Some(ParamValue::String(value.into()))
            }
        }
    }

    fn alert_fields(&mut self, node: &Node) -> Vec<(AlertField, Pos)> {
        let Some(entries) = self.named_entries(node, "`alert_fields`", "alert field") else {
            return Vec::new();
        };
        let mut fields = Vec::new();
        for (name, key, value) in entries {
            let what = format!("the description of alert field `{name}`");
            if let Some(description) = read::string(&mut self.sink, value, &what) {
                fields.push((
                    AlertField {
                        name: name.to_owned(),
                        description: description.to_owned(),
                    },
                    key,
                ));
            }
        }
        fields
    }

    fn policy(&mut self, node: &Node) -> RunPolicy {
        let mut policy = RunPolicy::default();
        let Some(fields) = Fields::read(&mut self.sink, node, "`policy`", POLICY_KEYS, &[]) else {
            return policy;
        };
        if let Some(node) = fields.get("priority") {
            match read::string(&mut self.sink, node, "`priority`") {
                Some("response") => policy.priority = Priority::Response,
                Some("collection") => policy.priority = Priority::Collection,
                Some(other) => self.sink.error_with_hint(
                    node.pos,
                    format!("unknown priority `{other}`"),
                    "priorities are response (served first) and collection",
                ),
                None => {}
            }
        }
        if let Some(node) = fields.get("expires_after")
            && let Some(d) = self.duration(node, "`expires_after`", RunPolicy::MAX_EXPIRES_AFTER)
        {
            policy.expires_after = d;
        }
        if let Some(node) = fields.get("max_failure_percent") {
            match read::integer(&mut self.sink, node, "`max_failure_percent`").map(u8::try_from) {
                Some(Ok(p)) if p <= 100 => policy.max_failure_percent = Some(p),
                Some(_) => self
                    .sink
                    .error(node.pos, "`max_failure_percent` must be between 0 and 100"),
                None => {}
            }
        }
        if let Some(node) = fields.get("canary") {
            match read::integer(&mut self.sink, node, "`canary`").map(u32::try_from) {
                Some(Ok(n)) => policy.canary = n,
                Some(Err(_)) => self
                    .sink
                    .error(node.pos, "`canary` must be a device count of 0 or more"),
                None => {}
            }
        }
        policy
    }

    /// A positive duration no longer than `max`.
    fn duration(&mut self, node: &Node, what: &str, max: Duration) -> Option<Duration> {
        let text = read::string(&mut self.sink, node, what)?;
        match duration::parse(text) {
            None => {
                self.sink.error_with_hint(
                    node.pos,
                    format!("{what} `{text}` is not a duration"),
                    "write durations like 45s, 10m, 1h30m or 3d",
                );
                None
            }
            Some(d) if d.is_zero() => {
                self.sink
                    .error(node.pos, format!("{what} must be longer than zero"));
                None
            }
            Some(d) if d > max => {
                self.sink.error(
                    node.pos,
                    format!(
                        "{what} `{text}` is longer than the {} allowed",
                        duration::format(max)
                    ),
                );
                None
            }
            Some(d) => Some(d),
        }
    }

    fn steps(
        &mut self,
        node: &Node,
        params: &[String],
        alert_fields: &[AlertField],
    ) -> Option<Vec<Step>> {
        let items = read::list(&mut self.sink, node, "`steps`")?;
        if items.is_empty() {
            self.sink
                .error(node.pos, "a playbook needs at least one step");
            return None;
        }
        let fields: Vec<String> = alert_fields.iter().map(|f| f.name.clone()).collect();
        let declared = Declared {
            params,
            alert_fields: &fields,
        };
        let mut steps = Vec::new();
        let mut ids: BTreeMap<StepId, Pos> = BTreeMap::new();
        let mut complete = true;
        for (index, item) in items.iter().enumerate() {
            let Some((step, id_pos)) = self.step(index, item, &declared) else {
                complete = false;
                continue;
            };
            if let Some(first) = ids.get(&step.id) {
                self.sink.error(
                    id_pos,
                    format!(
                        "duplicate step id `{}` (first at line {}:{})",
                        step.id, first.line, first.column
                    ),
                );
            } else {
                ids.insert(step.id.clone(), id_pos);
            }
            steps.push(step);
        }
        complete.then_some(steps)
    }

    /// One step, and where its id was written (the step itself when the id is derived).
    fn step(&mut self, index: usize, node: &Node, declared: &Declared<'_>) -> Option<(Step, Pos)> {
        let fields = Fields::read(&mut self.sink, node, "a step", STEP_KEYS, &[])?;
        let actions = fields.present(ACTION_KEYS);
        let action_key = match actions.as_slice() {
            [one] => *one,
            [] => {
                self.sink.error_with_hint(
                    fields.pos,
                    "step has no action",
                    "give it exactly one of put_file, run_script or get_file",
                );
                return None;
            }
            [first, second, ..] => {
                let pos = fields.key_pos(second).unwrap_or(fields.pos);
                self.sink.error_with_hint(
                    pos,
                    format!("step has both `{first}` and `{second}`"),
                    "a step is one command; split it into two steps",
                );
                return None;
            }
        };
        if action_key != "run_script"
            && let Some(pos) = fields.key_pos("args")
        {
            self.sink
                .error(pos, "`args` only applies to `run_script` steps");
        }
        let id = match fields.get("id") {
            Some(node) => {
                let text = read::string(&mut self.sink, node, "`id`");
                let id = text.map(StepId::parse);
                match id {
                    Some(Ok(id)) => Some((id, node.pos)),
                    Some(Err(err)) => {
                        self.name_error(node.pos, err);
                        None
                    }
                    None => None,
                }
            }
            None => Some((StepId::derived(index + 1, action_key), fields.pos)),
        };
        let description = fields
            .get("description")
            .and_then(|n| read::string(&mut self.sink, n, "`description`"))
            .map(str::to_owned);
        let on_failure = match fields.get("on_failure") {
            None => Some(OnFailure::Stop),
            Some(node) => match read::string(&mut self.sink, node, "`on_failure`") {
                Some("stop") => Some(OnFailure::Stop),
                Some("continue") => Some(OnFailure::Continue),
                Some(other) => {
                    self.sink.error_with_hint(
                        node.pos,
                        format!("unknown `on_failure` value `{other}`"),
                        "stop (later steps are not executed, the API's behaviour) or continue",
                    );
                    None
                }
                None => None,
            },
        };
        let action = self.action(&fields, action_key, declared);
        let max = if action_key == "run_script" {
            MAX_RUN_SCRIPT
        } else {
            MAX_TRANSFER
        };
        let expected_duration = match fields.get("expected_duration") {
            None => Some(None),
            Some(node) => self.duration(node, "`expected_duration`", max).map(Some),
        };
        let (id, id_pos) = id?;
        let step = Step {
            id,
            action: action?,
            on_failure: on_failure?,
            expected_duration: expected_duration?,
            description,
        };
        Some((step, id_pos))
    }

    fn action(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        declared: &Declared<'_>,
    ) -> Option<Action> {
        let node = fields.get(key)?;
        match key {
            "put_file" => Some(Action::PutFile {
                file: self.library_file(node)?,
            }),
            "run_script" => {
                let script = self.library_file(node);
                let args = match fields.get("args") {
                    Some(node) => Some(self.args(node, declared)?),
                    None => None,
                };
                Some(Action::RunScript {
                    script: script?,
                    args,
                })
            }
            _ => Some(Action::GetFile {
                path: self.get_file_path(node, declared)?,
            }),
        }
    }

    fn library_file(&mut self, node: &Node) -> Option<LibraryFile> {
        let text = read::string(&mut self.sink, node, "a library file name")?;
        let name = match LibraryName::parse(text) {
            Ok(name) => name,
            Err(err) => {
                self.name_error(node.pos, err);
                return None;
            }
        };
        let location = &self.catalogue.location;
        let Some(facts) = self.catalogue.files.get(text) else {
            let hint = match self
                .catalogue
                .files
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
            {
                names if names.is_empty() => format!("put the file in {location}/"),
                names => format!("files in {location}/: {}", names.join(", ")),
            };
            self.sink.error_with_hint(
                node.pos,
                format!("library file `{text}` is not in {location}/"),
                hint,
            );
            return None;
        };
        let max = self.catalogue.max_file_bytes;
        if facts.size > max {
            self.sink.error_with_hint(
                node.pos,
                format!("library file `{text}` is {} bytes, over the library limit of {max} bytes", facts.size),
                "compress it, or raise the limit in the configuration if your tenant accepts larger files",
            );
            return None;
        }
        Some(LibraryFile {
            name,
            size: facts.size,
            sha256: facts.sha256.clone(),
        })
    }

    fn args(&mut self, node: &Node, declared: &Declared<'_>) -> Option<Template> {
        let template = self.template(node, "`args`", declared)?;
        self.literals_pass(node, &template, rules::args_text)
            .then_some(template)
    }

    /// Applies a character rule to the text the author wrote (not the substituted values),
    /// reporting each flaw at its exact column; true when there were none.
    fn literals_pass(
        &mut self,
        node: &Node,
        template: &Template,
        rule: fn(&str) -> Option<rules::Flaw>,
    ) -> bool {
        let locator = node.locator();
        let mut clean = true;
        for (offset, text) in template.literals() {
            if let Some(flaw) = rule(text) {
                let hint = flaw.hint.or_else(|| control_hint(node));
                self.sink
                    .push(locator.pos(offset + flaw.offset), flaw.message, hint);
                clean = false;
            }
        }
        clean
    }

    fn get_file_path(&mut self, node: &Node, declared: &Declared<'_>) -> Option<Template> {
        let template = self.template(node, "the GetFile path", declared)?;
        if !self.literals_pass(node, &template, rules::path_chars) {
            // A stray TAB also makes `C:\temp` look relative; one message is enough.
            return None;
        }
        // Only what the literal text decides is checked here; rendering checks the whole path.
        let shape = match template.parts.as_slice() {
            [] => rules::path_shape(""),
            [Part::Text(all)] => rules::path_shape(all),
            // A shorter literal such as `C:` may still become absolute with what follows it.
            [Part::Text(head), ..] if head.len() >= 3 && !rules::is_absolute_start(head) => {
                Some(rules::relative(&template.source))
            }
            [.., Part::Text(_)] => rules::ends_in_separator(&template.source),
            _ => None,
        };
        if let Some((message, hint)) = shape {
            self.sink.push(node.pos, message, hint);
            return None;
        }
        Some(template)
    }

    fn template(&mut self, node: &Node, what: &str, declared: &Declared<'_>) -> Option<Template> {
        let text = read::string(&mut self.sink, node, what)?;
        match Template::parse(text, declared) {
            Ok(template) => Some(template),
            Err(errors) => {
                let locator = node.locator();
                for err in errors {
                    self.sink
                        .push(locator.pos(err.offset), err.message, err.hint);
                }
                None
            }
        }
    }

    /// Declared parameters and alert fields that no step uses are almost always typos.
    fn unused_names(
        &mut self,
        steps: &[Step],
        parameters: &[Parameter],
        sources: &BTreeMap<String, ParamSource<'_>>,
        alert_fields: &[AlertField],
        alert_positions: &[Pos],
    ) {
        let used: Vec<&Var> = steps
            .iter()
            .flat_map(step_templates)
            .flat_map(Template::vars)
            .collect();
        for parameter in parameters {
            if !used
                .iter()
                .any(|v| matches!(v, Var::Param(n) if *n == parameter.name))
            {
                let Some(source) = sources.get(&parameter.name) else {
                    continue;
                };
                self.sink.error_with_hint(
                    source.key,
                    format!(
                        "parameter `{}` is declared but no step uses it",
                        parameter.name
                    ),
                    format!("use it as {{{{ params.{} }}}} or remove it", parameter.name),
                );
            }
        }
        for (field, pos) in alert_fields.iter().zip(alert_positions) {
            if !used
                .iter()
                .any(|v| matches!(v, Var::Alert(n) if *n == field.name))
            {
                self.sink.error_with_hint(
                    *pos,
                    format!(
                        "alert field `{}` is declared but no step uses it",
                        field.name
                    ),
                    format!("use it as {{{{ alert.{} }}}} or remove it", field.name),
                );
            }
        }
    }

    /// Values a parameter can take by default or by enumeration must be usable in script
    /// arguments when the parameter appears there; run-time values are checked when bound.
    fn arg_safe_parameter_values(
        &mut self,
        steps: &[Step],
        parameters: &[Parameter],
        sources: &BTreeMap<String, ParamSource<'_>>,
    ) {
        let in_args: Vec<&Var> = steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::RunScript {
                    args: Some(args), ..
                } => Some(args),
                _ => None,
            })
            .flat_map(Template::raw_vars)
            .collect();
        for parameter in parameters {
            if !in_args
                .iter()
                .any(|v| matches!(v, Var::Param(n) if *n == parameter.name))
            {
                continue;
            }
            let Some(source) = sources.get(&parameter.name) else {
                continue;
            };
            let nodes = source
                .default
                .into_iter()
                .chain(source.values.iter().copied());
            for node in nodes {
                let tree::Kind::Scalar(s) = &node.kind else {
                    continue;
                };
                if matches!(parameter.kind, ParamKind::Int | ParamKind::Bool) {
                    continue;
                }
                if let Some(problem) = rules::arg_value(&s.text) {
                    self.sink.error(
                        node.pos,
                        format!(
                            "`{}` is used in script arguments but this value {problem}",
                            parameter.name
                        ),
                    );
                }
            }
        }
    }

    fn name_error(&mut self, pos: Pos, err: NameError) {
        self.sink.push(pos, err.message, err.hint);
    }
}

fn param_source(key: Pos, spec: &Node) -> ParamSource<'_> {
    let field = |name: &str| match &spec.kind {
        tree::Kind::Map(entries) => entries
            .iter()
            .find(|(k, _)| matches!(&k.kind, tree::Kind::Scalar(s) if s.text == name))
            .map(|(_, v)| v),
        _ => None,
    };
    let values = match field("values").map(|n| &n.kind) {
        Some(tree::Kind::Seq(items)) => items.iter().collect(),
        _ => Vec::new(),
    };
    ParamSource {
        key,
        default: field("default"),
        values,
    }
}

/// Why a scalar holds a control character, judged from how it was written.
fn control_hint(node: &Node) -> Option<String> {
    match &node.kind {
        tree::Kind::Scalar(s) if s.style == tree::Style::DoubleQuoted => Some(
            "inside double quotes YAML turns `\\t`, `\\n`, `\\r` into control characters \
             (\"C:\\temp\" holds a TAB); write Windows paths in single quotes: 'C:\\temp'"
                .into(),
        ),
        tree::Kind::Scalar(s) if s.style == tree::Style::Block => {
            Some("`|` and `>` blocks keep line breaks; write the value on one line".into())
        }
        _ => None,
    }
}

/// The templates of a step, for checks over every name a playbook uses.
pub(crate) fn step_templates(step: &Step) -> impl Iterator<Item = &Template> {
    let (a, b) = match &step.action {
        Action::RunScript { args, .. } => (args.as_ref(), None),
        Action::GetFile { path } => (None, Some(path)),
        Action::PutFile { .. } => (None, None),
    };
    a.into_iter().chain(b)
}
