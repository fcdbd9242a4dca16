//! Building OData queries with string literals quoted safely.

/// Query options of a collection request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ODataQuery {
    pub filter: Option<String>,
    pub top: Option<u32>,
    pub skip: Option<u32>,
    pub orderby: Option<String>,
}

impl ODataQuery {
    pub fn filter(filter: impl Into<String>) -> Self {
        Self {
            filter: Some(filter.into()),
            ..Self::default()
        }
    }

    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        pairs.extend(self.filter.clone().map(|f| ("$filter", f)));
        pairs.extend(self.top.map(|t| ("$top", t.to_string())));
        pairs.extend(self.skip.map(|s| ("$skip", s.to_string())));
        pairs.extend(self.orderby.clone().map(|o| ("$orderby", o)));
        pairs
    }
}

/// A string literal: quoted, with embedded quotes doubled.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

pub fn eq(property: &str, value: &str) -> String {
    format!("{property} eq {}", literal(value))
}

/// `property in ('a','b')`.
pub fn is_in<'a>(property: &str, values: impl IntoIterator<Item = &'a str>) -> String {
    let values: Vec<String> = values.into_iter().map(literal).collect();
    format!("{property} in ({})", values.join(","))
}

/// Devices carrying a tag.
pub fn has_tag(tag: &str) -> String {
    format!("machineTags/any(tag: tag eq {})", literal(tag))
}

pub fn starts_with(property: &str, prefix: &str) -> String {
    format!("startswith({property},{})", literal(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted_and_escaped() {
        assert_eq!(
            eq("computerDnsName", "o'brien"),
            "computerDnsName eq 'o''brien'"
        );
        assert_eq!(is_in("id", ["a", "b"]), "id in ('a','b')");
        assert_eq!(has_tag("prod"), "machineTags/any(tag: tag eq 'prod')");
        assert_eq!(
            starts_with("computerDnsName", "srv"),
            "startswith(computerDnsName,'srv')"
        );
    }
}
