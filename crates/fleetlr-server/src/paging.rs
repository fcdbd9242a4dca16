//! Pages of a run's rows (targets, outcomes, events) as the API answers them: at most `limit`
//! rows after the row `after`, and an RFC 8288 `Link: <…>; rel="next"` header when more follow.
//! A run of 100,000 devices is never read or answered whole.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fleetlr_store::Page;
use serde::Serialize;

/// Rows in a page when the request does not say.
pub(crate) const DEFAULT_PAGE: u32 = 1000;
/// Most rows one page holds, whatever the request says.
pub(crate) const MAX_PAGE: u32 = 10_000;

/// What a request asked for: the rows after `after`, `limit` of them (clamped to 1..=MAX_PAGE).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked {
    after: Option<i64>,
    limit: u32,
}

impl Asked {
    pub(crate) fn new(after: Option<i64>, limit: Option<u32>) -> Self {
        Self {
            after,
            limit: limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE),
        }
    }

    /// The store read: one row more than answered, which tells whether another page follows.
    pub(crate) fn read(self) -> Page {
        let limit = self.limit + 1;
        match self.after {
            Some(after) => Page::after(after, limit),
            None => Page::first(limit),
        }
    }

    /// The answer to a `read`: its first `limit` rows, linked to the next page when there is
    /// one. `path` is the request's path and `filters` its query apart from paging.
    pub(crate) fn answer<T>(
        self,
        mut rows: Vec<T>,
        id: impl Fn(&T) -> i64,
        path: &str,
        filters: &[(&str, Option<&str>)],
    ) -> Paged<T> {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next = rows.last().filter(|_| more).map(|last| {
            let mut query: Vec<(&str, String)> = filters
                .iter()
                .filter_map(|(name, value)| value.map(|v| (*name, v.to_owned())))
                .collect();
            query.push(("limit", self.limit.to_string()));
            query.push(("after", id(last).to_string()));
            // Names and values are plain strings, which always encode.
            let query = serde_urlencoded::to_string(&query).unwrap_or_default();
            format!("<{path}?{query}>; rel=\"next\"")
        });
        Paged { rows, next }
    }
}

/// One page of rows, answered as a JSON array.
pub(crate) struct Paged<T> {
    rows: Vec<T>,
    next: Option<String>,
}

impl<T> Paged<T> {
    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            rows: self.rows.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

impl<T: Serialize> IntoResponse for Paged<T> {
    fn into_response(self) -> Response {
        let mut response = Json(self.rows).into_response();
        if let Some(link) = self.next.and_then(|next| HeaderValue::from_str(&next).ok()) {
            response.headers_mut().insert(header::LINK, link);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_page_links_to_the_rows_after_its_last_with_the_same_filters() {
        let asked = Asked::new(Some(10), Some(2));
        assert_eq!(asked.read(), Page::after(10, 3));
        let page = asked.answer(
            vec![11, 12, 13],
            |n| *n,
            "/api/v1/runs/r1/outcomes",
            &[("device", Some("ws 1&x")), ("state", None)],
        );
        assert_eq!(page.rows, [11, 12]);
        assert_eq!(
            page.next.as_deref(),
            Some("</api/v1/runs/r1/outcomes?device=ws+1%26x&limit=2&after=12>; rel=\"next\"")
        );
    }

    #[test]
    fn the_last_page_links_nowhere_and_limits_are_clamped() {
        let page = Asked::new(None, None).answer(vec![1, 2], |n| *n, "/x", &[]);
        assert_eq!((page.rows, page.next), (vec![1, 2], None));
        assert_eq!(Asked::new(None, Some(0)).read(), Page::first(2));
        assert_eq!(
            Asked::new(None, Some(u32::MAX)).read(),
            Page::first(MAX_PAGE + 1)
        );
    }
}
