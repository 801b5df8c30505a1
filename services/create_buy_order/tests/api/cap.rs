use std::collections::{HashMap, HashSet};

use chrono::Utc;
use common::money::Satoshis;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    API_KEY, assert_problem, db_settings, put_record, record, settings, spawn_app_with, spawn_cache,
};

const CAP: i64 = 10_000_000_000;

#[tokio::test]
async fn two_thousand_concurrent_orders_through_two_replicas_of_each_never_exceed_100_btc() {
    common::testing::init_tracing();
    // Two db_proxy instances on ONE database, one cache proxy, two create_buy_order
    // instances (one in front of each db_proxy) sharing Redis.
    let db = db_settings(None);
    let pool = common::db::connect(&db.pg, &db_proxy::MIGRATOR).await.unwrap();
    let dbs: Vec<_> = (0..2)
        .map(|_| db_proxy::build_with_pool(db.clone(), common::db::pool(&db.pg).unwrap()).unwrap())
        .collect();
    let (cache, _) = spawn_cache().await;
    let prefix = common::testing::redis_settings().key_prefix;
    let mut fronts = Vec::new();
    for d in &dbs {
        let mut s = settings(&d.url(), &cache.url(), "redis://127.0.0.1:6379", &prefix);
        // Debug builds under a 2,000-request burst: no caller may time out,
        // or an order's fate would be unknown to the test.
        s.common.client_timeout_millis = 120_000;
        s.in_flight_secs = 300;
        fronts.push(create_buy_order::build(s).await.unwrap());
    }
    let client = common::testing::client();
    put_record(&client, &cache.url(), &record("EUR", "10000", Utc::now(), false)).await;

    // 2,000 orders of 900.00-1100.00 EUR at 10000 EUR/BTC: about 0.1 BTC each, ~200 BTC asked.
    let n = 2000;
    let requests = (0..n).map(|i| {
        let cents = 90_000 + (i * 7919) % 20_001;
        let body = json!({
            "currency": "EUR",
            "amount": format!("{}.{:02}", cents / 100, cents % 100),
            "client_order_id": format!("o{i}"),
        });
        let url = format!("{}/place_order", fronts[i % 2].url());
        let client = client.clone();
        async move {
            let res = client
                .post(url)
                .header("x-api-key", API_KEY)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status();
            (format!("o{i}"), status, res.json::<Value>().await.unwrap())
        }
    });
    let results = join_all(requests).await;

    let mut accepted: HashMap<String, (String, i64)> = HashMap::new();
    let mut refused: HashSet<String> = HashSet::new();
    for (key, status, body) in results {
        match status {
            StatusCode::CREATED => {
                let order = &body["order"];
                let sats = Satoshis::parse(order["bitcoin_amount"].as_str().unwrap()).unwrap();
                accepted.insert(key, (order["id"].as_str().unwrap().to_string(), sats.0));
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["code"], "btc_cap_exceeded", "{body}");
                let remaining = Satoshis::parse(body["remaining_btc"].as_str().unwrap()).unwrap();
                let requested = Satoshis::parse(body["requested_btc"].as_str().unwrap()).unwrap();
                assert!(remaining < requested, "{body}");
                refused.insert(key);
            }
            other => panic!("{key}: unexpected {other}: {body}"),
        }
    }
    assert!(
        !refused.is_empty(),
        "about 200 BTC were asked for; some must be refused"
    );
    assert!(accepted.len() >= 900, "only {} accepted", accepted.len());

    let rows: Vec<(String, uuid::Uuid, i64)> =
        sqlx::query_as("select client_order_id, id, satoshis from orders")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), accepted.len(), "every 201 is stored exactly once");
    for (key, id, sats) in &rows {
        assert_eq!(
            accepted.get(key),
            Some(&(id.to_string(), *sats)),
            "stored {key} matches its 201"
        );
        assert!(!refused.contains(key), "{key} got 409 but is stored");
    }
    let stored: i64 = rows.iter().map(|r| r.2).sum();
    let answered: i64 = accepted.values().map(|a| a.1).sum();
    assert!(stored <= CAP, "stored {stored} satoshis, more than the cap");
    assert_eq!(stored, answered, "stored sum = sum of the 201 answers");

    let capacity: Value = client
        .get(format!("{}/capacity", fronts[0].url()))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(capacity["remaining_btc"], Satoshis(CAP - stored).to_string());
}

#[tokio::test]
async fn the_order_landing_exactly_on_the_cap_is_accepted_and_the_next_gets_409_with_the_remaining() {
    // A 0.002 BTC cap; 50 EUR at 50000 EUR/BTC is exactly 0.001 BTC.
    let app = spawn_app_with(|db| db.cap_satoshis = 200_000, |_| {}).await;
    app.set_price("EUR", "50000", Utc::now()).await;
    let body = json!({"currency": "EUR", "amount": 50});
    app.place_ok(&body, None).await;
    let (_, second) = app.place_ok(&body, None).await;
    assert_eq!(second["order"]["bitcoin_amount"], "0.00100000");
    let res = app
        .place_json(&json!({"currency": "EUR", "amount": "0.01"}), None)
        .await;
    let problem = assert_problem(res, StatusCode::CONFLICT, "btc_cap_exceeded", "cap full").await;
    assert_eq!(problem["remaining_btc"], "0.00000000");
    assert_eq!(problem["requested_btc"], "0.00000020");
    let capacity: Value = app.get("/capacity").await.json().await.unwrap();
    assert_eq!(
        (capacity["used_btc"].as_str(), capacity["remaining_btc"].as_str()),
        (Some("0.00200000"), Some("0.00000000"))
    );
    assert_eq!(app.order_count().await, 2);
}
