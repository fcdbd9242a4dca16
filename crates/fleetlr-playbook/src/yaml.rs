//! Typed YAML parsing with errors that name the source, line and column.

use serde::de::DeserializeOwned;

/// Largest YAML document accepted; a bigger one is refused before parsing so a hostile file
/// cannot make us allocate without bound.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// A YAML document that could not be turned into the expected type.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct YamlError {
    /// Where the text came from, usually a file path.
    pub origin: String,
    /// 1-based line, or 0 when the parser could not tell.
    pub line: usize,
    /// 1-based column, or 0 when the parser could not tell.
    pub column: usize,
    pub message: String,
}

/// Parses `text` (read from `origin`) into `T`, rejecting oversized documents.
pub fn from_str<T: DeserializeOwned>(origin: &str, text: &str) -> Result<T, YamlError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(YamlError {
            origin: origin.to_owned(),
            line: 0,
            column: 0,
            message: format!(
                "document is {} bytes, more than the {MAX_DOCUMENT_BYTES} bytes allowed",
                text.len()
            ),
        });
    }
    crate::tree::check_depth(text).map_err(|d| YamlError {
        origin: origin.to_owned(),
        line: d.pos.line as usize,
        column: d.pos.column as usize,
        message: d.message,
    })?;
    serde_yaml::from_str(text).map_err(|err| {
        let (line, column) = err
            .location()
            .map_or((0, 0), |loc| (loc.line(), loc.column()));
        YamlError {
            origin: origin.to_owned(),
            line,
            column,
            message: strip_location_suffix(&err.to_string()),
        }
    })
}

/// serde_yaml appends " at line L column C" to its messages; we report the location ourselves.
fn strip_location_suffix(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(idx) => message[..idx].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read only through Debug in assertions
    struct Sample {
        name: String,
        count: u32,
    }

    #[test]
    fn reports_origin_line_and_column() {
        let err =
            from_str::<Sample>("f.yaml", "name: a\ncount: nope\n").expect_err("must be refused");
        assert_eq!((err.line, err.column), (2, 8));
        assert!(
            err.to_string()
                .starts_with("f.yaml:2:8: count: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn unknown_field_is_named() {
        let err = from_str::<Sample>("f.yaml", "name: a\ncount: 1\nextra: 2\n")
            .expect_err("must be refused");
        assert!(err.message.contains("unknown field `extra`"), "{err}");
    }

    #[test]
    fn oversized_document_is_refused_before_parsing() {
        let text = "a".repeat(MAX_DOCUMENT_BYTES + 1);
        let err = from_str::<Sample>("big.yaml", &text).expect_err("must be refused");
        assert!(err.message.contains("more than"), "{err}");
    }
}
