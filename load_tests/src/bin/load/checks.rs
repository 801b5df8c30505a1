//! The invariant checks after the load: Postgres and the API against the record.

use std::collections::{BTreeMap, HashMap};

use goose::metrics::GooseMetrics;
use serde_json::{Value, json};
use sqlx::Row;

use crate::record::{record, satoshis};
use crate::scenarios::Target;

/// One named check and what it found.
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// What the run must show of the cap, besides never passing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapExpectation {
    /// Either (scripts/faults, scripts/bench).
    Any,
    /// db_proxy refused at least one order for the cap: the edge was tested (`--cap-edge`).
    Reached,
    /// No order refused for the cap: the 201s measure placing orders (`--cap-unreached`).
    NotReached,
}

/// The figures of the run and the checks.
pub struct Outcome {
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub by_route: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Creates answered 409, by problem code.
    pub conflicts: BTreeMap<String, u64>,
    pub goose_requests: usize,
    pub duration_s: usize,
    pub stored_orders: i64,
    pub stored_btc: String,
    pub cap_btc: String,
    pub left_btc: String,
    pub retried_keys: usize,
    pub checks: Vec<Check>,
}

/// Requests per second, to two decimals.
#[allow(clippy::cast_precision_loss)] // counts and seconds stay far below 2^52
fn per_s(n: u64, secs: usize) -> f64 {
    (n as f64 / secs.max(1) as f64 * 100.0).round() / 100.0
}

impl Outcome {
    /// Every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// db_proxy refused at least one order because it would pass the cap.
    pub fn cap_reached(&self) -> bool {
        self.cap_rejections() > 0
    }

    fn cap_rejections(&self) -> u64 {
        self.conflicts.get("btc_cap_exceeded").copied().unwrap_or(0)
    }

    /// Statuses over every `POST /place_order` route (keyed, retried, query …): the
    /// orders, apart from the other 201s (health reports).
    pub fn place_order(&self) -> BTreeMap<u16, u64> {
        let mut m = BTreeMap::new();
        for (_, st) in self
            .by_route
            .iter()
            .filter(|(route, _)| route.starts_with("POST /place_order"))
        {
            for (status, n) in st {
                *m.entry(*status).or_default() += n;
            }
        }
        m
    }

    fn count(st: &BTreeMap<u16, u64>, status: u16) -> u64 {
        st.get(&status).copied().unwrap_or(0)
    }

    /// 201s and 409s per second: (201/s, 409/s).
    fn rates(&self, st: &BTreeMap<u16, u64>) -> (f64, f64) {
        (
            per_s(Self::count(st, 201), self.duration_s),
            per_s(Self::count(st, 409), self.duration_s),
        )
    }

    /// A human summary.
    pub fn text(&self) -> String {
        let (created, conflict) = self.rates(&self.by_status);
        let orders = self.place_order();
        let (placed, refused) = self.rates(&orders);
        let mut s = format!(
            "\nload: {} requests in {} s ({} req/s); statuses {:?}\n  \
             all routes: 201 × {} ({created}/s), 409 × {} ({conflict}/s)\n  \
             POST /place_order: 201 × {} ({placed}/s), 409 × {} ({refused}/s; by code {:?})\n  \
             stored {} orders, {} BTC of the {} BTC cap ({} BTC left; cap {}); {} errored keys retried after the load\n",
            self.requests,
            self.duration_s,
            self.requests / (self.duration_s.max(1) as u64),
            self.by_status,
            Self::count(&self.by_status, 201),
            Self::count(&self.by_status, 409),
            Self::count(&orders, 201),
            Self::count(&orders, 409),
            self.conflicts,
            self.stored_orders,
            self.stored_btc,
            self.cap_btc,
            self.left_btc,
            if self.cap_reached() {
                "reached"
            } else {
                "not reached"
            },
            self.retried_keys,
        );
        for (route, st) in &self.by_route {
            s.push_str(&format!("  {route:<40} {st:?}"));
            if st.contains_key(&201) || st.contains_key(&409) {
                let (created, conflict) = self.rates(st);
                s.push_str(&format!("  201/s {created}, 409/s {conflict}"));
            }
            s.push('\n');
        }
        for c in &self.checks {
            s.push_str(&format!(
                "  [{}] {}: {}\n",
                if c.ok { "ok" } else { "FAIL" },
                c.name,
                c.detail
            ));
        }
        s.push_str(if self.passed() {
            "load: every invariant held\n"
        } else {
            "load: AN INVARIANT BROKE\n"
        });
        s
    }

