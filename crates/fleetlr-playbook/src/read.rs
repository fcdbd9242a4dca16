//! Typed reading of the YAML tree: mappings with known keys, strings, integers, booleans. Each
//! helper reports what is wrong where it is and returns `None`, so reading carries on and one
//! pass finds every problem.

use crate::diagnostic::{Pos, Sink};
use crate::tree::{Kind, Node, Scalar, Style};

/// The keys of one YAML mapping, checked against the keys its section allows.
pub(crate) struct Fields<'n> {
    pub pos: Pos,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// Reads `node` as a mapping of `what` (e.g. "step") whose keys must be among `known`.
    /// Reports a non-mapping, non-string keys, duplicate keys and unknown keys (with the
    /// closest known key as a hint, or the `explain`ed reason a likely key is not one).
    pub fn read(
        sink: &mut Sink,
        node: &'n Node,
        what: &str,
        known: &[&str],
        explain: &[(&str, &str)],
    ) -> Option<Fields<'n>> {
        let Kind::Map(raw) = &node.kind else {
            sink.error(
                node.pos,
                format!("expected {what} as a mapping, found {}", node.describe()),
            );
            return None;
        };
        let mut entries: Vec<(&str, &Node, &Node)> = Vec::with_capacity(raw.len());
        for (key, value) in raw {
            let Kind::Scalar(Scalar { text, .. }) = &key.kind else {
                sink.error(key.pos, format!("keys of {what} must be plain names"));
                continue;
            };
            if let Some((_, first, _)) = entries.iter().find(|(k, _, _)| k == text) {
                sink.error(
                    key.pos,
                    format!(
                        "duplicate key `{text}` in {what} (first at line {}:{})",
                        first.pos.line, first.pos.column
                    ),
                );
                continue;
            }
            if !known.contains(&text.as_str()) {
                unknown_key(sink, key.pos, text, what, known, explain);
                continue;
            }
            entries.push((text, key, value));
        }
        Some(Fields {
            pos: node.pos,
            entries,
        })
    }

    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    /// The position of `key` itself, for problems about the key rather than its value.
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, _)| k.pos)
    }

    /// `get`, reporting the key as missing at the mapping when absent.
    pub fn require(&self, sink: &mut Sink, key: &str, what: &str) -> Option<&'n Node> {
        let value = self.get(key);
        if value.is_none() {
            sink.error(self.pos, format!("{what} is missing `{key}`"));
        }
        value
    }

    /// The keys present among `keys`, in source order.
    pub fn present(&self, keys: &[&str]) -> Vec<&'n str> {
        self.entries
            .iter()
            .map(|(k, _, _)| *k)
            .filter(|k| keys.contains(k))
            .collect()
    }
}

fn unknown_key(
    sink: &mut Sink,
    pos: Pos,
    key: &str,
    what: &str,
    known: &[&str],
    explain: &[(&str, &str)],
) {
    let message = format!("unknown key `{key}` in {what}");
    let explained = explain
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, why)| (*why).to_owned());
    let hint = explained.unwrap_or_else(|| match closest(key, known) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("allowed keys: {}", known.join(", ")),
    });
    sink.error_with_hint(pos, message, hint);
}

/// The known word within two edits of `word` (the usual typo distance), or one that `word`
/// abbreviates (`on_fail` for `on_failure`).
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let typo = known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k);
    typo.or_else(|| {
        known
            .iter()
            .copied()
            .find(|k| word.len() >= 3 && k.starts_with(word))
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j] + 1).min(row[j + 1] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// A scalar's text for a string-valued key; any non-null scalar is accepted as text.
pub(crate) fn string<'n>(sink: &mut Sink, node: &'n Node, what: &str) -> Option<&'n str> {
    match &node.kind {
        Kind::Scalar(s) if !s.is_null() => Some(&s.text),
        _ => {
            sink.error(
                node.pos,
                format!("expected {what} as a string, found {}", node.describe()),
            );
            None
        }
    }
}

/// A plain integer scalar (quoted numbers are strings in YAML, and are refused here).
pub(crate) fn integer(sink: &mut Sink, node: &Node, what: &str) -> Option<i64> {
    let parsed = match &node.kind {
        Kind::Scalar(Scalar {
            text,
            style: Style::Plain,
        }) => text.parse::<i64>().ok(),
        _ => None,
    };
    if parsed.is_none() {
        sink.error(
            node.pos,
            format!("expected {what} as a whole number, found {}", shown(node)),
        );
    }
    parsed
}

/// A plain `true` or `false`.
pub(crate) fn boolean(sink: &mut Sink, node: &Node, what: &str) -> Option<bool> {
    let parsed = match &node.kind {
        Kind::Scalar(Scalar {
            text,
            style: Style::Plain,
        }) => match text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        },
        _ => None,
    };
    if parsed.is_none() {
        sink.error(
            node.pos,
            format!("expected {what} as true or false, found {}", shown(node)),
        );
    }
    parsed
}

/// The items of a list.
pub(crate) fn list<'n>(sink: &mut Sink, node: &'n Node, what: &str) -> Option<&'n [Node]> {
    if let Kind::Seq(items) = &node.kind {
        return Some(items);
    }
    sink.error(
        node.pos,
        format!("expected {what} as a list, found {}", node.describe()),
    );
    None
}

/// A short rendering of a node for messages: a scalar's text (cut), else what it is.
pub(crate) fn shown(node: &Node) -> String {
    match &node.kind {
        Kind::Scalar(s) if !s.is_null() => {
            let cut: String = s.text.chars().take(40).collect();
            if cut.len() < s.text.len() {
                format!("`{cut}…`")
            } else {
                format!("`{cut}`")
            }
        }
        _ => node.describe().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_typos() {
        assert_eq!(edit_distance("run_scirpt", "run_script"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            closest("get_fle", &["get_file", "put_file"]),
            Some("get_file")
        );
        assert_eq!(closest("zzz", &["get_file"]), None);
        assert_eq!(
            closest("on_fail", &["id", "on_failure"]),
            Some("on_failure")
        );
    }
}
