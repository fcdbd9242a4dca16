//! Names a playbook gives things, each checked once when read and trusted afterwards.

use std::fmt;

use serde::Serialize;

/// Why a name was refused: a message and, where it helps, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameError {
    pub message: String,
    pub hint: Option<String>,
}

/// A Live Response library file name. The API accepts letters, digits, `-`, `_` and `.` only
/// (a library file called `hello copy.sh` fails to run), and the name is also the file name
/// beside the playbook, so path separators can never appear.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LibraryName(String);

impl LibraryName {
    pub(crate) fn parse(text: &str) -> Result<Self, NameError> {
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(*c)))
        {
            return Err(NameError {
                message: format!(
                    "library name `{text}` contains {}, which the Live Response library refuses",
                    describe_char(bad)
                ),
                hint: Some(
                    "use only letters, digits, `-`, `_` and `.`, and rename the file to match"
                        .into(),
                ),
            });
        }
        if text.chars().all(|c| c == '.') || text.len() > 255 {
            return Err(NameError {
                message: format!("`{text}` is not a usable library file name"),
                hint: None,
            });
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The identity of a step: stable across runs so outcomes map back to the YAML step.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct StepId(String);

impl StepId {
    pub(crate) const MAX_LEN: usize = 64;

    pub(crate) fn parse(text: &str) -> Result<Self, NameError> {
        let ok = text.len() <= Self::MAX_LEN
            && text.starts_with(|c: char| c.is_ascii_alphanumeric())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(NameError {
                message: format!("step id `{text}` is not a valid id"),
                hint: Some(format!(
                    "start with a letter or digit and use letters, digits, `-` and `_` (at most {} characters)",
                    Self::MAX_LEN
                )),
            });
        }
        Ok(Self(text.to_owned()))
    }

    /// The id of a step that has none: its 1-based position and kind, e.g. `step2-get_file`.
    /// It stays stable while steps are not inserted or removed before it; give a step an
    /// explicit `id` when its identity must survive such edits.
    pub(crate) fn derived(position: usize, kind: &str) -> Self {
        Self(format!("step{position}-{kind}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A parameter or alert field name: an identifier, so `{{ params.x }}` can name it.
pub(crate) fn check_identifier(text: &str, what: &str) -> Result<(), NameError> {
    let ok = text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        return Ok(());
    }
    Err(NameError {
        message: format!("{what} name `{text}` is not an identifier"),
        hint: Some(
            "use letters, digits and `_`, starting with a letter (at most 64 characters)".into(),
        ),
    })
}

/// A character as a person reads it in a message: printable ones quoted, others by name.
pub(crate) fn describe_char(c: char) -> String {
    match c {
        '\t' => "a TAB character".into(),
        '\n' => "a line break".into(),
        '\r' => "a carriage return".into(),
        ' ' => "a space".into(),
        c if c.is_control() => format!("the control character U+{:04X}", u32::from(c)),
        c if is_invisible(c) => format!(
            "the invisible formatting character U+{:04X}, which makes text display as something it is not",
            u32::from(c)
        ),
        c => format!("`{c}`"),
    }
}

/// Control characters and the invisible ones that reorder or hide text (bidirectional
/// overrides and isolates, zero-width characters, the byte order mark): refused wherever a
/// value reaches a device, because an operator reading it would see something else.
pub(crate) fn is_hidden_or_control(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
display_as_str!(LibraryName, StepId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names_follow_the_api_alphabet() {
        assert!(LibraryName::parse("minidump.ps1").is_ok());
        assert!(LibraryName::parse("collect_triage-v2.sh").is_ok());
        assert!(
            LibraryName::parse("hello copy.sh")
                .expect_err("should fail")
                .message
                .contains("a space")
        );
        assert!(LibraryName::parse("../x.ps1").is_err());
        assert!(LibraryName::parse("..").is_err());
    }

    #[test]
    fn step_ids() {
        assert!(StepId::parse("dump-1").is_ok());
        assert!(StepId::parse("-x").is_err());
        assert!(StepId::parse(&"a".repeat(65)).is_err());
        assert_eq!(StepId::derived(2, "get_file").as_str(), "step2-get_file");
    }
}
