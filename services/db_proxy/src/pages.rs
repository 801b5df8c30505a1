//! Pages of orders, newest first, mostly from memory.
//!
//! A stored order never changes and seqs are gapless, committed together with
//! the order count. So a page is the count (one key lookup; it is the page's
//! `total`, and every seq up to it exists) and the orders of a range of seqs,
//! whose JSON this process keeps once it has read them: the newest orders, read
//! by every first page, are decoded and encoded once, not at every request.
//! Only seqs not kept yet are read from Postgres, in one range scan. Replicas
//! keep their own copies; nothing in them can go stale.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::db::DirectPool;

use crate::domain::{self, PageFrom, PageSpec};
use crate::storage;

/// The JSON of stored orders by seq; the lowest seqs go first when it is full.
pub struct OrderJson {
    capacity: usize,
    by_seq: Mutex<BTreeMap<i64, Arc<str>>>,
}

impl OrderJson {
    /// Keeps at most `capacity` orders (0: none, every page reads Postgres).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            by_seq: Mutex::new(BTreeMap::new()),
        }
    }

    /// The kept JSON of `hi` down to `lo`; `None` where it is not kept.
    fn get(&self, lo: i64, hi: i64) -> Vec<Option<Arc<str>>> {
        let Ok(by_seq) = self.by_seq.lock() else {
            return vec![None; usize::try_from(hi - lo + 1).unwrap_or(0)];
        };
        (lo..=hi).rev().map(|seq| by_seq.get(&seq).cloned()).collect()
    }

    fn put(&self, orders: &[(i64, Arc<str>)]) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut by_seq) = self.by_seq.lock() {
            for (seq, json) in orders {
                by_seq.insert(*seq, json.clone());
            }
            while by_seq.len() > self.capacity {
                by_seq.pop_first();
            }
        }
    }
}

/// The seqs of a page, `(lo, hi)`, for `total` stored orders; `None` when empty.
pub fn seq_range(spec: PageSpec, total: i64) -> Option<(i64, i64)> {
    let hi = match spec.from {
        PageFrom::Start(skip) => total.saturating_sub(skip),
        PageFrom::Before(seq) => total.min(seq - 1),
    };
    (hi >= 1).then(|| ((hi - spec.size + 1).max(1), hi))
}

/// The JSON of the orders with seqs `hi` down to `lo` (every one committed),
/// from memory where kept, the rest in one range scan.
pub async fn kept_range(
    conn: &mut sqlx::PgConnection,
    kept: &OrderJson,
    lo: i64,
    hi: i64,
) -> Result<Vec<(i64, Arc<str>)>, sqlx::Error> {
    let mut found = kept.get(lo, hi);
    let missing: Vec<i64> = (lo..=hi)
        .rev()
        .zip(&found)
        .filter(|(_, j)| j.is_none())
        .map(|(seq, _)| seq)
        .collect();
    if let (Some(&top), Some(&bottom)) = (missing.first(), missing.last()) {
        let read = storage::orders_between(conn, bottom, top).await?;
        let mut fresh = Vec::with_capacity(read.len());
        for order in &read {
            let json: Arc<str> = serde_json::to_string(order)
                .map_err(|e| sqlx::Error::Decode(e.into()))?
                .into();
            if let Some(slot) = usize::try_from(hi - order.seq)
                .ok()
                .and_then(|i| found.get_mut(i))
            {
                *slot = Some(json.clone());
            }
            fresh.push((order.seq, json));
        }
        kept.put(&fresh);
    }
    Ok(found
        .into_iter()
        .zip((lo..=hi).rev())
        .filter_map(|(json, seq)| {
            if json.is_none() {
                // Seqs up to the order count are committed and never deleted.
                tracing::error!(seq, lo, hi, "a committed order is missing");
            }
            json.map(|j| (seq, j))
        })
        .collect())
}

