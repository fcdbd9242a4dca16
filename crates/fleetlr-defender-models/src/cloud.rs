//! Where the API and the sign-in endpoint live, per cloud (pure data: `fleetlr-defender` calls them,
//! the configuration names them).

use serde::{Deserialize, Serialize};

/// Regional API hosts of the commercial cloud (`https://{region}.api.security.microsoft.com`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// United States.
    Us,
    /// Europe.
    Eu,
    /// United Kingdom.
    Uk,
    /// Australia.
    Au,
    /// Switzerland.
    Swa,
    /// India.
    Ina,
    /// United Arab Emirates.
    Aea,
}

impl Region {
    fn host_prefix(self) -> &'static str {
        match self {
            Self::Us => "us",
            Self::Eu => "eu",
            Self::Uk => "uk",
            Self::Au => "au",
            Self::Swa => "swa",
            Self::Ina => "ina",
            Self::Aea => "aea",
        }
    }
}

/// The API base URL and the Entra ID authority host of a cloud. In configuration:
/// `public`, `public_legacy`, `{regional: eu}`, `us_gcc`, `us_gcc_high`, or
/// `{custom: {api_base: …, authority_host: …}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Cloud {
    /// `https://api.security.microsoft.com` (the current documentation's host).
    #[default]
    Public,
    /// `https://api.securitycenter.microsoft.com` (most older examples).
    PublicLegacy,
    /// `https://{region}.api.security.microsoft.com`.
    Regional(Region),
    /// US Government Community Cloud: `https://api-gcc.securitycenter.microsoft.us`.
    UsGcc,
    /// US GCC High and DoD: `https://api-gov.securitycenter.microsoft.us`, signing in at
    /// `https://login.microsoftonline.us`.
    UsGccHigh,
    /// Anything else, such as the simulator or a proxy: both URLs given (https).
    Custom {
        /// The API base, without `/api`.
        api_base: String,
        /// The Entra ID authority host; tokens come from `{authority_host}/{tenant}/oauth2/v2.0/token`.
        authority_host: String,
    },
}

impl Cloud {
    /// The API base URL, without a trailing slash or `/api`.
    pub fn api_base(&self) -> String {
        match self {
            Self::Public => "https://api.security.microsoft.com".into(),
            Self::PublicLegacy => "https://api.securitycenter.microsoft.com".into(),
            Self::Regional(region) => {
                format!(
                    "https://{}.api.security.microsoft.com",
                    region.host_prefix()
                )
            }
            Self::UsGcc => "https://api-gcc.securitycenter.microsoft.us".into(),
            Self::UsGccHigh => "https://api-gov.securitycenter.microsoft.us".into(),
            Self::Custom { api_base, .. } => api_base.trim_end_matches('/').to_owned(),
        }
    }

    /// The Entra ID authority host, without a trailing slash.
    pub fn authority_host(&self) -> String {
        match self {
            Self::UsGccHigh => "https://login.microsoftonline.us".into(),
            Self::Custom { authority_host, .. } => authority_host.trim_end_matches('/').to_owned(),
            Self::Public | Self::PublicLegacy | Self::Regional(_) | Self::UsGcc => {
                "https://login.microsoftonline.com".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_name_the_documented_hosts() {
        let cases = [
            (
                Cloud::Public,
                "https://api.security.microsoft.com",
                "https://login.microsoftonline.com",
            ),
            (
                Cloud::PublicLegacy,
                "https://api.securitycenter.microsoft.com",
                "https://login.microsoftonline.com",
            ),
            (
                Cloud::Regional(Region::Eu),
                "https://eu.api.security.microsoft.com",
                "https://login.microsoftonline.com",
            ),
            (
                Cloud::Regional(Region::Aea),
                "https://aea.api.security.microsoft.com",
                "https://login.microsoftonline.com",
            ),
            (
                Cloud::UsGcc,
                "https://api-gcc.securitycenter.microsoft.us",
                "https://login.microsoftonline.com",
            ),
            (
                Cloud::UsGccHigh,
                "https://api-gov.securitycenter.microsoft.us",
                "https://login.microsoftonline.us",
            ),
        ];
        for (cloud, api, authority) in cases {
            assert_eq!(
                (cloud.api_base().as_str(), cloud.authority_host().as_str()),
                (api, authority)
            );
        }
        let custom = Cloud::Custom {
            api_base: "https://127.0.0.1:8443/".into(),
            authority_host: "https://127.0.0.1:8443/".into(),
        };
        assert_eq!(custom.api_base(), "https://127.0.0.1:8443");
        assert_eq!(custom.authority_host(), "https://127.0.0.1:8443");
    }

    #[test]
    fn clouds_read_from_configuration() {
        let parse = |json: &str| serde_json::from_str::<Cloud>(json).expect("cloud parses");
        assert_eq!(parse(r#""public""#), Cloud::Public);
        assert_eq!(parse(r#""us_gcc_high""#), Cloud::UsGccHigh);
        assert_eq!(
            parse(r#"{"regional": "swa"}"#),
            Cloud::Regional(Region::Swa)
        );
        assert_eq!(
            parse(r#"{"custom": {"api_base": "https://a", "authority_host": "https://b"}}"#),
            Cloud::Custom {
                api_base: "https://a".into(),
                authority_host: "https://b".into()
            }
        );
        assert!(serde_json::from_str::<Cloud>(r#""mars""#).is_err());
    }
}
