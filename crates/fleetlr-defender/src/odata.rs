//! OData query options for the collection endpoints, with string literals quoted safely so a
//! device name or tag from an alert cannot change the meaning of a filter.

use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt;

/// A `$filter` expression built from safely quoted parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    text: String,
    /// The expression's top-level operator, so `and` parenthesises an `or` operand and
    /// nothing else (fewer parentheses for the service's parser to get wrong).
    top: Operator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Atom,
    And,
    Or,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl Comparison {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

impl Filter {
    fn atom(text: String) -> Self {
        Self {
            text,
            top: Operator::Atom,
        }
    }

    /// `property eq 'value'`.
    pub fn eq(property: &str, value: &str) -> Self {
        Self::atom(format!("{property} eq {}", literal(value)))
    }

    /// `property ne 'value'`.
    pub fn ne(property: &str, value: &str) -> Self {
        Self::atom(format!("{property} ne {}", literal(value)))
    }

    /// `property in ('a','b')`.
    pub fn is_in<S: AsRef<str>>(property: &str, values: impl IntoIterator<Item = S>) -> Self {
        let values: Vec<String> = values.into_iter().map(|v| literal(v.as_ref())).collect();
        Self::atom(format!("{property} in ({})", values.join(",")))
    }

    /// Devices carrying `tag`: `machineTags/any(tag: tag eq 'X')`.
    pub fn has_tag(tag: &str) -> Self {
        Self::atom(format!("machineTags/any(tag: tag eq {})", literal(tag)))
    }

    /// `startswith(property,'prefix')`.
    pub fn starts_with(property: &str, prefix: &str) -> Self {
        Self::atom(format!("startswith({property},{})", literal(prefix)))
    }

    /// A date-time comparison, such as `creationDateTimeUtc ge 2024-05-01T00:00:00Z`
    /// (OData date-time literals are not quoted).
    pub fn time(property: &str, comparison: Comparison, at: DateTime<Utc>) -> Self {
        Self::atom(format!(
            "{property} {} {}",
            comparison.as_str(),
            at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        ))
    }

    /// An expression this builder has no helper for, used as given: the caller quotes it.
    pub fn raw(expression: impl Into<String>) -> Self {
        Self::atom(expression.into())
    }

    /// Both this and `other`.
    pub fn and(self, other: Filter) -> Self {
        let wrap = |f: Filter| match f.top {
            Operator::Or => format!("({})", f.text),
            _ => f.text,
        };
        Self {
            text: format!("{} and {}", wrap(self), wrap(other)),
            top: Operator::And,
        }
    }

    /// This or `other` (`or` binds loosest, so no operand needs parentheses).
    pub fn or(self, other: Filter) -> Self {
        Self {
            text: format!("{} or {}", self.text, other.text),
            top: Operator::Or,
        }
    }

    /// The expression as sent.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An OData string literal: quoted, with embedded quotes doubled.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A sort direction for `$orderby`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// Query options of a collection request, built fluently:
/// `ODataQuery::new().filter(Filter::eq("status", "Pending")).top(100)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ODataQuery {
    filter: Option<Filter>,
    top: Option<u32>,
    skip: Option<u32>,
    order_by: Vec<String>,
    count: bool,
}

impl ODataQuery {
    /// No options: everything, in the service's order and page size.
    pub fn new() -> Self {
        Self::default()
    }

    /// `$filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// `$top`: at most this many items (the service caps a page at 10,000).
    pub fn top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }

    /// `$skip`.
    pub fn skip(mut self, skip: u32) -> Self {
        self.skip = Some(skip);
        self
    }

    /// Adds a `$orderby` key; keys apply in the order added.
    pub fn order_by(mut self, property: &str, order: Order) -> Self {
        self.order_by.push(match order {
            Order::Asc => format!("{property} asc"),
            Order::Desc => format!("{property} desc"),
        });
        self
    }

    /// `$count=true`: ask for `@odata.count`.
    pub fn count(mut self, count: bool) -> Self {
        self.count = count;
        self
    }

    /// The query parameters, unencoded (the HTTP client encodes them).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        pairs.extend(self.filter.as_ref().map(|f| ("$filter", f.text.clone())));
        pairs.extend(self.top.map(|t| ("$top", t.to_string())));
        pairs.extend(self.skip.map(|s| ("$skip", s.to_string())));
        if !self.order_by.is_empty() {
            pairs.push(("$orderby", self.order_by.join(",")));
        }
        if self.count {
            pairs.push(("$count", "true".to_owned()));
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn literals_are_quoted_and_quotes_doubled() {
        assert_eq!(literal("plain"), "'plain'");
        assert_eq!(literal("o'brien"), "'o''brien'");
        assert_eq!(literal("'); drop"), "'''); drop'");
        assert_eq!(literal(""), "''");
        assert_eq!(
            Filter::eq("computerDnsName", "o'brien").as_str(),
            "computerDnsName eq 'o''brien'"
        );
        assert_eq!(
            Filter::ne("healthStatus", "Active").as_str(),
            "healthStatus ne 'Active'"
        );
    }

    #[test]
    fn helpers_build_the_forms_the_service_documents() {
        assert_eq!(
            Filter::is_in("id", ["a", "b'c"]).as_str(),
            "id in ('a','b''c')"
        );
        assert_eq!(
            Filter::has_tag("prod's").as_str(),
            "machineTags/any(tag: tag eq 'prod''s')"
        );
        assert_eq!(
            Filter::starts_with("computerDnsName", "srv").as_str(),
            "startswith(computerDnsName,'srv')"
        );
        let at = Utc
            .with_ymd_and_hms(2024, 5, 1, 8, 30, 0)
            .single()
            .expect("valid");
        assert_eq!(
            Filter::time("creationDateTimeUtc", Comparison::Ge, at).as_str(),
            "creationDateTimeUtc ge 2024-05-01T08:30:00Z"
        );
        let precise = at + chrono::Duration::milliseconds(250);
        assert_eq!(
            Filter::time("lastSeen", Comparison::Lt, precise).as_str(),
            "lastSeen lt 2024-05-01T08:30:00.250Z"
        );
    }

    #[test]
    fn and_parenthesises_only_or_operands() {
        let online =
            Filter::eq("onboardingStatus", "Onboarded").and(Filter::eq("healthStatus", "Active"));
        assert_eq!(
            online.as_str(),
            "onboardingStatus eq 'Onboarded' and healthStatus eq 'Active'"
        );
        let either = Filter::eq("status", "Pending").or(Filter::eq("status", "InProgress"));
        assert_eq!(
            Filter::eq("machineId", "m").and(either.clone()).as_str(),
            "machineId eq 'm' and (status eq 'Pending' or status eq 'InProgress')"
        );
        assert_eq!(
            either.or(Filter::eq("status", "TimeOut")).as_str(),
            "status eq 'Pending' or status eq 'InProgress' or status eq 'TimeOut'"
        );
    }

    #[test]
    fn query_options_become_parameters() {
        assert!(ODataQuery::new().pairs().is_empty());
        let query = ODataQuery::new()
            .filter(Filter::eq("machineId", "m1"))
            .top(1000)
            .skip(20)
            .order_by("creationDateTimeUtc", Order::Desc)
            .order_by("id", Order::Asc)
            .count(true);
        assert_eq!(
            query.pairs(),
            [
                ("$filter", "machineId eq 'm1'".to_owned()),
                ("$top", "1000".to_owned()),
                ("$skip", "20".to_owned()),
                ("$orderby", "creationDateTimeUtc desc,id asc".to_owned()),
                ("$count", "true".to_owned()),
            ]
        );
    }
}