/// The page as the JSON body of `GET /get` (an `OrderPage`).
pub async fn page(pool: &DirectPool, kept: &OrderJson, spec: PageSpec) -> Result<String, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let total = storage::order_count(conn.conn()).await?;
    let mut orders = Vec::new();
    if let Some((lo, hi)) = seq_range(spec, total) {
        orders = kept_range(conn.conn(), kept, lo, hi).await?;
    }
    conn.release();
    let next_cursor = domain::next_cursor(orders.last().map(|(seq, _)| *seq));
    let mut body = String::with_capacity(80 + orders.iter().map(|(_, j)| j.len() + 1).sum::<usize>());
    body.push_str("{\"data\":[");
    for (i, (_, json)) in orders.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(json);
    }
    body.push_str("],\"next_cursor\":");
    match next_cursor {
        // Cursors are base64url: nothing in them needs escaping.
        Some(c) => {
            body.push('"');
            body.push_str(&c);
            body.push('"');
        }
        None => body.push_str("null"),
    }
    body.push_str(",\"total\":");
    body.push_str(&total.to_string());
    body.push('}');
    Ok(body)
}

/// The body of `GET /orders/after`: `{"head":H,"first_seq":F,"orders":[…]}`, the
/// orders from seq `F` = `after + 1` on, oldest first, at most `limit` of them.
pub async fn after(
    pool: &DirectPool,
    kept: &OrderJson,
    after: i64,
    limit: i64,
    head: i64,
) -> Result<String, sqlx::Error> {
    let hi = head.min(after.saturating_add(limit));
    let mut orders = Vec::new();
    if hi > after {
        let mut conn = pool.acquire().await?;
        orders = kept_range(conn.conn(), kept, after + 1, hi).await?;
        conn.release();
        orders.reverse();
        // The seqs are the answer's numbering: never past a (logged) hole.
        let contiguous = orders
            .iter()
            .zip(after + 1..)
            .take_while(|((seq, _), expected)| seq == expected)
            .count();
        orders.truncate(contiguous);
    }
    let mut body = String::with_capacity(64 + orders.iter().map(|(_, j)| j.len() + 1).sum::<usize>());
    body.push_str(&format!(
        "{{\"head\":{head},\"first_seq\":{},\"orders\":[",
        after + 1
    ));
    for (i, (_, json)) in orders.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(json);
    }
    body.push_str("]}");
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(size: i64, from: PageFrom) -> PageSpec {
        PageSpec { size, from }
    }

    #[test]
    fn ranges_match_the_paging_rules() {
        assert_eq!(seq_range(spec(10, PageFrom::Start(0)), 25), Some((16, 25)));
        assert_eq!(seq_range(spec(10, PageFrom::Start(20)), 25), Some((1, 5)));
        assert_eq!(seq_range(spec(10, PageFrom::Start(25)), 25), None);
        assert_eq!(seq_range(spec(10, PageFrom::Start(i64::MAX)), 25), None);
        assert_eq!(seq_range(spec(10, PageFrom::Before(16)), 25), Some((6, 15)));
        assert_eq!(seq_range(spec(10, PageFrom::Before(1)), 25), None);
        // A cursor beyond the count (another database's) starts at the newest.
        assert_eq!(seq_range(spec(10, PageFrom::Before(99)), 25), Some((16, 25)));
        assert_eq!(seq_range(spec(10, PageFrom::Start(0)), 0), None);
    }

    #[test]
    fn the_lowest_seqs_leave_first() {
        let kept = OrderJson::new(3);
        let j = |s: &str| -> Arc<str> { s.into() };
        kept.put(&[(1, j("a")), (2, j("b")), (3, j("c")), (4, j("d"))]);
        let got: Vec<Option<String>> = kept
            .get(1, 4)
            .into_iter()
            .map(|o| o.map(|s| s.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![Some("d".into()), Some("c".into()), Some("b".into()), None]
        );
        let none = OrderJson::new(0);
        none.put(&[(1, j("a"))]);
        assert_eq!(none.get(1, 1), vec![None]);
    }
}
