//! The subset of OData v4 the Defender API answers: `$filter` with comparisons, `and`/`or`/`not`,
//! `in`, `startswith`/`endswith`/`contains`, `any` lambdas over collections, datetime literals, and
//! `$orderby`. Evaluated over the JSON form of each entity, as the service would see its rows.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use std::cmp::Ordering;

/// A `$filter` or `$orderby` the service would refuse with 400 `ODataError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ODataError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Literal(String),
    Open,
    Close,
    Comma,
    Colon,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ODataError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '+' => i += 1,
            '(' => (tokens.push(Token::Open), i += 1).1,
            ')' => (tokens.push(Token::Close), i += 1).1,
            ',' => (tokens.push(Token::Comma), i += 1).1,
            ':' => (tokens.push(Token::Colon), i += 1).1,
            '\'' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(ODataError(
                                "unterminated string literal in $filter".into(),
                            ));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            value.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(other) => {
                            value.push(*other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(value));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | ')' | ',' | '+') {
                    i += 1;
                }
                tokens.push(Token::Literal(chars[start..i].iter().collect()));
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '/' | '.'))
                {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => {
                return Err(ODataError(format!(
                    "unexpected character `{other}` in $filter"
                )));
            }
        }
    }
    Ok(tokens)
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Field(String),
    Var(String),
    Value(Value),
    DateTime(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Operand, Cmp, Operand),
    In(Operand, Vec<Operand>),
    Func(String, Operand, Operand),
    Any {
        field: String,
        var: String,
        body: Box<Expr>,
    },
}

/// A parsed `$filter`, checked against the entity's filterable properties.
#[derive(Debug)]
pub struct Filter(Expr);

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    filterable: &'a [&'a str],
    vars: Vec<String>,
}

impl Filter {
    /// Parses `text`, refusing properties not in `filterable` (compared case-insensitively).
    pub fn parse(text: &str, filterable: &[&str]) -> Result<Self, ODataError> {
        let mut parser = Parser {
            tokens: tokenize(text)?,
            pos: 0,
            filterable,
            vars: Vec::new(),
        };
        let expr = parser.or()?;
        if parser.pos != parser.tokens.len() {
            return Err(ODataError(format!(
                "unexpected `{:?}` in $filter",
                parser.tokens[parser.pos]
            )));
        }
        Ok(Self(expr))
    }

    pub fn matches(&self, entity: &Value) -> bool {
        eval(&self.0, entity, &[])
    }

    /// The only string values the `fields` can have in a match (a match has one of them equal
    /// to one of these), when the filter pins them with `field eq 'x'` or `field in (...)` at
    /// its top level: alone, and-ed with more, or or-ed with another such pin. Lets a caller
    /// look entities up instead of rendering them all.
    pub fn candidates(&self, fields: &[&str]) -> Option<Vec<String>> {
        candidates(&self.0, fields)
    }
}

