//! `${NAME}` in the configuration text, replaced by the environment variable `NAME` before the
//! YAML is parsed, so secrets stay out of the file. `$${` stands for a literal `${`. Comments
//! (whole lines and the rest of a line after ` #`) are left as written, so a commented-out
//! example needs no variable set. A value must fit on one line, so the YAML parser's line
//! numbers stay those of the file.

use std::env::VarError;

/// A `${…}` that could not be replaced, at `origin:line:column` (`place`).
#[derive(Debug, thiserror::Error)]
pub enum InterpolateError {
    #[error(
        "{place}: `${{` without a closing `}}`; write `${{NAME}}`, or `$${{` for a literal `${{`"
    )]
    Unclosed { place: String },
    #[error(
        "{place}: `${{{name}}}` is not a variable name (letters, digits and `_`, not starting with a digit); write `$${{` for a literal `${{`"
    )]
    NotAName { place: String, name: String },
    #[error(
        "{place}: environment variable `{name}` holds a line break; a value put into the configuration must be a single line"
    )]
    LineBreak { place: String, name: String },
    #[error(
        "{place}: environment variable `{name}` is not set; set it, or write `$${{` for a literal `${{`"
    )]
    NotSet { place: String, name: String },
    #[error("{place}: environment variable `{name}` is not valid UTF-8; set it to UTF-8 text")]
    NotUnicode { place: String, name: String },
}

