//! A page of a list kept in a sequence all tenants share (a subscription's deliveries, the audit trail):
//! its size, where it starts, and the cursors it gives out. A cursor names a place in that sequence without
//! showing it ([`MasterKey::seal_position`]), and is taken back only for the list it was made for (`scope`).

use crate::crypto::MasterKey;
use crate::error::{ApiError, ApiResult};

/// A page's size when the request does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
pub const MAX_LIMIT: u32 = 200;

pub struct SharedPage<'k> {
    key: &'k MasterKey,
    scope: String,
    /// The page holds the entries before this place (newest first); `None` starts at the newest.
    pub before: Option<i64>,
    pub limit: u32,
}

impl<'k> SharedPage<'k> {
    /// The page a request asks for, with its `limit` and `cursor`.
    pub fn open(key: &'k MasterKey, scope: String, limit: Option<u32>, cursor: Option<&str>) -> ApiResult<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        let before = cursor
            .map(|c| {
                key.open_position(&scope, c)
                    .ok_or_else(|| ApiError::BadRequest("cursor is not one this server gave for this list".into()))
            })
            .transpose()?;
        Ok(SharedPage { key, scope, before, limit })
    }

    /// The name of an entry's place in this list (an audit line's `cursor`, a delivery's `id`).
    pub fn name(&self, seq: i64) -> String {
        self.key.seal_position(&self.scope, seq)
    }

    /// The next page's cursor, given the places of the entries found: none when the page is not full.
    pub fn next_cursor(&self, found: impl ExactSizeIterator<Item = i64>) -> Option<String> {
        let full = found.len() == self.limit as usize;
        found.last().filter(|_| full).map(|seq| self.name(seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_opens_only_its_own_cursors_and_gives_the_next_when_full() {
        let key = MasterKey::from_bytes(&[3; 32]);
        let first = SharedPage::open(&key, "audit:c1".into(), Some(2), None).unwrap();
        assert_eq!(first.before, None);
        let next = first.next_cursor([9, 7].into_iter()).expect("a full page has a next one");
        assert_eq!(first.next_cursor([9].into_iter()), None, "a page that is not full is the last");
        let second = SharedPage::open(&key, "audit:c1".into(), Some(2), Some(&next)).unwrap();
        assert_eq!(second.before, Some(7));
        assert!(SharedPage::open(&key, "audit:c2".into(), Some(2), Some(&next)).is_err(), "another list");
        assert!(SharedPage::open(&key, "audit:c1".into(), Some(0), None).is_err());
        assert!(SharedPage::open(&key, "audit:c1".into(), Some(201), None).is_err());
        assert!(SharedPage::open(&key, "audit:c1".into(), Some(200), Some("7")).is_err(), "a bare number");
    }
}
