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

/// The figures of the run and the checks.
pub struct Outcome {
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub by_route: BTreeMap<String, BTreeMap<u16, u64>>,
    pub goose_requests: usize,
    pub duration_s: usize,
    pub stored_orders: i64,
    pub stored_btc: String,
    pub retried_keys: usize,
    pub checks: Vec<Check>,
}

impl Outcome {
    /// Every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// A human summary.
    pub fn text(&self) -> String {
        let mut s = format!(
            "\nload: {} requests in {} s ({} req/s); statuses {:?}\n  stored {} orders, {} BTC; {} errored keys retried after the load\n",
            self.requests,
            self.duration_s,
            self.requests / (self.duration_s.max(1) as u64),
            self.by_status,
            self.stored_orders,
            self.stored_btc,
            self.retried_keys,
        );
        for (route, st) in &self.by_route {
            s.push_str(&format!("  {route:<40} {st:?}\n"));
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
        json!({
            "requests": self.requests,
            "goose_requests": self.goose_requests,
            "duration_s": self.duration_s,
            "by_status": self.by_status,
            "by_route": self.by_route,
            "stored_orders": self.stored_orders,
            "stored_btc": self.stored_btc,
            "retried_keys": self.retried_keys,
            "passed": self.passed(),
            "checks": self.checks.iter().map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail})).collect::<Vec<_>>(),
        })
    }
}

fn btc(sats: i64) -> String {
    format!("{}.{:08}", sats / 100_000_000, sats % 100_000_000)
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
pub async fn run(t: &Target, db_url: &str, cap: i64, metrics: &GooseMetrics) -> anyhow::Result<Outcome> {
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
        goose_requests: metrics
            .requests
            .values()
            .map(|r| r.success_count + r.fail_count)
            .sum(),
        duration_s: metrics.duration,
        stored_orders: stored.len() as i64,
        stored_btc: btc(sum),
        retried_keys,
        checks,
    })
}