fn candidates(expr: &Expr, fields: &[&str]) -> Option<Vec<String>> {
    let literal = |operand: &Operand| match operand {
        Operand::Value(Value::String(text)) => Some(text.clone()),
        _ => None,
    };
    let is_field = |operand: &Operand| matches!(operand, Operand::Field(name) if fields.iter().any(|f| name.eq_ignore_ascii_case(f)));
    match expr {
        Expr::And(a, b) => candidates(a, fields).or_else(|| candidates(b, fields)),
        Expr::Or(a, b) => {
            let mut either = candidates(a, fields)?;
            either.extend(candidates(b, fields)?);
            Some(either)
        }
        Expr::Compare(a, Cmp::Eq, b) if is_field(a) => literal(b).map(|v| vec![v]),
        Expr::Compare(a, Cmp::Eq, b) if is_field(b) => literal(a).map(|v| vec![v]),
        Expr::In(subject, items) if is_field(subject) => items.iter().map(literal).collect(),
        _ => None,
    }
}

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, token: Token) -> Result<(), ODataError> {
        if self.tokens.get(self.pos) == Some(&token) {
            self.pos += 1;
            Ok(())
        } else {
            Err(ODataError(format!("expected {token:?} in $filter")))
        }
    }

    fn or(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ODataError> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.tokens.get(self.pos) == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::Close)?;
            return Ok(inner);
        }
        if let Some(Token::Ident(name)) = self.tokens.get(self.pos).cloned() {
            let lower = name.to_ascii_lowercase();
            if let Some(field) = lower.strip_suffix("/any") {
                let field = self.field(&name[..field.len()])?;
                self.pos += 1;
                self.expect(Token::Open)?;
                let Some(Token::Ident(var)) = self.tokens.get(self.pos).cloned() else {
                    return Err(ODataError("expected a lambda variable in any()".into()));
                };
                self.pos += 1;
                self.expect(Token::Colon)?;
                self.vars.push(var.clone());
                let body = self.or()?;
                self.vars.pop();
                self.expect(Token::Close)?;
                return Ok(Expr::Any {
                    field,
                    var,
                    body: Box::new(body),
                });
            }
            if matches!(lower.as_str(), "startswith" | "endswith" | "contains")
                && self.tokens.get(self.pos + 1) == Some(&Token::Open)
            {
                self.pos += 2;
                let subject = self.operand()?;
                self.expect(Token::Comma)?;
                let needle = self.operand()?;
                self.expect(Token::Close)?;
                return Ok(Expr::Func(lower, subject, needle));
            }
        }
        let left = self.operand()?;
        let Some(Token::Ident(op)) = self.tokens.get(self.pos).cloned() else {
            return Err(ODataError(
                "expected a comparison operator in $filter".into(),
            ));
        };
        self.pos += 1;
        if op.eq_ignore_ascii_case("in") {
            self.expect(Token::Open)?;
            let mut items = vec![self.operand()?];
            while self.tokens.get(self.pos) == Some(&Token::Comma) {
                self.pos += 1;
                items.push(self.operand()?);
            }
            self.expect(Token::Close)?;
            return Ok(Expr::In(left, items));
        }
        let cmp = match op.to_ascii_lowercase().as_str() {
            "eq" => Cmp::Eq,
            "ne" => Cmp::Ne,
            "gt" => Cmp::Gt,
            "ge" => Cmp::Ge,
            "lt" => Cmp::Lt,
            "le" => Cmp::Le,
            other => {
                return Err(ODataError(format!(
                    "operator `{other}` is not supported in $filter"
                )));
            }
        };
        Ok(Expr::Compare(left, cmp, self.operand()?))
    }

    fn field(&self, name: &str) -> Result<String, ODataError> {
        self.filterable
            .iter()
            .find(|f| f.eq_ignore_ascii_case(name))
            .map(|f| (*f).to_owned())
            .ok_or_else(|| ODataError(format!("filtering on property '{name}' is not supported")))
    }

    fn operand(&mut self) -> Result<Operand, ODataError> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        match token {
            Some(Token::Str(text)) => Ok(Operand::Value(Value::String(text))),
            Some(Token::Literal(text)) => parse_literal(&text),
            Some(Token::Ident(word)) => match word.to_ascii_lowercase().as_str() {
                "true" => Ok(Operand::Value(Value::Bool(true))),
                "false" => Ok(Operand::Value(Value::Bool(false))),
                "null" => Ok(Operand::Value(Value::Null)),
                _ if self.vars.contains(&word) => Ok(Operand::Var(word)),
                _ => Ok(Operand::Field(self.field(&word)?)),
            },
            other => Err(ODataError(format!(
                "expected a value in $filter, found {other:?}"
            ))),
        }
    }
}

fn parse_literal(text: &str) -> Result<Operand, ODataError> {
    if let Some(at) = parse_datetime(text) {
        return Ok(Operand::DateTime(at));
    }
    serde_json::from_str::<serde_json::Number>(text)
        .map(|n| Operand::Value(Value::Number(n)))
        .map_err(|_| ODataError(format!("`{text}` is not a valid literal")))
}

fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let date = text.strip_suffix('Z').unwrap_or(text);
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// Case-insensitive property lookup: the service accepts `CreationDateTimeUtc` and `creationDateTimeUtc`.
fn property<'a>(entity: &'a Value, name: &str) -> &'a Value {
    entity
        .as_object()
        .and_then(|map| {
            map.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null)
}

