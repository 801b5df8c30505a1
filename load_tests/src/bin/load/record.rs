//! What the load saw, shared by every goose user: the orders answered 201, the keys
//! that got an error, statuses per route, and broken expectations. The checks after
//! the load compare it with what Postgres stored.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{LazyLock, Mutex, MutexGuard};

/// One process runs one load, so one record for the process.
static RECORD: LazyLock<Mutex<Record>> = LazyLock::new(|| Mutex::new(Record::default()));

/// Locks the record (a panic in another user does not make it unreadable).
pub fn record() -> MutexGuard<'static, Record> {
    RECORD.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Everything the invariant checks need from the load.
#[derive(Debug, Default)]
pub struct Record {
    /// Order id → satoshis, for every order answered 201 (replays included).
    pub accepted: HashMap<String, i64>,
    /// Idempotency key → the order ids answered for it (must stay one).
    pub key_orders: HashMap<String, HashSet<String>>,
    /// Keyed requests answered with an error or no answer: key → (body, key header?).
    /// The checks retry each once; only a replay may then return its order.
    pub errored_keys: HashMap<String, String>,
    /// Unkeyed creates answered with an error or no answer (may or may not be stored).
    pub errored_unkeyed: u64,
    /// (route, status) → count; status 0 means no response (connection error, timeout).
    pub statuses: BTreeMap<(String, u16), u64>,
    /// Problem code → creates answered 409 with it (`btc_cap_exceeded`: the cap was hit).
    pub conflicts: BTreeMap<String, u64>,
    /// Broken expectations seen during the load (bounded sample plus a count).
    pub violations: Vec<String>,
    pub violation_count: u64,
}

impl Record {
    /// Counts one answer.
    pub fn status(&mut self, route: &str, status: u16) {
        *self.statuses.entry((route.to_string(), status)).or_default() += 1;
    }

    /// Notes a broken expectation.
    pub fn violation(&mut self, what: String) {
        self.violation_count += 1;
        if self.violations.len() < 50 {
            self.violations.push(what);
        }
    }

    /// Notes a create answered 409: counted by code; only the cap and a key still in
    /// flight may say no that way.
    pub fn conflict(&mut self, body: &serde_json::Value) {
        let code = body["code"].as_str().unwrap_or_default();
        *self.conflicts.entry(code.to_string()).or_default() += 1;
        if code != "btc_cap_exceeded" && code != "idempotency_request_in_flight" {
            self.violation(format!("409 with code {code:?}: {body}"));
        }
    }

    /// Notes an order answered 201.
    pub fn accepted(&mut self, id: &str, satoshis: i64, key: Option<&str>) {
        self.accepted.insert(id.to_string(), satoshis);
        if let Some(key) = key {
            let ids = self.key_orders.entry(key.to_string()).or_default();
            ids.insert(id.to_string());
            if ids.len() > 1 {
                let ids = format!("{ids:?}");
                self.violation(format!("idempotency key {key} answered with two orders: {ids}"));
            }
            self.errored_keys.remove(key);
        }
    }

    /// Requests per status class, over every route.
    pub fn by_status(&self) -> BTreeMap<u16, u64> {
        let mut m = BTreeMap::new();
        for ((_, status), n) in &self.statuses {
            *m.entry(*status).or_default() += n;
        }
        m
    }
}

/// Satoshis of a decimal BTC string with at most 8 decimals ("0.00196451" → 196451).
pub fn satoshis(btc: &str) -> Option<i64> {
    let (whole, frac) = btc.split_once('.').unwrap_or((btc, ""));
    if frac.len() > 8 || whole.is_empty() {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<8}").parse().ok()?;
    whole.checked_mul(100_000_000)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satoshis_reads_exact_btc_strings() {
        assert_eq!(satoshis("0.00196451"), Some(196_451));
        assert_eq!(satoshis("100.00000000"), Some(10_000_000_000));
        assert_eq!(satoshis("3"), Some(300_000_000));
        assert_eq!(satoshis("0.1"), Some(10_000_000));
        assert_eq!(satoshis("0.000000001"), None);
        assert_eq!(satoshis("x"), None);
    }

    #[test]
    fn a_key_answered_with_two_orders_is_a_violation() {
        let mut r = Record::default();
        r.accepted("a", 1, Some("k"));
        r.accepted("a", 1, Some("k"));
        assert_eq!(r.violation_count, 0);
        r.accepted("b", 1, Some("k"));
        assert_eq!(r.violation_count, 1);
    }
}
