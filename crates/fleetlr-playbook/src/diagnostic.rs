//! Problems found in a playbook, each pinned to a line and column of its source.

use std::fmt;

/// At most this many problems are kept per file: past it the author has a structural mistake to
/// fix first, and a hostile file must not produce unbounded output.
pub const MAX_DIAGNOSTICS: usize = 100;

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// One problem in a playbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub pos: Pos,
    pub message: String,
    /// How to fix it, when the message alone does not say.
    pub hint: Option<String>,
}

/// Every problem found in one playbook file. Displayed as `origin:line:column: message` lines,
/// each hint indented on the line below its problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems {
    /// Where the text came from, usually a file path.
    pub origin: String,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// Problems found beyond [`MAX_DIAGNOSTICS`] and not kept.
    pub dropped: usize,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}",
                self.origin, d.pos.line, d.pos.column, d.message
            )?;
            if let Some(hint) = &d.hint {
                write!(f, "\n    hint: {hint}")?;
            }
        }
        if self.dropped > 0 {
            write!(
                f,
                "\n{}: {} more problems not shown",
                self.origin, self.dropped
            )?;
        }
        Ok(())
    }
}

/// Collects problems while a playbook is read, so one pass reports all of them.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    diagnostics: Vec<Diagnostic>,
    dropped: usize,
}

impl Sink {
    pub(crate) fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, message.into(), None);
    }

    pub(crate) fn error_with_hint(
        &mut self,
        pos: Pos,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(pos, message.into(), Some(hint.into()));
    }

    pub(crate) fn push(&mut self, pos: Pos, message: String, hint: Option<String>) {
        if self.diagnostics.len() < MAX_DIAGNOSTICS {
            self.diagnostics.push(Diagnostic { pos, message, hint });
        } else {
            self.dropped += 1;
        }
    }

    /// `Ok(value)` when nothing was reported, else every problem sorted by position.
    /// Readers return `None` only after reporting why; the fallback message guards that promise.
    pub(crate) fn finish<T>(mut self, origin: &str, value: Option<T>) -> Result<T, Problems> {
        match value {
            Some(value) if self.diagnostics.is_empty() => return Ok(value),
            None if self.diagnostics.is_empty() => {
                self.error(Pos { line: 1, column: 1 }, "playbook could not be read")
            }
            _ => {}
        }
        let mut diagnostics = self.diagnostics;
        // Stable: problems at one position keep the order they were found in.
        diagnostics.sort_by_key(|d| d.pos);
        Err(Problems {
            origin: origin.to_owned(),
            diagnostics,
            dropped: self.dropped,
        })
    }
}

/// The problems of a file that has a single, fatal one (it is not YAML, or not UTF-8).
pub(crate) fn single(origin: &str, diagnostic: Diagnostic) -> Problems {
    Problems {
        origin: origin.to_owned(),
        diagnostics: vec![diagnostic],
        dropped: 0,
    }
}
