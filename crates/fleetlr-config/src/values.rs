//! The configuration's own value syntaxes: periods (`30s`, `10m`, `1h30m`, `3d`), the listen
//! address and the cloud. Each refuses a bad value with a message saying how to write it; the
//! YAML loader adds `file:line:column` and the key.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use fleetlr_defender_models::{Cloud, Region};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

const PERIOD_HINT: &str =
    "write a whole number and a unit (s, m, h, d), e.g. 30s, 10m, 1h30m or 3d";

/// A period written `90s`, `10m`, `1h30m` or `3d`. A bare number is refused: its unit would
/// be a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period(pub Duration);

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PeriodVisitor;

        impl Visitor<'_> for PeriodVisitor {
            type Value = Period;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 10m, 2h or 3d")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Period, E> {
                fleetlr_playbook::parse_duration(text)
                    .map(Period)
                    .ok_or_else(|| E::custom(format!("`{text}` is not a duration; {PERIOD_HINT}")))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Period, E> {
                Err(E::custom(format!(
                    "`{n}` has no unit; write {n}s, {n}m, {n}h or {n}d"
                )))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Period, E> {
                Err(E::custom(format!("`{n}` is not a duration; {PERIOD_HINT}")))
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Period, E> {
                Err(E::custom(format!("`{n}` is not a duration; {PERIOD_HINT}")))
            }
        }

        deserializer.deserialize_any(PeriodVisitor)
    }
}

/// `listen:` an IP address and a port. Host names are refused rather than resolved, so the
/// address the daemon binds is the one written.
pub fn socket_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    struct AddrVisitor;

    impl AddrVisitor {
        fn refuse<E: de::Error>(text: &dyn fmt::Display) -> E {
            E::custom(format!(
                "`{text}` is not an IP address and port; write e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080 (host names are not resolved)"
            ))
        }
    }

    impl Visitor<'_> for AddrVisitor {
        type Value = SocketAddr;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an IP address and port such as 127.0.0.1:8080")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<SocketAddr, E> {
            text.trim().parse().map_err(|_| Self::refuse(&text))
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<SocketAddr, E> {
            Err(Self::refuse(&n))
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<SocketAddr, E> {
            Err(Self::refuse(&n))
        }
    }

    deserializer.deserialize_any(AddrVisitor)
}

const CLOUD_HINT: &str = "write public, public_legacy, us_gcc, us_gcc_high, {regional: eu} (us, eu, uk, au, swa, ina, aea) or {custom: {api_base: https://…, authority_host: https://…}}";

/// `cloud:` one of the presets by name, `{regional: eu}`, or
/// `{custom: {api_base: …, authority_host: …}}`, in plain YAML (no `!tags`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudSetting(pub Cloud);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomCloud {
    api_base: String,
    authority_host: String,
}

impl<'de> Deserialize<'de> for CloudSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CloudVisitor;

        impl<'de> Visitor<'de> for CloudVisitor {
            type Value = CloudSetting;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a cloud; {CLOUD_HINT}")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<CloudSetting, E> {
                Ok(CloudSetting(match name {
                    "public" => Cloud::Public,
                    "public_legacy" => Cloud::PublicLegacy,
                    "us_gcc" => Cloud::UsGcc,
                    "us_gcc_high" => Cloud::UsGccHigh,
                    "regional" => {
                        return Err(E::custom(
                            "`regional` needs its region: write e.g. {regional: eu}",
                        ));
                    }
                    "custom" => {
                        return Err(E::custom(
                            "`custom` needs its URLs: write {custom: {api_base: https://…, authority_host: https://…}}",
                        ));
                    }
                    other => {
                        return Err(E::custom(format!("unknown cloud `{other}`; {CLOUD_HINT}")));
                    }
                }))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CloudSetting, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(format!("empty cloud; {CLOUD_HINT}")));
                };
                let cloud = match key.as_str() {
                    "regional" => Cloud::Regional(map.next_value::<Region>()?),
                    "custom" => {
                        let custom: CustomCloud = map.next_value()?;
                        Cloud::Custom {
                            api_base: custom.api_base,
                            authority_host: custom.authority_host,
                        }
                    }
                    other => {
                        return Err(de::Error::custom(format!(
                            "unknown cloud `{other}`; {CLOUD_HINT}"
                        )));
                    }
                };
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(format!(
                        "a cloud is a single key; {CLOUD_HINT}"
                    )));
                }
                Ok(CloudSetting(cloud))
            }
        }

        deserializer.deserialize_any(CloudVisitor)
    }
}
