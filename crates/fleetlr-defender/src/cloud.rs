//! Where the API and the sign-in endpoint live, per cloud.

use serde::Deserialize;

/// Regional API hosts of the commercial cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Us,
    Eu,
    Uk,
    Au,
    Swa,
    Ina,
    Aea,
}

/// The API base URL and the Entra ID authority host of a cloud.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Cloud {
    /// `https://api.security.microsoft.com` (the current documentation's host).
    Public,
    /// `https://api.securitycenter.microsoft.com` (most older examples).
    PublicLegacy,
    /// `https://{region}.api.security.microsoft.com`.
    Regional(Region),
    /// US Government Community Cloud.
    UsGcc,
    /// US GCC High and DoD.
    UsGccHigh,
    /// Anything else, such as the simulator: both URLs given.
    Custom {
        api_base: String,
        authority_host: String,
    },
}

impl Cloud {
    pub fn api_base(&self) -> String {
        match self {
            Self::Public => "https://api.security.microsoft.com".into(),
            Self::PublicLegacy => "https://api.securitycenter.microsoft.com".into(),
            Self::Regional(region) => {
                let name = match region {
                    Region::Us => "us",
                    Region::Eu => "eu",
                    Region::Uk => "uk",
                    Region::Au => "au",
                    Region::Swa => "swa",
                    Region::Ina => "ina",
                    Region::Aea => "aea",
                };
                format!("https://{name}.api.security.microsoft.com")
            }
            Self::UsGcc => "https://api-gcc.securitycenter.microsoft.us".into(),
            Self::UsGccHigh => "https://api-gov.securitycenter.microsoft.us".into(),
            Self::Custom { api_base, .. } => api_base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn authority_host(&self) -> String {
        match self {
            Self::UsGccHigh => "https://login.microsoftonline.us".into(),
            Self::Custom { authority_host, .. } => authority_host.trim_end_matches('/').to_owned(),
            _ => "https://login.microsoftonline.com".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_name_the_documented_hosts() {
        assert_eq!(
            Cloud::Regional(Region::Eu).api_base(),
            "https://eu.api.security.microsoft.com"
        );
        assert_eq!(
            Cloud::UsGccHigh.authority_host(),
            "https://login.microsoftonline.us"
        );
        assert_eq!(
            Cloud::UsGcc.authority_host(),
            "https://login.microsoftonline.com"
        );
        let custom = Cloud::Custom {
            api_base: "https://127.0.0.1:1/".into(),
            authority_host: "https://127.0.0.1:1".into(),
        };
        assert_eq!(custom.api_base(), "https://127.0.0.1:1");
    }
}
