//! Collection responses with `$filter`, `$orderby`, `$count`, `$top`, `$skip` and `@odata.nextLink`.

use super::{api_error, origin};
use crate::odata::{Filter, order_by};
use axum::http::StatusCode;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// The documented maximum for `$top` and for a page.
const MAX_TOP: usize = 10_000;

pub struct Collection<'a> {
    /// `#MachineActions`, `#Machines`, `#LibraryFiles`.
    pub context: &'a str,
    pub filterable: &'a [&'a str],
    pub sortable: &'a [&'a str],
    pub page_size: usize,
}

/// Answers a collection request, or a 400 `ODataError` for a query the service refuses.
pub fn respond(
    mut items: Vec<Value>,
    query: &[(String, String)],
    collection: &Collection<'_>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Response {
    let origin = origin(headers);
    let request_url = format!("{origin}{}", uri.path());
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let odata_error = |message: String| api_error(StatusCode::BAD_REQUEST, "ODataError", message);
    if let Some(filter) = param("$filter") {
        match Filter::parse(filter, collection.filterable) {
            Ok(filter) => items.retain(|item| filter.matches(item)),
            Err(err) => return odata_error(format!("Invalid filter clause: {err}")),
        }
    }
    if let Some(clause) = param("$orderby")
        && let Err(err) = order_by(&mut items, clause, collection.sortable)
    {
        return odata_error(format!("Invalid orderby clause: {err}"));
    }
    let parse_number = |name: &str| -> Result<Option<usize>, Response> {
        param(name)
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|_| odata_error(format!("{name} must be a non-negative integer")))
            })
            .transpose()
    };
    let (top, skip) = match (parse_number("$top"), parse_number("$skip")) {
        (Ok(top), Ok(skip)) => (top, skip.unwrap_or(0)),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    if top.is_some_and(|top| top > MAX_TOP) {
        return odata_error(format!(
            "The limit of '{MAX_TOP}' for Top query has been exceeded"
        ));
    }
    let total = items.len();
    let wanted = top.unwrap_or(usize::MAX);
    let page_len = wanted
        .min(collection.page_size)
        .min(total.saturating_sub(skip));
    let page: Vec<Value> = items.into_iter().skip(skip).take(page_len).collect();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(format!("{origin}/api/$metadata{}", collection.context)),
    );
    if param("$count").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        body.insert("@odata.count".into(), Value::from(total));
    }
    let remaining = wanted.saturating_sub(page_len);
    if remaining > 0 && skip + page_len < total {
        let mut next = url::Url::parse(&request_url).unwrap_or_else(|_| {
            url::Url::parse("https://invalid.example/").expect("a constant URL parses")
        });
        {
            let mut pairs = next.query_pairs_mut();
            pairs.clear();
            for (key, value) in query {
                if !key.eq_ignore_ascii_case("$skip") && !key.eq_ignore_ascii_case("$top") {
                    pairs.append_pair(key, value);
                }
            }
            if top.is_some() {
                pairs.append_pair("$top", &remaining.to_string());
            }
            pairs.append_pair("$skip", &(skip + page_len).to_string());
        }
        body.insert("@odata.nextLink".into(), Value::String(next.to_string()));
    }
    body.insert("value".into(), Value::Array(page));
    axum::Json(Value::Object(body)).into_response()
}