enum Resolved<'a> {
    Json(&'a Value),
    Owned(Value),
    DateTime(DateTime<Utc>),
}

fn resolve<'a>(
    operand: &'a Operand,
    entity: &'a Value,
    vars: &[(&str, &'a Value)],
) -> Resolved<'a> {
    match operand {
        Operand::Field(name) => Resolved::Json(property(entity, name)),
        Operand::Var(name) => Resolved::Json(
            vars.iter()
                .rev()
                .find(|(var, _)| var == name)
                .map_or(&Value::Null, |(_, v)| *v),
        ),
        Operand::Value(value) => Resolved::Owned(value.clone()),
        Operand::DateTime(at) => Resolved::DateTime(*at),
    }
}

fn compare(left: &Resolved<'_>, right: &Resolved<'_>) -> Option<Ordering> {
    let json = |r: &Resolved<'_>| match r {
        Resolved::Json(v) => Some((*v).clone()),
        Resolved::Owned(v) => Some(v.clone()),
        Resolved::DateTime(_) => None,
    };
    match (left, right) {
        (Resolved::DateTime(a), other) | (other, Resolved::DateTime(a)) => {
            let b = json(other)?.as_str().and_then(parse_datetime)?;
            let ordering = b.cmp(a);
            Some(if matches!(left, Resolved::DateTime(_)) {
                ordering.reverse()
            } else {
                ordering
            })
        }
        _ => compare_json(&json(left)?, &json(right)?),
    }
}

fn compare_json(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(a), Value::String(b)) => match (parse_datetime(a), parse_datetime(b)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        },
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

fn eval(expr: &Expr, entity: &Value, vars: &[(&str, &Value)]) -> bool {
    match expr {
        Expr::And(a, b) => eval(a, entity, vars) && eval(b, entity, vars),
        Expr::Or(a, b) => eval(a, entity, vars) || eval(b, entity, vars),
        Expr::Not(inner) => !eval(inner, entity, vars),
        Expr::Compare(a, cmp, b) => {
            let ordering = compare(&resolve(a, entity, vars), &resolve(b, entity, vars));
            match cmp {
                Cmp::Eq => ordering == Some(Ordering::Equal),
                Cmp::Ne => ordering != Some(Ordering::Equal),
                Cmp::Gt => ordering == Some(Ordering::Greater),
                Cmp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
                Cmp::Lt => ordering == Some(Ordering::Less),
                Cmp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
            }
        }
        Expr::In(subject, items) => {
            let subject = resolve(subject, entity, vars);
            items.iter().any(|item| {
                compare(&subject, &resolve(item, entity, vars)) == Some(Ordering::Equal)
            })
        }
        Expr::Func(name, subject, needle) => {
            let text = |r: Resolved<'_>| match r {
                Resolved::Json(Value::String(s)) => Some(s.to_lowercase()),
                Resolved::Owned(Value::String(s)) => Some(s.to_lowercase()),
                _ => None,
            };
            let (Some(subject), Some(needle)) = (
                text(resolve(subject, entity, vars)),
                text(resolve(needle, entity, vars)),
            ) else {
                return false;
            };
            match name.as_str() {
                "startswith" => subject.starts_with(&needle),
                "endswith" => subject.ends_with(&needle),
                _ => subject.contains(&needle),
            }
        }
        Expr::Any { field, var, body } => property(entity, field).as_array().is_some_and(|items| {
            items.iter().any(|item| {
                let mut scoped = vars.to_vec();
                scoped.push((var.as_str(), item));
                eval(body, entity, &scoped)
            })
        }),
    }
}

