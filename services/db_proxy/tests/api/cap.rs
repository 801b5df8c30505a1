use std::collections::{HashMap, HashSet};

use common::models::{AddedOrder, Capacity};
use common::money::Satoshis;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{keyed_order, order, spawn_app, spawn_pair, spawn_with, state_row, stored_totals};

const CAP: i64 = 10_000_000_000;

#[tokio::test]
async fn two_instances_on_one_database_never_store_more_than_the_cap_under_concurrency() {
    let (a, b, pool) = spawn_pair(|_| {}).await;
    // 1,200 orders of about 0.1 BTC (900.00-1100.00 EUR at 10000 EUR/BTC): ~120 BTC asked, 100 allowed.
    let n = 1200;
    let requests = (0..n).map(|i| {
        let cents = 90_000 + (i * 7919) % 20_001;
        let amount = format!("{}.{:02}", cents / 100, cents % 100);
        let body = keyed_order(&amount, "10000", "load", &format!("k{i}"), &format!("h{i}"));
        let app = if i % 2 == 0 { &a } else { &b };
        async move {
            let res = app.post_add(&body).await;
            let status = res.status();
            (i, status, res.json::<Value>().await.unwrap())
        }
    });
    let results = join_all(requests).await;

    let mut accepted: HashMap<String, (uuid::Uuid, i64)> = HashMap::new();
    let mut refused: HashSet<String> = HashSet::new();
    for (i, status, body) in results {
        match status {
            StatusCode::CREATED => {
                let added: AddedOrder = serde_json::from_value(body).unwrap();
                assert!(!added.replayed);
                let old = accepted.insert(format!("k{i}"), (added.order.id, added.order.bitcoin_amount.0));
                assert!(old.is_none());
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["code"], "btc_cap_exceeded", "{body}");
                let remaining = Satoshis::parse(body["remaining_btc"].as_str().unwrap()).unwrap();
                let requested = Satoshis::parse(body["requested_btc"].as_str().unwrap()).unwrap();
                assert!(remaining < requested, "{body}");
                refused.insert(format!("k{i}"));
            }
            other => panic!("order {i}: unexpected {other}: {body}"),
        }
    }
    assert!(
        !refused.is_empty(),
        "120 BTC were asked for; some must be refused"
    );
    assert!(accepted.len() >= 900, "only {} accepted", accepted.len());

    let rows: Vec<(String, uuid::Uuid, i64, i64)> =
        sqlx::query_as("select client_order_id, id, satoshis, seq from orders")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), accepted.len(), "every 201 stored exactly once");
    let mut seqs = Vec::new();
    for (key, id, sats, seq) in &rows {
        assert_eq!(
            accepted.get(key),
            Some(&(*id, *sats)),
            "stored {key} matches its 201"
        );
        assert!(!refused.contains(key), "{key} was refused but is stored");
        seqs.push(*seq);
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=i64::try_from(rows.len()).unwrap()).collect::<Vec<_>>(),
        "seqs are gapless"
    );

    let (sum, count) = stored_totals(&pool).await;
    let answered: i64 = accepted.values().map(|(_, s)| s).sum();
    assert!(sum <= CAP, "stored {sum} satoshis, cap {CAP}");
    assert_eq!(sum, answered);
    assert_eq!(state_row(&pool).await, (sum, count));

    let cap: Capacity = a.get("/capacity").await.json().await.unwrap();
    assert_eq!(cap.used_btc, Satoshis(sum));
    assert_eq!(cap.remaining_btc, Satoshis(CAP - sum));
    assert_eq!(cap.orders, count);
}

#[tokio::test]
async fn an_order_landing_exactly_on_the_cap_is_accepted_and_one_satoshi_more_is_not() {
    // 0.001 BTC cap; 5.00 EUR at 10000 EUR/BTC is exactly 0.0005 BTC.
    let (app, pool) = spawn_with(|s| s.cap_satoshis = 100_000).await;
    let first = app.add_ok(&order("5.00", "10000")).await;
    assert_eq!(first.order.bitcoin_amount.to_string(), "0.00050000");
    let second = app.add_ok(&order("5.00", "10000")).await;
    assert_eq!(second.order.seq, 2);
    assert_eq!(stored_totals(&pool).await, (100_000, 2));

    let res = app.post_add(&order("0.01", "10000")).await;
    let body =
        crate::helpers::assert_problem(res, StatusCode::CONFLICT, "btc_cap_exceeded", "full cap").await;
    assert_eq!(body["remaining_btc"], "0.00000000");
    assert_eq!(body["requested_btc"], "0.00000100");
    assert_eq!(stored_totals(&pool).await, (100_000, 2));
}

#[tokio::test]
async fn capacity_reports_the_cap_used_and_remaining_bitcoin_as_strings() {
    let (app, _pool) = spawn_app().await;
    let empty: Value = app.get("/capacity").await.json().await.unwrap();
    assert_eq!(empty["cap_btc"], "100.00000000");
    assert_eq!(empty["used_btc"], "0.00000000");
    assert_eq!(empty["remaining_btc"], "100.00000000");
    assert_eq!(empty["orders"], 0);
    // 69 EUR at 35123.40: 0.00196451 BTC (rounded up).
    let added = app.add_ok(&order("69", "35123.40")).await;
    assert_eq!(added.order.bitcoin_amount.to_string(), "0.00196451");
    let after: Value = app.get("/capacity").await.json().await.unwrap();
    assert_eq!(after["used_btc"], "0.00196451");
    assert_eq!(after["remaining_btc"], "99.99803549");
    assert_eq!(after["orders"], 1);
}
