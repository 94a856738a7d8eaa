//! Keyset pagination for every list: at most `limit` rows after the cursor,
//! and the cursor of the next page when there may be one.
//!
//! Cursors are opaque to callers: the sort key of the last row returned,
//! base64url-encoded, so a list can be walked while rows are added or removed
//! without skipping or repeating any that stay.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::validation::FieldError;

/// Rows per page when the caller names no limit.
pub const DEFAULT_LIMIT: u64 = 100;
/// The largest page a caller may ask for.
pub const MAX_LIMIT: u64 = 1000;

/// Which page a caller wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows to return (1..=[`MAX_LIMIT`]).
    pub limit: u64,
    /// The sort key of the last row of the previous page.
    pub after: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { limit: DEFAULT_LIMIT, after: None }
    }
}

impl PageRequest {
    /// Checks `limit` and decodes `cursor` as the API receives them.
    pub fn parse(limit: Option<u64>, cursor: Option<&str>) -> Result<Self, FieldError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(FieldError::new("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let after = match cursor {
            None | Some("") => None,
            Some(c) => Some(
                URL_SAFE_NO_PAD.decode(c).ok().and_then(|bytes| String::from_utf8(bytes).ok()).ok_or_else(
                    || {
                        FieldError::new(
                            "cursor",
                            "is not a cursor this API returned; pass `next_cursor` as is",
                        )
                    },
                )?,
            ),
        };
        Ok(Self { limit, after })
    }

    /// How many rows to fetch: one more than the page, to learn whether another follows.
    pub(crate) fn fetch(&self) -> u64 {
        self.limit + 1
    }

    /// Cuts the rows fetched (sorted, at most [`Self::fetch`]) to the page and names the next cursor.
    pub fn finish<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() as u64 > self.limit;
        rows.truncate(usize::try_from(self.limit).unwrap_or(usize::MAX));
        let next_cursor = if more { rows.last().map(|r| URL_SAFE_NO_PAD.encode(key(r))) } else { None };
        Page { items: rows, next_cursor }
    }

    /// Pages a list already in memory, sorted by `key` ascending.
    pub fn slice<T>(&self, rows: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        self.slice_ordered(rows, key, false)
    }

    /// Pages a list already in memory, sorted by `key` descending (newest first by a time-ordered id).
    pub fn slice_desc<T>(&self, rows: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        self.slice_ordered(rows, key, true)
    }

    fn slice_ordered<T>(&self, rows: Vec<T>, key: impl Fn(&T) -> String, descending: bool) -> Page<T> {
        let rows: Vec<T> = match &self.after {
            Some(after) => rows
                .into_iter()
                .filter(|r| {
                    let k = key(r);
                    if descending {
                        k.as_str() < after.as_str()
                    } else {
                        k.as_str() > after.as_str()
                    }
                })
                .collect(),
            None => rows,
        };
        let fetch = usize::try_from(self.fetch()).unwrap_or(usize::MAX);
        self.finish(rows.into_iter().take(fetch).collect(), key)
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows, in list order.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The same page with each row converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::{PageRequest, MAX_LIMIT};

    #[test]
    fn walks_a_list_without_gaps_or_repeats() {
        let rows: Vec<String> = (0..25).map(|i| format!("{i:03}")).collect();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = PageRequest::parse(Some(10), cursor.as_deref()).unwrap();
            let got = page.slice(rows.clone(), Clone::clone);
            seen.extend(got.items);
            match got.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, rows);
    }

    #[test]
    fn limits_and_cursors_are_checked() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 100);
        assert_eq!(PageRequest::parse(Some(0), None).unwrap_err().field, "limit");
        assert_eq!(PageRequest::parse(Some(MAX_LIMIT + 1), None).unwrap_err().field, "limit");
        assert_eq!(PageRequest::parse(None, Some("%%%")).unwrap_err().field, "cursor");
        let exact = PageRequest::parse(Some(3), None).unwrap().slice(vec!["a", "b", "c"], |s| s.to_string());
        assert_eq!(exact.next_cursor, None, "a full last page has no next cursor");
    }
}