/// Sorts `items` by an `$orderby` clause such as `creationDateTimeUtc desc, id`.
pub fn order_by(items: &mut [Value], clause: &str, sortable: &[&str]) -> Result<(), ODataError> {
    let mut keys = Vec::new();
    for part in clause.split(',') {
        let mut words = part.split_whitespace();
        let Some(name) = words.next() else { continue };
        let field = sortable
            .iter()
            .find(|f| f.eq_ignore_ascii_case(name))
            .ok_or_else(|| ODataError(format!("ordering by property '{name}' is not supported")))?;
        let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(ODataError(format!(
                    "`{other}` is not asc or desc in $orderby"
                )));
            }
        };
        keys.push((*field, descending));
    }
    items.sort_by(|a, b| {
        keys.iter()
            .map(|(field, descending)| {
                let ordering =
                    compare_json(property(a, field), property(b, field)).unwrap_or(Ordering::Equal);
                if *descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: &[&str] = &[
        "id",
        "status",
        "machineId",
        "creationDateTimeUtc",
        "machineTags",
        "computerDnsName",
    ];

    fn check(filter: &str, entity: Value) -> bool {
        Filter::parse(filter, FIELDS)
            .expect("filter parses")
            .matches(&entity)
    }

    #[test]
    fn the_filters_real_clients_send_work() {
        let action = json!({"id": "a'1", "status": "Pending", "machineId": "m1",
            "creationDateTimeUtc": "2024-05-01T10:00:00.1234567Z"});
        assert!(check("machineId eq 'm1'", action.clone()));
        assert!(check("machineId+eq+'m1'", action.clone()));
        assert!(check("id in ('x','a''1')", action.clone()));
        assert!(check(
            "status eq 'Pending' or status eq 'InProgress'",
            action.clone()
        ));
        assert!(check(
            "CreationDateTimeUtc ge 2024-05-01T09:00:00Z",
            action.clone()
        ));
        assert!(!check("creationDateTimeUtc lt 2024-05-01Z", action.clone()));
        assert!(check(
            "not (status eq 'Failed') and machineId ne 'm2'",
            action
        ));
    }

    #[test]
    fn tag_lambdas_and_startswith_work() {
        let machine = json!({"computerDnsName": "ws-00001.corp", "machineTags": ["prod", "emea"]});
        assert!(check(
            "machineTags/any(tag: tag eq 'prod')",
            machine.clone()
        ));
        assert!(!check("machineTags/any(t: t eq 'lab')", machine.clone()));
        assert!(check("startswith(computerDnsName,'WS-')", machine));
    }

    #[test]
    fn undocumented_properties_and_bad_syntax_are_refused() {
        assert!(Filter::parse("requestorComment eq 'x'", FIELDS).is_err());
        assert!(Filter::parse("status eq 'x", FIELDS).is_err());
        assert!(Filter::parse("status like 'x'", FIELDS).is_err());
        assert!(Filter::parse("(status eq 'x'", FIELDS).is_err());
    }

    #[test]
    fn pinned_values_are_found_only_where_they_bound_every_match() {
        let ids = |filter: &str| {
            Filter::parse(filter, FIELDS)
                .expect("parses")
                .candidates(&["id"])
        };
        assert_eq!(
            ids("id in ('a','b') and status eq 'Pending'"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            ids("status eq 'Pending' and Id eq 'c'"),
            Some(vec!["c".into()])
        );
        assert_eq!(ids("id eq 'a' or status eq 'Pending'"), None);
        assert_eq!(ids("not (id eq 'a')"), None);
        assert_eq!(
            ids("id eq 'a' or (id in ('b') and status eq 'Pending')"),
            Some(vec!["a".into(), "b".into()])
        );
        let either = Filter::parse("id in ('a') or machineId eq 'b'", FIELDS)
            .expect("parses")
            .candidates(&["id", "machineId"]);
        assert_eq!(either, Some(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn orderby_sorts_datetimes_of_mixed_precision() {
        let mut items = vec![
            json!({"creationDateTimeUtc": "2024-01-01T00:00:00.9Z"}),
            json!({"creationDateTimeUtc": "2024-01-01T00:00:00.1234567Z"}),
        ];
        order_by(&mut items, "creationDateTimeUtc desc", FIELDS).expect("sortable");
        assert_eq!(items[0]["creationDateTimeUtc"], "2024-01-01T00:00:00.9Z");
        assert!(order_by(&mut items, "nope", FIELDS).is_err());
    }
}
