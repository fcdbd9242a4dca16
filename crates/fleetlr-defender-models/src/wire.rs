//! Serde helpers shared by the models: open enums, lenient timestamps, null-as-default.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

/// Declares a string enum that keeps values it does not know instead of failing, which
/// `#[serde(other)]` cannot do (it drops the value). Known values match case-insensitively
/// because the docs and the service disagree on case (`onboarded` vs `Onboarded`); `null` and
/// absence become `Other("")`.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this client does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value as the service spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => stringify!($variant),)+
                    Self::Other(other) => other,
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::Other(String::new())
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                $(if text.eq_ignore_ascii_case(stringify!($variant)) {
                    return Self::$variant;
                })+
                Self::Other(text.to_owned())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = Option::<String>::deserialize(deserializer)?;
                Ok(text.as_deref().map(Self::from).unwrap_or_default())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use open_enum;

/// A timestamp with 0 to 7 fractional digits, with or without the `Z` (the service trims
/// trailing zeros on some fields and not others); `null` and absence are `None`.
pub(crate) fn timestamp<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) if text.is_empty() => Ok(None),
        Some(text) => parse_timestamp(&text)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a timestamp"))),
    }
}

/// Parses the timestamp forms the service sends; a zone-less value is UTC.
pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}

/// `null` and absence both mean the type's default (an empty list, `false`, an empty string).
pub(crate) fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An identifier the service sends as a number in some places and a string in others
/// (`rbacGroupId`), kept as its decimal text so nothing is lost either way.
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(
        match Option::<serde_json::Value>::deserialize(deserializer)? {
            Some(serde_json::Value::String(text)) => Some(text),
            Some(serde_json::Value::Number(number)) => Some(number.to_string()),
            _ => None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    #[test]
    fn timestamps_with_zero_to_seven_fractional_digits_parse() {
        let cases = [
            ("2023-03-18T21:04:01Z", 0),
            ("2023-03-18T21:04:01.9Z", 900_000_000),
            ("2023-03-18T21:04:01.92Z", 920_000_000),
            ("2023-03-18T21:04:01.693Z", 693_000_000),
            ("2023-03-18T21:04:41.93163Z", 931_630_000),
            ("2023-03-18T21:04:41.610309Z", 610_309_000),
            ("2023-03-18T21:02:00.3538594Z", 353_859_400),
            ("2023-03-18T21:02:00.3538594", 353_859_400),
            ("2023-03-18T21:02:00.3538594+00:00", 353_859_400),
        ];
        for (text, nanos) in cases {
            let at = parse_timestamp(text).unwrap_or_else(|| panic!("{text} parses"));
            assert_eq!(at.nanosecond(), nanos, "{text}");
            assert_eq!(at.date_naive().to_string(), "2023-03-18", "{text}");
        }
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn null_and_empty_timestamps_are_none() {
        #[derive(Debug, Deserialize)]
        struct Holder {
            #[serde(default, deserialize_with = "timestamp")]
            at: Option<DateTime<Utc>>,
        }
        for json in [r#"{"at":null}"#, r#"{"at":""}"#, "{}"] {
            let holder: Holder = serde_json::from_str(json).expect("parses");
            assert!(holder.at.is_none(), "{json}");
        }
        let bad = serde_json::from_str::<Holder>(r#"{"at":"soon"}"#).expect_err("rejected");
        assert!(
            bad.to_string().contains("`soon` is not a timestamp"),
            "{bad}"
        );
    }
}