    /// The same as JSON.
    pub fn json(&self) -> Value {
        let rates = |st: &BTreeMap<u16, u64>| {
            let (created, conflict) = self.rates(st);
            json!({"201": created, "409": conflict})
        };
        let route_rates: BTreeMap<&String, Value> = self
            .by_route
            .iter()
            .filter(|(_, st)| st.contains_key(&201) || st.contains_key(&409))
            .map(|(route, st)| (route, rates(st)))
            .collect();
        json!({
            "requests": self.requests,
            "goose_requests": self.goose_requests,
            "duration_s": self.duration_s,
            "by_status": self.by_status,
            "by_route": self.by_route,
            "place_order_by_status": self.place_order(),
            "per_s": {
                "total": rates(&self.by_status),
                "place_order": rates(&self.place_order()),
                "by_route": route_rates,
            },
            "conflicts": self.conflicts,
            "cap_btc": self.cap_btc,
            "left_btc": self.left_btc,
            "cap_reached": self.cap_reached(),
            "stored_orders": self.stored_orders,
            "stored_btc": self.stored_btc,
            "retried_keys": self.retried_keys,
            "passed": self.passed(),
            "checks": self.checks.iter().map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail})).collect::<Vec<_>>(),
        })
    }
}

fn btc(sats: i64) -> String {
    let sign = if sats < 0 { "-" } else { "" };
    let a = sats.unsigned_abs();
    format!("{sign}{}.{:08}", a / 100_000_000, a % 100_000_000)
}

/// Retries every key that got an error or no answer, once, as a client would; a 201
/// then counts as accepted (the idempotent retry returned the order).
async fn retry_errored(t: &Target, client: &reqwest::Client) -> usize {
    let keys: Vec<(String, String)> = record()
        .errored_keys
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, stored) in &keys {
        let (marker, body) = stored.split_once('\n').unwrap_or(("header", stored));
        let mut rb = client
            .post(format!("{}/place_order", t.create_url))
            .header("x-api-key", &t.api_key)
            .header("content-type", "application/json")
            .body(body.to_string());
        if marker == "header" {
            rb = rb.header("idempotency-key", key);
        }
        let Ok(resp) = rb.send().await else { continue };
        if resp.status().as_u16() != 201 {
            continue;
        }
        let Ok(v) = resp.json::<Value>().await else {
            continue;
        };
        if let (Some(id), Some(sats)) = (
            v["order"]["id"].as_str(),
            v["order"]["bitcoin_amount"].as_str().and_then(satoshis),
        ) {
            record().accepted(id, sats, Some(key));
        }
    }
    keys.len()
}

/// Walks every page through the API with the cursor: seqs from the total down to 1,
/// no gap, no repeat. Returns the ids seen (or why the walk broke).
async fn walk_pages(t: &Target, client: &reqwest::Client) -> Result<Vec<(i64, String)>, String> {
    let mut url = format!("{}/get_orders?page_size=100", t.fetch_url);
    let mut seen = Vec::new();
    loop {
        let resp = client
            .get(&url)
            .header("x-api-key", &t.api_key)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url}: {}", resp.status()));
        }
        let v: Value = resp.json().await.map_err(|e| format!("{url}: {e}"))?;
        for o in v["data"].as_array().into_iter().flatten() {
            let seq = o["seq"].as_i64().ok_or("an order without seq")?;
            let id = o["id"].as_str().ok_or("an order without id")?;
            seen.push((seq, id.to_string()));
        }
        match v["_links"]["next"].as_str() {
            Some(next) => url = format!("{}{next}", t.fetch_url),
            None => return Ok(seen),
        }
    }
}

