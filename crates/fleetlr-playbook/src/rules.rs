//! What the Live Response API and console accept in script arguments and GetFile paths.
//! Used when a playbook is read (on its literal text) and when it is rendered for a device
//! (on the substituted values), so both apply the very same rules.

use crate::names::{describe_char, is_hidden_or_control};

/// Characters the Live Response console refuses in script arguments ("Please avoid using the
/// following characters as part of scripts' parameters: ; & | ! $ ( )").
pub const FORBIDDEN_ARG_CHARS: &[char] = &[';', '&', '|', '!', '$', '(', ')'];

/// A problem at a character offset of a checked text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flaw {
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

const ARGS_HINT: &str = "the Live Response console refuses `; & | ! $ ( )` in script arguments; \
     pass such a value in a parameter as {{ params.NAME | base64 }} and decode it in the script";

/// Checks text the author wrote into `args`.
pub(crate) fn args_text(text: &str) -> Option<Flaw> {
    let (offset, c) = text
        .chars()
        .enumerate()
        .find(|(_, c)| FORBIDDEN_ARG_CHARS.contains(c) || is_hidden_or_control(*c))?;
    Some(if is_hidden_or_control(c) {
        // The cause depends on how the YAML was written; the reader adds that hint.
        Flaw {
            offset,
            message: format!("script arguments contain {}", describe_char(c)),
            hint: None,
        }
    } else {
        Flaw {
            offset,
            message: format!("script arguments contain `{c}`"),
            hint: Some(ARGS_HINT.into()),
        }
    })
}

/// Checks a value substituted into `args`. Stricter than the author's own text: the value may
/// come from an alert or a device, so it must stay one plain argument and cannot smuggle in an
/// option (`-Force`), a quote or a separator.
pub(crate) fn arg_value(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("is empty, which would shift the script's arguments".into());
    }
    if value.starts_with('-') {
        return Some("starts with `-`, so the script would read it as an option".into());
    }
    let bad = value.chars().find(|c| {
        FORBIDDEN_ARG_CHARS.contains(c)
            || is_hidden_or_control(*c)
            || c.is_whitespace()
            || "'\"`".contains(*c)
    })?;
    Some(format!(
        "contains {}, which is not allowed in a substituted script argument (use `| base64`)",
        describe_char(bad)
    ))
}

/// Checks characters of a GetFile path (written or substituted).
pub(crate) fn path_chars(text: &str) -> Option<Flaw> {
    let (offset, c) = text
        .chars()
        .enumerate()
        .find(|(_, c)| is_hidden_or_control(*c) || *c == '*' || *c == '?')?;
    Some(if is_hidden_or_control(c) {
        Flaw {
            offset,
            message: format!("GetFile path contains {}", describe_char(c)),
            hint: None,
        }
    } else {
        Flaw {
            offset,
            message: format!("GetFile path contains the wildcard `{c}`"),
            hint: Some("GetFile collects exactly one file; to collect several, have a script zip them first".into()),
        }
    })
}

/// Whether a path starts like an absolute path: `C:\`, `C:/`, `\\server\share` or `/`.
pub(crate) fn is_absolute_start(path: &str) -> bool {
    let bytes = path.as_bytes();
    let drive = bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/');
    drive || path.starts_with(r"\\") || path.starts_with('/')
}

/// What is wrong with the shape of a complete path (rendered or without templates), if anything.
pub(crate) fn path_shape(path: &str) -> Option<(String, Option<String>)> {
    if path.trim().is_empty() {
        return Some(("GetFile path is empty".into(), None));
    }
    if !is_absolute_start(path) {
        return Some(relative(path));
    }
    ends_in_separator(path)
}

pub(crate) fn relative(path: &str) -> (String, Option<String>) {
    (
        format!("GetFile path `{path}` is not absolute"),
        Some(r"the device resolves relative paths against an unknown folder; write the full path, e.g. C:\windows\TEMP\x.zip or /tmp/x.tar.gz".into()),
    )
}

pub(crate) fn ends_in_separator(path: &str) -> Option<(String, Option<String>)> {
    (path.ends_with('\\') || path.ends_with('/')).then(|| {
        (
            format!("GetFile path `{path}` names a folder"),
            Some(
                "GetFile collects one file; zip the folder in a script and collect the zip".into(),
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_rules() {
        assert_eq!(args_text("-Name x; rm").map(|f| f.offset), Some(7));
        assert!(args_text("-Path C:\\x -Depth 2").is_none());
        assert!(arg_value("OfficeClickToRun").is_none());
        for bad in ["", "-Force", "a b", "x$y", "it's", "a\tb"] {
            assert!(arg_value(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn path_rules() {
        assert!(path_shape(r"C:\windows\TEMP\x.zip").is_none());
        assert!(path_shape("/var/log/syslog").is_none());
        assert!(path_shape(r"\\srv\share\f.txt").is_none());
        assert!(
            path_shape("temp\\x")
                .expect("should succeed")
                .0
                .contains("not absolute")
        );
        assert!(
            path_shape(r"C:\temp\")
                .expect("should succeed")
                .0
                .contains("folder")
        );
        assert!(path_shape(" ").expect("should succeed").0.contains("empty"));
        assert_eq!(path_chars("C:\temp").map(|f| f.offset), Some(2));
        assert!(
            path_chars(r"C:\*.log")
                .expect("should succeed")
                .message
                .contains("wildcard")
        );
    }
}
