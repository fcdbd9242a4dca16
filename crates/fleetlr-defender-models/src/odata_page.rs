//! OData envelopes: collection pages and single values.

use super::wire::null_as_default;
use serde::{Deserialize, Serialize};

/// One page of an OData collection.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
// `deserialize_with` stops serde inferring the bound on `T`, so it is spelled out.
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct ODataPage<T> {
    /// The items of this page.
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: Vec<T>,
    /// Where the next page is; absent on the last one.
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    /// The total matching count, when `$count=true` was asked for.
    #[serde(rename = "@odata.count", default)]
    pub count: Option<u64>,
}

impl<T> Default for ODataPage<T> {
    fn default() -> Self {
        Self {
            value: Vec::new(),
            next_link: None,
            count: None,
        }
    }
}

/// A single value in OData's envelope (`{"@odata.context": …, "value": …}`), as the result
/// link endpoint answers.
#[derive(Debug, Deserialize)]
pub struct ODataValue<T> {
    pub value: T,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MachineAction;

    #[test]
    fn paging_fields_are_read() {
        let page: ODataPage<MachineAction> = serde_json::from_str(
            r#"{"@odata.context": "x", "@odata.count": 3,
                "@odata.nextLink": "https://h/api/machineactions?$skip=2",
                "value": [{"id": "a"}, {"id": "b"}]}"#,
        )
        .expect("page parses");
        assert_eq!(page.value.len(), 2);
        assert_eq!(page.count, Some(3));
        assert_eq!(
            page.next_link.as_deref(),
            Some("https://h/api/machineactions?$skip=2")
        );
    }

    #[test]
    fn the_result_link_envelope_parses() {
        // §3 of the reference, verbatim.
        let link: ODataValue<String> = serde_json::from_str(
            r#"{
    "@odata.context": "https://api.securitycenter.microsoft.com/api/$metadata#Edm.String",
    "value": "https://core.windows.net/investigation-actions-data/ID/CustomPlaybookCommandOutput/4ed5e7807ad1fe59b00b664fe06a0f07?se=2021-02-04T16%3A13%3A50Z&sp=r&sv=2019-07-07&sr=b&sig=1dYGe9rPvUlXBPvYSmr6/OLXPY98m8qWqfIQCBbyZTY%3D"
}"#,
        )
        .expect("link parses");
        assert!(link.value.contains("sig="));
    }
}