/// Runs every check.
#[allow(clippy::disallowed_methods)] // plain http; `load`'s main picks the TLS provider
pub async fn run(
    t: &Target,
    db_url: &str,
    cap: i64,
    expect: CapExpectation,
    metrics: &GooseMetrics,
) -> anyhow::Result<Outcome> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let retried_keys = retry_errored(t, &client).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(db_url)
        .await?;
    let state = sqlx::query("select used_satoshis, order_count from order_state where id = 1")
        .fetch_one(&pool)
        .await?;
    let used: i64 = state.try_get("used_satoshis")?;
    let count: i64 = state.try_get("order_count")?;
    let rows = sqlx::query("select id::text as id, seq, satoshis, client_order_id from orders")
        .fetch_all(&pool)
        .await?;
    let mut stored: HashMap<String, (i64, i64, Option<String>)> = HashMap::new();
    for r in &rows {
        stored.insert(
            r.try_get("id")?,
            (
                r.try_get("seq")?,
                r.try_get("satoshis")?,
                r.try_get("client_order_id")?,
            ),
        );
    }
    let dup_keys: i64 = sqlx::query_scalar(
        "select count(*) from (select 1 from orders where client_order_id is not null
         group by client_id, client_order_id having count(*) > 1) d",
    )
    .fetch_one(&pool)
    .await?;
    let key_rows_mismatch: i64 = sqlx::query_scalar(
        "select count(*) from idempotency_keys k join orders o on o.id = k.order_id
         where o.client_order_id is distinct from k.key",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or(0);
    pool.close().await;
    let pages = walk_pages(t, &client).await;

    let rec = record();
    let sum: i64 = stored.values().map(|(_, s, _)| s).sum();
    let accepted_sum: i64 = rec.accepted.values().sum();
    let mut checks = Vec::new();
    let mut check = |name, ok, detail: String| checks.push(Check { name, ok, detail });

    check(
        "stored BTC within the cap",
        sum <= cap && used <= cap,
        format!("{} of {} BTC", btc(sum), btc(cap)),
    );
    check(
        "state row matches the orders",
        used == sum && count == stored.len() as i64,
        format!(
            "state {} BTC / {count} orders; orders table {} BTC / {}",
            btc(used),
            btc(sum),
            stored.len()
        ),
    );
    let missing: Vec<&String> = rec
        .accepted
        .keys()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    let wrong_amount = rec
        .accepted
        .iter()
        .filter(|(id, s)| stored.get(*id).is_some_and(|(_, st, _)| st != *s))
        .count();
    check(
        "every order answered 201 is stored once, with its amount",
        missing.is_empty() && wrong_amount == 0,
        format!(
            "{} accepted, {} missing, {wrong_amount} with another amount",
            rec.accepted.len(),
            missing.len()
        ),
    );
    let unanswered: Vec<(&String, &Option<String>)> = stored
        .iter()
        .filter(|(id, _)| !rec.accepted.contains_key(*id))
        .map(|(id, (_, _, k))| (id, k))
        .collect();
    let unanswered_keyed = unanswered.iter().filter(|(_, k)| k.is_some()).count();
    let unanswered_unkeyed = unanswered.len() - unanswered_keyed;
    check(
        "nothing stored that was answered with an error (unless its retry returned it)",
        unanswered_keyed == 0 && unanswered_unkeyed as u64 <= rec.errored_unkeyed,
        format!(
            "{} stored orders never answered 201: {unanswered_keyed} keyed, {unanswered_unkeyed} unkeyed \
             (unkeyed requests without an answer: {}; without a key a lost answer cannot be told from a lost order)",
            unanswered.len(),
            rec.errored_unkeyed
        ),
    );
    check(
        "stored BTC equals the sum of accepted orders",
        unanswered.is_empty() && accepted_sum == sum,
        format!("accepted {} BTC, stored {} BTC", btc(accepted_sum), btc(sum)),
    );
    let keys_two = rec.key_orders.values().filter(|ids| ids.len() > 1).count();
    check(
        "no idempotency key with two orders",
        dup_keys == 0 && keys_two == 0 && key_rows_mismatch == 0,
        format!(
            "{} keys used; {dup_keys} stored twice, {keys_two} answered with two orders, {key_rows_mismatch} key rows pointing elsewhere",
            rec.key_orders.len()
        ),
    );
    let by_status = rec.by_status();
    let fivexx: u64 = by_status
        .iter()
        .filter(|(s, _)| **s >= 500 && (!t.faults || **s != 503))
        .map(|(_, n)| n)
        .sum();
    let unanswered_requests = by_status.get(&0).copied().unwrap_or(0);
    check(
        if t.faults {
            "no 5xx other than 503, every request answered or retried"
        } else {
            "no 5xx, no request without an answer"
        },
        fivexx == 0 && (t.faults || unanswered_requests == 0),
        format!("{fivexx} 5xx, {unanswered_requests} without an answer"),
    );
    check(
        "no broken expectation during the load",
        rec.violation_count == 0,
        format!(
            "{} (first: {:?})",
            rec.violation_count,
            rec.violations.iter().take(5).collect::<Vec<_>>()
        ),
    );
    match &pages {
        Ok(seen) => {
            let expected: Vec<i64> = (1..=count).rev().collect();
            let seqs: Vec<i64> = seen.iter().map(|(s, _)| *s).collect();
            let ids_match = seen
                .iter()
                .all(|(seq, id)| stored.get(id).is_some_and(|(s, _, _)| s == seq));
            check(
                "pages consistent (cursor walk: every order once, newest first, no gap)",
                seqs == expected && ids_match,
                format!("{} orders walked of {count}", seen.len()),
            );
        }
        Err(e) => check(
            "pages consistent (cursor walk: every order once, newest first, no gap)",
            false,
            e.clone(),
        ),
    }

    let cap_rejections = rec.conflicts.get("btc_cap_exceeded").copied().unwrap_or(0);
    let cap_detail = format!(
        "{cap_rejections} orders answered 409 btc_cap_exceeded; {} of {} BTC stored, {} BTC left",
        btc(sum),
        btc(cap),
        btc(cap - sum)
    );
    match expect {
        CapExpectation::Any => {}
        CapExpectation::Reached => check(
            "the cap was reached (orders refused at the edge)",
            cap_rejections > 0,
            cap_detail,
        ),
        CapExpectation::NotReached => check(
            "the cap was not reached (every order could be placed)",
            cap_rejections == 0,
            cap_detail,
        ),
    }

    let mut by_route: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
    for ((route, status), n) in &rec.statuses {
        *by_route
            .entry(route.clone())
            .or_default()
            .entry(*status)
            .or_default() += n;
    }
    Ok(Outcome {
        requests: by_status.values().sum(),
        by_status,
        by_route,
        conflicts: rec.conflicts.clone(),
        goose_requests: metrics
            .requests
            .values()
            .map(|r| r.success_count + r.fail_count)
            .sum(),
        duration_s: metrics.duration,
        stored_orders: stored.len() as i64,
        stored_btc: btc(sum),
        cap_btc: btc(cap),
        left_btc: btc(cap - sum),
        retried_keys,
        checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btc_writes_exact_amounts_with_their_sign() {
        assert_eq!(btc(10_000_000_000), "100.00000000");
        assert_eq!(btc(196_451), "0.00196451");
        assert_eq!(btc(-1), "-0.00000001");
        assert_eq!(btc(2_100_000_000_000_000), "21000000.00000000");
    }

    #[test]
    fn per_s_rounds_to_two_decimals_and_survives_zero_seconds() {
        assert!((per_s(1_083, 31) - 34.94).abs() < 1e-9);
        assert!((per_s(7, 0) - 7.0).abs() < 1e-9);
    }
}
