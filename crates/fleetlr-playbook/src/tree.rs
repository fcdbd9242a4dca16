//! A YAML document as a tree whose every node knows its line and column.
//!
//! serde_yaml reports a position only for the first error, so playbooks are read through this
//! tree instead: the reader can then report every problem exactly where it is. The tree is
//! deliberately smaller than YAML: one document, no anchors, aliases or tags, bounded depth and
//! size. Playbooks are reviewed as written, and these limits make hostile files cheap to refuse.

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use crate::diagnostic::{Diagnostic, Pos};

/// Deepest nesting accepted; a playbook needs five levels.
pub const MAX_DEPTH: usize = 32;
/// Most nodes accepted in one document, so memory stays bounded whatever the text.
pub const MAX_NODES: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    pub text: String,
    pub style: Style,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` or `>` block scalars.
    Block,
}

impl Node {
    /// What the node is, for messages like "expected a string, found a list".
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Scalar(s) if s.is_null() => "nothing (null)",
            Kind::Scalar(_) => "a scalar",
        }
    }

    /// Where the characters of a scalar's value are in the source: exactly, when the source
    /// maps onto the value one to one (a one-line plain or quoted scalar without escapes);
    /// else at the scalar itself, which is still on the right line. Computed once per node so
    /// locating many problems in one huge scalar stays linear.
    pub fn locator(&self) -> Locator {
        let Kind::Scalar(scalar) = &self.kind else {
            return Locator {
                start: self.pos,
                exact: None,
            };
        };
        let one_line = !scalar.text.contains('\n');
        let quote_width = match scalar.style {
            Style::Plain if one_line => Some(0),
            Style::SingleQuoted if one_line && !scalar.text.contains('\'') => Some(1),
            Style::DoubleQuoted
                if one_line && !scalar.text.contains(['\\', '"']) && !has_control(&scalar.text) =>
            {
                Some(1)
            }
            _ => None,
        };
        Locator {
            start: self.pos,
            exact: quote_width,
        }
    }
}

/// Positions of characters inside one scalar; see [`Node::locator`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Locator {
    start: Pos,
    /// Columns between the scalar's start and its first character, when positions are exact.
    exact: Option<usize>,
}

impl Locator {
    pub fn pos(&self, offset: usize) -> Pos {
        let Some(quote_width) = self.exact else {
            return self.start;
        };
        let shift = u32::try_from(offset + quote_width).unwrap_or(u32::MAX);
        Pos {
            line: self.start.line,
            column: self.start.column.saturating_add(shift),
        }
    }
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

impl Scalar {
    /// YAML 1.2 core schema null: an empty plain value, `~` or `null`.
    pub fn is_null(&self) -> bool {
        self.style == Style::Plain
            && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }
}

/// Parses one YAML document into a tree, or says where and why it cannot.
pub(crate) fn parse(text: &str) -> Result<Node, Diagnostic> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(scan_error)?;
        if let Some(done) = builder.event(event, span)? {
            return Ok(done);
        }
    }
    // The parser always ends with StreamEnd, which the builder turns into a result or an error.
    Err(at(
        Pos { line: 1, column: 1 },
        "the YAML parser stopped early",
    ))
}

/// Checks only that `text` is YAML nested no deeper than [`MAX_DEPTH`], without building
/// anything. libyaml (under serde_yaml) takes quadratic time on deep flow nesting before its
/// own recursion limit applies, so other YAML readers call this first.
pub(crate) fn check_depth(text: &str) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(scan_error)?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(at(
                        pos_of(span),
                        format!("YAML nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

enum Frame {
    Seq(Pos, Vec<Node>),
    Map(Pos, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    documents: usize,
    nodes: usize,
    root: Option<Node>,
}

impl Builder {
    /// Feeds one event; returns the finished root at the end of the stream.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<Option<Node>, Diagnostic> {
        let pos = pos_of(span);
        match event {
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(at(
                        pos,
                        "a playbook file holds one YAML document, found a second",
                    ));
                }
            }
            Event::StreamEnd => {
                return self
                    .root
                    .take()
                    .map(Some)
                    .ok_or_else(|| at(pos, "the file is empty"));
            }
            Event::Alias(_) => {
                return Err(Diagnostic {
                    pos,
                    message: "aliases (`*name`) are not supported in playbooks".into(),
                    hint: Some("repeat the value: a playbook is reviewed as it is written".into()),
                });
            }
            Event::Scalar(text, style, anchor, tag) => {
                refuse_anchor_and_tag(pos, anchor, tag.is_some())?;
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                };
                let node = Node {
                    pos,
                    kind: Kind::Scalar(Scalar {
                        text: text.into_owned(),
                        style,
                    }),
                };
                self.complete(node)?;
            }
            Event::SequenceStart(anchor, tag) => {
                refuse_anchor_and_tag(pos, anchor, tag.is_some())?;
                self.open(pos, Frame::Seq(pos, Vec::new()))?;
            }
            Event::MappingStart(anchor, tag) => {
                refuse_anchor_and_tag(pos, anchor, tag.is_some())?;
                self.open(pos, Frame::Map(pos, Vec::new(), None))?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq(pos, items)) => Node {
                        pos,
                        kind: Kind::Seq(items),
                    },
                    Some(Frame::Map(pos, entries, _)) => Node {
                        pos,
                        kind: Kind::Map(entries),
                    },
                    None => return Err(at(pos, "unbalanced YAML collection end")),
                };
                self.complete(node)?;
            }
        }
        Ok(None)
    }

    fn open(&mut self, pos: Pos, frame: Frame) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(at(
                pos,
                format!("YAML nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn complete(&mut self, node: Node) -> Result<(), Diagnostic> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(at(
                node.pos,
                format!("more than {MAX_NODES} YAML values in one file"),
            ));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
        Ok(())
    }
}

fn refuse_anchor_and_tag(pos: Pos, anchor: usize, tagged: bool) -> Result<(), Diagnostic> {
    // saphyr numbers anchors from 1; 0 means the node has none.
    if anchor != 0 {
        return Err(Diagnostic {
            pos,
            message: "anchors (`&name`) are not supported in playbooks".into(),
            hint: Some("repeat the value: a playbook is reviewed as it is written".into()),
        });
    }
    if tagged {
        return Err(at(
            pos,
            "YAML tags (`!name`) are not supported in playbooks",
        ));
    }
    Ok(())
}

fn scan_error(err: ScanError) -> Diagnostic {
    let marker = err.marker();
    let pos = Pos {
        line: to_u32(marker.line()),
        column: to_u32(marker.col() + 1),
    };
    let message = format!("invalid YAML: {}", err.info());
    // The classic Windows path mistake: "C:\windows" makes YAML read `\w` as an escape.
    // `\x`, `\u` and `\U` start hexadecimal escapes, so "C:\xtools" fails differently.
    let escape = ["unknown escape character", "hexadecimal number"];
    let hint = escape.iter().any(|e| err.info().contains(e)).then(|| {
        "in double quotes a backslash starts an escape; write Windows paths in single quotes, \
         e.g. 'C:\\windows\\temp'"
            .to_owned()
    });
    Diagnostic { pos, message, hint }
}

fn pos_of(span: Span) -> Pos {
    Pos {
        line: to_u32(span.start.line()),
        column: to_u32(span.start.col() + 1),
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn at(pos: Pos, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        pos,
        message: message.into(),
        hint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(node: &Node) -> &str {
        match &node.kind {
            Kind::Scalar(s) => &s.text,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn nodes_carry_one_based_positions() {
        let root = parse("a: 1\nb:\n  - x\n").expect("should succeed");
        let Kind::Map(entries) = &root.kind else {
            panic!("{root:?}")
        };
        assert_eq!(entries[1].0.pos, Pos { line: 2, column: 1 });
        let Kind::Seq(items) = &entries[1].1.kind else {
            panic!()
        };
        assert_eq!(
            (scalar(&items[0]), items[0].pos),
            ("x", Pos { line: 3, column: 5 })
        );
    }

    #[test]
    fn char_positions_inside_quoted_scalars() {
        let root = parse("k: 'ab{{'\n").expect("should succeed");
        let Kind::Map(entries) = &root.kind else {
            panic!()
        };
        assert_eq!(entries[0].1.locator().pos(2), Pos { line: 1, column: 7 });
    }

    #[test]
    fn refuses_anchors_aliases_tags_and_second_documents() {
        for (text, needle) in [
            ("a: &x 1\n", "anchors"),
            ("a: *x\n", "unknown anchor"),
            ("a: !!str 1\n", "tags"),
            ("a: 1\n---\nb: 2\n", "one YAML document"),
            ("", "empty"),
        ] {
            let err = parse(text).expect_err("should fail");
            assert!(err.message.contains(needle), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn unknown_escape_gets_a_single_quote_hint() {
        let err = parse("p: \"C:\\windows\"\n").expect_err("should fail");
        assert_eq!(err.pos, Pos { line: 1, column: 4 });
        assert!(err.hint.expect("should succeed").contains("single quotes"));
        let hex = parse("p: \"C:\\xtools\\a.exe\"\n").expect_err("should fail");
        assert!(hex.hint.expect("should succeed").contains("single quotes"));
    }
}
