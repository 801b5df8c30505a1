//! Each dependency down: a clean 503 with Retry-After, nothing written, and
//! orders resume by themselves when it is back.

use std::time::Duration;

use api_updater::providers::{ProviderConfig, ProviderKind};
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// Asserts a 503 problem with Retry-After; returns its body.
async fn unavailable(res: reqwest::Response, code: &str, case: &str) -> Value {
    assert!(res.headers().contains_key("retry-after"), "{case}: Retry-After");
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, code, case).await
}

/// Places orders until one is accepted (the dependency is back and its
/// connections are re-made), for at most 20 s. Returns the 201 body.
async fn eventually_placed(app: &TestApp) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let res = app.place_query("currency=eur&amount=10").await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        if status == StatusCode::CREATED {
            return body;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(tokio::time::Instant::now() < deadline, "never recovered: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_stale_or_missing_price_gives_503_and_writes_nothing_until_a_fresh_one_arrives() {
    let app = spawn_app().await;
    app.set_stale_price().await;
    let body = unavailable(
        app.place_query("currency=eur&amount=10").await,
        "stale_price",
        "stale",
    )
    .await;
    assert_eq!(body["max_quote_age_secs"], 30);
    assert!(body["detail"].as_str().unwrap().contains("old"));

    let mut conn = app.redis.clone();
    let _: () = redis::cmd("DEL")
        .arg(&app.record_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    unavailable(
        app.place_query("currency=eur&amount=10").await,
        "price_unavailable",
        "no record",
    )
    .await;
    assert_eq!(app.order_count().await, 0);

    app.set_price("EUR", "35000", Utc::now()).await;
    eventually_placed(&app).await;
    assert_eq!(app.order_count().await, 1);
}

#[tokio::test]
async fn redis_down_gives_503_and_orders_resume_when_it_returns() {
    let app = spawn_app().await;
    app.proxies.redis.set_down(true);
    let body = unavailable(
        app.place_query("currency=eur&amount=10").await,
        "dependency_unavailable",
        "redis",
    )
    .await;
    assert_eq!(body["dependency"], "redis");
    let keyed = app
        .place_json(&json!({"currency": "EUR", "amount": 10}), Some("k"))
        .await;
    unavailable(keyed, "dependency_unavailable", "redis, keyed").await;
    assert_eq!(app.order_count().await, 0);
    app.proxies.redis.set_down(false);
    eventually_placed(&app).await;
    assert_eq!(app.order_count().await, 1);
}

#[tokio::test]
async fn db_proxy_down_gives_503_and_orders_resume_when_it_returns() {
    let app = spawn_app().await;
    app.place_ok(&json!({"currency": "EUR", "amount": 10}), None)
        .await; // a pooled connection exists
    app.proxies.db_proxy.set_down(true);
    let body = unavailable(
        app.place_query("currency=eur&amount=10").await,
        "dependency_unavailable",
        "db_proxy",
    )
    .await;
    assert_eq!(body["dependency"], "db_proxy");
    let ready = app.get("/readyz").await;
    let body = unavailable(ready, "not_ready", "readyz").await;
    assert_eq!(body["failing"], json!(["db_proxy"]));
    app.proxies.db_proxy.set_down(false);
    eventually_placed(&app).await;
    assert_eq!(app.order_count().await, 2);
}

#[tokio::test]
async fn api_cache_proxy_down_gives_503_and_orders_resume_when_it_returns() {
    let app = spawn_app().await;
    app.proxies.cache.set_down(true);
    let body = unavailable(
        app.place_query("currency=eur&amount=10").await,
        "dependency_unavailable",
        "cache",
    )
    .await;
    assert_eq!(body["dependency"], "api_cache_proxy");
    assert_eq!(app.order_count().await, 0);
    app.proxies.cache.set_down(false);
    eventually_placed(&app).await;
    assert_eq!(app.order_count().await, 1);
}

#[tokio::test]
async fn postgres_down_gives_503_writes_nothing_and_orders_resume_when_it_returns() {
    let app = spawn_app_with(|db| db.pg.acquire_timeout_secs = 1, |_| {}).await;
    app.place_ok(&json!({"currency": "EUR", "amount": 10}), None)
        .await;
    app.proxies.postgres.set_down(true);
    for i in 0..3 {
        let res = app
            .place_json(
                &json!({"currency": "EUR", "amount": 11}),
                Some(&format!("pg-{i}")),
            )
            .await;
        unavailable(res, "dependency_unavailable", "postgres down").await;
    }
    assert_eq!(app.order_count().await, 1, "nothing half-written");
    app.proxies.postgres.set_down(false);
    eventually_placed(&app).await;
    // A retry of a key refused during the outage places its order now, once.
    let (replayed, _) = app
        .place_ok(&json!({"currency": "EUR", "amount": 11}), Some("pg-0"))
        .await;
    assert!(!replayed);
    assert_eq!(app.order_count().await, 3);
}

#[tokio::test]
async fn when_every_price_provider_fails_orders_stop_at_the_quote_age_limit_and_resume_after() {
    let app = spawn_app_with(|_| {}, |s| s.max_quote_age_secs = 1).await;
    let provider = MockServer::start().await;
    let prices = |status: u16| {
        Mock::given(method("GET"))
            .and(path("/api/v3/simple/price"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(
                r#"{"bitcoin":{"eur":35000,"gbp":43000,"usd":58000}}"#,
                "application/json",
            ))
    };
    let s = api_updater::Settings {
        providers: vec![ProviderConfig {
            kind: ProviderKind::CoinGecko,
            base_url: provider.uri(),
        }],
        cache_proxy_url: app.cache_url.clone(),
        ..api_updater::testing::settings()
    };
    let (_updater_handle, updater) = api_updater::build_without_loop(s).await.unwrap();
    prices(200).mount(&provider).await;
    let outcome = updater.tick().await;
    assert!(outcome.is_success(), "{outcome:?}");
    app.place_ok(&json!({"currency": "EUR", "amount": 50}), None)
        .await;

    provider.reset().await;
    prices(500).mount(&provider).await;
    for _ in 0..3 {
        assert!(!updater.tick().await.is_success());
    }
    // The last good record stays in the cache (extended), but once it is older
    // than the limit no order is placed at it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.place_query("currency=eur&amount=50").await;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            unavailable(res, "stale_price", "providers down").await;
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the quote never went stale"
        );
        // Still within the limit: placed at the last good price.
        assert_eq!(res.status(), StatusCode::CREATED);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let placed = app.order_count().await;
    unavailable(
        app.place_query("currency=eur&amount=50").await,
        "stale_price",
        "still down",
    )
    .await;
    assert_eq!(app.order_count().await, placed, "nothing written while stale");

    provider.reset().await;
    prices(200).mount(&provider).await;
    assert!(updater.tick().await.is_success());
    eventually_placed(&app).await;
}
