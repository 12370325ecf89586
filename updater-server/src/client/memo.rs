//! Memoized answers: a bounded map from a request to the answer already computed for it against
//! one snapshot.
//!
//! An answer is memoized only when it did not depend on the throttling dice, so it is a pure
//! function of (snapshot, path, query string, User-Agent architecture) and replaying it is exactly
//! what evaluating again would produce. Each [`Snapshot`](crate::client::snapshot::Snapshot) owns its memo,
//! so publishing a new snapshot drops every memoized answer at the same instant.

use std::collections::HashMap;
use std::sync::RwLock;

use actix_web::web::Bytes;

/// A memoized answer: the winning rule and the exact body.
#[derive(Debug, Clone)]
pub struct MemoEntry {
    /// `(rule_id, data_version)` of the winning rule, if one was chosen.
    pub rule: Option<(i64, i64)>,
    /// The XML body (cheap to clone).
    pub body: Bytes,
    /// The release offered, if any (counted per answer, memoized or not).
    pub served: Option<std::sync::Arc<str>>,
}

/// A bounded request → answer map. When full it is cleared rather than grown, which bounds memory
/// at `capacity` entries and keeps the hot path free of eviction bookkeeping.
#[derive(Debug, Default)]
pub struct ResponseMemo {
    capacity: usize,
    map: RwLock<HashMap<String, MemoEntry>>,
}

impl ResponseMemo {
    /// A memo holding at most `capacity` answers (0 disables it).
    pub fn new(capacity: usize) -> Self {
        ResponseMemo {
            capacity,
            map: RwLock::new(HashMap::new()),
        }
    }

    /// The key of a request: everything an answer can depend on besides the dice.
    pub fn key(path: &str, query_string: &str, user_agent_ppc: bool) -> String {
        let mut key = String::with_capacity(path.len() + query_string.len() + 3);
        key.push_str(path);
        key.push('?');
        key.push_str(query_string);
        key.push(if user_agent_ppc { '\u{1}' } else { '\u{0}' });
        key
    }

    /// The memoized answer for `key`.
    pub fn get(&self, key: &str) -> Option<MemoEntry> {
        if self.capacity == 0 {
            return None;
        }
        self.map.read().ok()?.get(key).cloned()
    }

    /// Memoizes an answer.
    pub fn put(&self, key: String, entry: MemoEntry) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut map) = self.map.write() {
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert(key, entry);
        }
    }

    /// How many answers are memoized.
    pub fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }

    /// Is the memo empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> MemoEntry {
        MemoEntry {
            rule: Some((n, 1)),
            body: Bytes::from(format!("body {n}")),
            served: None,
        }
    }

    #[test]
    fn bounded_and_disableable() {
        let memo = ResponseMemo::new(2);
        memo.put("a".into(), entry(1));
        memo.put("b".into(), entry(2));
        assert_eq!(memo.get("a").unwrap().rule, Some((1, 1)));
        memo.put("c".into(), entry(3));
        assert_eq!(memo.len(), 1, "a full memo is cleared, not grown");
        assert!(memo.get("a").is_none());
        assert_eq!(memo.get("c").unwrap().body, Bytes::from("body 3"));
        let off = ResponseMemo::new(0);
        off.put("a".into(), entry(1));
        assert!(off.get("a").is_none() && off.is_empty());
        assert_ne!(
            ResponseMemo::key("/u", "", true),
            ResponseMemo::key("/u", "", false)
        );
        assert_ne!(
            ResponseMemo::key("/u", "force=1", false),
            ResponseMemo::key("/u?force=1", "", false)
        );
    }
}
