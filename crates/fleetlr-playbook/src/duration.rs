//! Human durations such as `90s`, `10m`, `1h30m`, `3d`.

use std::time::Duration;

/// Parses a duration written as one or more `<number><unit>` parts, units `d`, `h`, `m`, `s`,
/// largest first. Returns `None` for anything else, including an empty text.
pub fn parse(text: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut rest = text.trim();
    let mut last_unit_rank = usize::MAX;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let (rank, seconds) = match unit {
            'd' => (0, 86_400),
            'h' => (1, 3_600),
            'm' => (2, 60),
            's' => (3, 1),
            _ => return None,
        };
        // `1h30m` yes, `30m1h` or `1h1h` no: one way to write each duration.
        if last_unit_rank != usize::MAX && rank <= last_unit_rank {
            return None;
        }
        last_unit_rank = rank;
        total = total.checked_add(number.checked_mul(seconds)?)?;
        rest = &rest[digits + 1..];
    }
    Some(Duration::from_secs(total))
}

/// Writes a duration the way [`parse`] reads it, rounded down to whole seconds.
pub fn format(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        for (text, secs) in [
            ("90m", 5_400),
            ("3d", 259_200),
            ("1h30m", 5_400),
            ("45s", 45),
        ] {
            assert_eq!(parse(text), Some(Duration::from_secs(secs)), "{text}");
        }
        assert_eq!(format(Duration::from_secs(5_400)), "1h30m");
        assert_eq!(format(Duration::from_secs(259_200)), "3d");
        assert_eq!(format(Duration::from_secs(3_725)), "1h2m5s");
    }

    #[test]
    fn refuses_ambiguous_or_malformed() {
        for text in [
            "",
            "10",
            "m",
            "1x",
            "30m1h",
            "1h1h",
            "-1m",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
