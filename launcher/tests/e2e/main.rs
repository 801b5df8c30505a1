//! The whole stack in one process, as `delos up --offline` runs it, on free ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use delos::{Stack, StackOptions};
use serde_json::Value;

async fn start() -> Stack {
    common::testing::init_tracing();
    let opts = StackOptions {
        offline: true,
        any_port: true,
        database_prefix: format!("{}_", common::testing::pg_settings("e2e").database),
        redis_prefix: Some(format!("test:{}:", uuid::Uuid::new_v4().simple())),
        ..StackOptions::default()
    };
    Stack::start(&opts).await.expect("stack starts")
}

#[tokio::test]
async fn every_service_starts_serves_its_standard_routes_and_reports_to_health_check() {
    let stack = start().await;
    let client = common::testing::client();
    for s in &stack.services {
        for path in ["/healthz", "/readyz", "/openapi.json", "/docs/"] {
            let res = client.get(format!("{}{path}", s.url())).send().await.unwrap();
            assert_eq!(res.status(), 200, "{} {path}", s.name);
        }
    }

    // The offline price chain stores a simulated record through the real cache proxy.
    let updater = stack.url("api_updater").unwrap();
    let res = client
        .post(format!("{updater}/refresh"))
        .bearer_auth(stack.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cache = stack.url("api_cache_proxy").unwrap();
    let record: Value = client
        .get(format!("{cache}/record"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(record["simulated"], true);
    assert_eq!(record["source"], "simulated");

    // Heartbeats arrive from the background reporters; poll until all have reported.
    let health = stack.url("health_check").unwrap();
    let expected = [
        "api_cache_proxy",
        "api_updater",
        "create_buy_order",
        "db_proxy",
        "fetch_buy_orders",
        "lambo_checker",
        "sensor_api",
    ];
    let mut seen = Vec::new();
    for _ in 0..100 {
        let body: Value = client
            .get(format!("{health}/services"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen = body["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["service"].as_str().unwrap().to_string())
            .collect();
        if expected.iter().all(|e| seen.iter().any(|s| s == e)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for e in expected {
        assert!(seen.iter().any(|s| s == e), "{e} never reported: {seen:?}");
    }
    stack.stop().await;
}

#[tokio::test]
async fn an_order_placed_on_create_buy_order_is_listed_by_fetch_buy_orders() {
    let stack = start().await;
    let client = common::testing::client();
    let updater = stack.url("api_updater").unwrap();
    let refreshed = client
        .post(format!("{updater}/refresh"))
        .bearer_auth(stack.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);

    let create = stack.url("create_buy_order").unwrap();
    let res = client
        .post(format!("{create}/place_order?currency=eur&amount=69"))
        .header("Idempotency-Key", "e2e-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let placed: Value = res.json().await.unwrap();
    assert_eq!(placed["data"], "Order was placed for EUR:69.00");
    assert_eq!(placed["order"]["simulated"], true, "offline prices are marked");
    assert_eq!(placed["order"]["rate_source"], "simulated");

    let fetch = stack.url("fetch_buy_orders").unwrap();
    let page: Value = client
        .get(format!("{fetch}/get_orders/?start=0&page_size=10"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0], placed["order"]);
    assert_eq!(page["total"], 1);
    let capacity: Value = client
        .get(format!("{create}/capacity"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(capacity["used_btc"], placed["order"]["bitcoin_amount"]);
    stack.stop().await;
}

#[tokio::test]
async fn an_unreachable_postgres_is_named_with_how_to_start_it() {
    let opts = StackOptions {
        pg_url: Some(format!(
            "postgres://postgres@{}",
            common::testing::dead_url().trim_start_matches("http://")
        )),
        any_port: true,
        ..StackOptions::default()
    };
    let err = delos::check_dependencies(&opts).await.unwrap_err().to_string();
    assert!(
        err.contains("Postgres is not reachable at postgres://postgres@127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("pg_ctlcluster"), "{err}");
}

#[tokio::test]
async fn an_unreachable_redis_is_named_with_how_to_start_it() {
    let dead = common::testing::dead_url().replace("http://", "redis://");
    let opts = StackOptions {
        redis_url: Some(dead.clone()),
        any_port: true,
        ..StackOptions::default()
    };
    let err = delos::check_dependencies(&opts).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("Redis is not reachable at {dead}")),
        "{err}"
    );
    assert!(err.contains("redis-server"), "{err}");
}

#[tokio::test]
async fn lambo_checker_answers_btc_from_the_bundled_history_with_no_network() {
    let stack = start().await;
    let client = common::testing::client();
    let lambo = stack.url("lambo_checker").unwrap();
    let res = client
        .get(format!("{lambo}/process_request?symbol=BTC&investment=500"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"]["SYMBOL"], "BTC");
    assert_eq!(body["method"]["interval"], "1M");
    assert_eq!(body["newest_data_date"], "2024-12-31");
    assert!(body["message"]["LAMBOS"].is_number());
    stack.stop().await;
}