/// Replaces every `${NAME}` outside comments with `lookup(NAME)`; an unset, non-UTF-8 or
/// multi-line variable is an error naming it and its `origin:line:column`.
pub fn interpolate(
    origin: &str,
    text: &str,
    lookup: impl Fn(&str) -> Result<String, VarError>,
) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let (content, comment) = line.split_at(comment_start(line));
        let mut rest = content;
        while let Some(start) = rest.find("${") {
            let column = content[..content.len() - rest.len() + start]
                .chars()
                .count()
                + 1;
            let place = format!("{origin}:{}:{column}", index + 1);
            if rest[..start].ends_with('$') {
                out.push_str(&rest[..start - 1]);
                out.push_str("${");
                rest = &rest[start + 2..];
                continue;
            }
            out.push_str(&rest[..start]);
            let Some(length) = rest[start + 2..].find('}') else {
                return Err(InterpolateError::Unclosed { place });
            };
            let name = rest[start + 2..start + 2 + length].to_owned();
            if !is_variable_name(&name) {
                return Err(InterpolateError::NotAName { place, name });
            }
            match lookup(&name) {
                Ok(value) if value.contains(['\n', '\r']) => {
                    return Err(InterpolateError::LineBreak { place, name });
                }
                Ok(value) => out.push_str(&value),
                Err(VarError::NotPresent) => return Err(InterpolateError::NotSet { place, name }),
                Err(VarError::NotUnicode(_)) => {
                    return Err(InterpolateError::NotUnicode { place, name });
                }
            }
            rest = &rest[start + 2 + length + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The byte offset where the line's comment starts (its length when it has none): a `#` at the
/// start of the line or after white space, outside quoted scalars. A quote opens a scalar only
/// where one can start (line start, after `: `, `- `, `? `, `[`, `{` or `,`), so the
/// apostrophe of `it's` is not taken for one. Quoted scalars spanning lines are not followed.
fn comment_start(line: &str) -> usize {
    let mut quote: Option<char> = None;
    let mut previous: Option<char> = None;
    let mut last_visible: Option<char> = None;
    let mut spaced = true;
    let mut chars = line.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match quote {
            Some('\'') => {
                if c == '\'' {
                    // `''` is an escaped quote inside a single-quoted scalar.
                    if chars.peek().is_some_and(|&(_, next)| next == '\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
            }
            Some(_) => {
                if c == '\\' {
                    chars.next();
                } else if c == '"' {
                    quote = None;
                }
            }
            None => {
                if c == '#' && previous.is_none_or(char::is_whitespace) {
                    return at;
                }
                if c.is_whitespace() {
                    spaced = true;
                } else {
                    let opens = match last_visible {
                        None => true,
                        Some(':' | '-' | '?') => spaced,
                        Some('[' | '{' | ',') => true,
                        Some(_) => false,
                    };
                    if (c == '\'' || c == '"') && opens {
                        quote = Some(c);
                    }
                    last_visible = Some(c);
                    spaced = false;
                }
            }
        }
        previous = Some(c);
    }
    line.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Result<String, VarError> {
        match name {
            "SECRET" => Ok("s3cr3t".into()),
            "EMPTY" => Ok(String::new()),
            "TWO_LINES" => Ok("a\nb".into()),
            _ => Err(VarError::NotPresent),
        }
    }

    #[test]
    fn replaces_variables_and_leaves_everything_else_as_written() {
        let cases = [
            ("a: ${SECRET}\n", "a: s3cr3t\n"),
            ("a: '${SECRET}'\n", "a: 's3cr3t'\n"),
            ("a: x${SECRET}y${SECRET}\n", "a: xs3cr3tys3cr3t\n"),
            ("a: ${EMPTY}\n", "a: \n"),
            ("a: $${SECRET}\n", "a: ${SECRET}\n"),
            ("a: $${UNSET}\n", "a: ${UNSET}\n"),
            ("a: $ {UNSET} $x {x}\n", "a: $ {UNSET} $x {x}\n"),
            ("  # b: ${UNSET}\n", "  # b: ${UNSET}\n"),
            ("a: ${SECRET} # b: ${UNSET}\n", "a: s3cr3t # b: ${UNSET}\n"),
            ("a: '#${SECRET}' # ${UNSET}\n", "a: '#s3cr3t' # ${UNSET}\n"),
            ("a: \"x #${SECRET}\"\n", "a: \"x #s3cr3t\"\n"),
            ("a: 'it''s #${SECRET}'\n", "a: 'it''s #s3cr3t'\n"),
            ("a: it's #${UNSET}\n", "a: it's #${UNSET}\n"),
            ("a: http://x/#${SECRET}\n", "a: http://x/#s3cr3t\n"),
            (
                "- {a: '${SECRET}', b: x} # ${UNSET}\n",
                "- {a: 's3cr3t', b: x} # ${UNSET}\n",
            ),
            ("a: ${SECRET}", "a: s3cr3t"),
            ("a: ${SECRET}\r\n", "a: s3cr3t\r\n"),
        ];
        for (text, expected) in cases {
            let out =
                interpolate("c.yaml", text, env).unwrap_or_else(|err| panic!("{text:?}: {err:#}"));
            assert_eq!(out, expected, "{text:?}");
        }
    }

    #[test]
    fn refusals_name_the_variable_and_its_place() {
        let cases = [
            (
                "a: 1\nb: x ${NOPE}\n",
                "c.yaml:2:6: environment variable `NOPE` is not set; set it, or write `$${` for a literal `${`",
            ),
            (
                "a: ${TWO_LINES}\n",
                "c.yaml:1:4: environment variable `TWO_LINES` holds a line break; a value put into the configuration must be a single line",
            ),
            (
                "a: ${SECRET\n",
                "c.yaml:1:4: `${` without a closing `}`; write `${NAME}`, or `$${` for a literal `${`",
            ),
            (
                "a: é${1X}\n",
                "c.yaml:1:5: `${1X}` is not a variable name (letters, digits and `_`, not starting with a digit); write `$${` for a literal `${`",
            ),
            (
                "a: ${}\n",
                "c.yaml:1:4: `${}` is not a variable name (letters, digits and `_`, not starting with a digit); write `$${` for a literal `${`",
            ),
        ];
        for (text, expected) in cases {
            let err = interpolate("c.yaml", text, env).expect_err(text);
            assert_eq!(err.to_string(), expected, "{text:?}");
        }
    }

    #[test]
    fn a_variable_that_is_not_utf8_is_named() {
        let err = interpolate("c.yaml", "a: ${X}\n", |_| {
            Err(VarError::NotUnicode(std::ffi::OsString::new()))
        })
        .expect_err("not unicode");
        assert_eq!(
            err.to_string(),
            "c.yaml:1:4: environment variable `X` is not valid UTF-8; set it to UTF-8 text"
        );
    }
}
