//! The live response library (`/api/libraryfiles`).

use super::wire::{null_as_default, timestamp};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A file in the tenant's live response library.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LibraryFile {
    /// The name scripts and PutFile refer to; required, as it is the file's identity.
    pub file_name: String,
    /// SHA-256 of the content, hex.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
    /// When it was first uploaded.
    #[serde(default, deserialize_with = "timestamp")]
    pub creation_time: Option<DateTime<Utc>>,
    /// When it was last replaced.
    #[serde(default, deserialize_with = "timestamp")]
    pub last_updated_time: Option<DateTime<Utc>>,
    /// Who uploaded it.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Whether the script takes parameters.
    #[serde(default, deserialize_with = "null_as_default")]
    pub has_parameters: bool,
    /// What the parameters are; left out when there are none.
    #[serde(default)]
    pub parameters_description: Option<String>,
}

/// A file to upload to the library.
#[derive(Debug, Clone, Default)]
pub struct LibraryUpload {
    /// The library name (letters, digits, `-`, `_`, `.`), sent as the `file` part's file name.
    pub file_name: String,
    /// The content (the API accepts up to 20 MB); `Bytes` so a 401 retry does not copy it.
    pub content: Bytes,
    /// `Description`.
    pub description: Option<String>,
    /// `ParametersDescription`.
    pub parameters_description: Option<String>,
    /// `HasParameters`.
    pub has_parameters: bool,
    /// `OverrideIfExists`: replace a file of the same name instead of failing.
    pub override_if_exists: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ODataPage;

    #[test]
    fn the_documented_library_list_parses() {
        // §5.1 of the reference, verbatim.
        let page: ODataPage<LibraryFile> = serde_json::from_str(
            r#"{
"@odata.context": "https://api.security.microsoft.com/api/$metadata#LibraryFiles",
"value": [
    {
    "fileName": "script1.ps1",
    "sha256": "6e212a0db618507c44e4ec8ee7499dfef7e5767e5f8d31144df3b96fd1145caf",
    "description": null,
    "creationTime": "2019-10-24T10:54:23.2009016Z",
    "lastUpdatedTime": "2019-10-24T10:54:23.2009016Z",
    "createdBy": "admin",
    "hasParameters": true,
    "parametersDescription": "test"
    },
    {
    "fileName": "script.sh",
    "sha256": "d0f3e3b0641dbf88ee39c822516e81a909d1d06d22341dd9b1f12aa5e5c027a2",
    "description": null,
    "creationTime": "2018-10-24T11:15:35.3688259Z",
    "lastUpdatedTime": "2018-10-24T11:15:35.3688259Z",
    "createdBy": "username",
    "hasParameters": false
    }
]
}"#,
        )
        .expect("library list parses");
        assert_eq!(page.value.len(), 2);
        let (first, second) = (&page.value[0], &page.value[1]);
        assert_eq!(first.file_name, "script1.ps1");
        assert!(first.has_parameters);
        assert_eq!(first.parameters_description.as_deref(), Some("test"));
        assert_eq!(first.created_by.as_deref(), Some("admin"));
        assert!(first.creation_time.is_some());
        assert!(!second.has_parameters && second.parameters_description.is_none());
        assert!(page.next_link.is_none());
    }
}
