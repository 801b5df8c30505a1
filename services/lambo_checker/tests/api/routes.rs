//! The other routes: aliases, /health, /status, the query log, the rate limit, docs.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn the_original_routes_and_their_aliases_give_the_same_answer() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let want = app.ask("symbol=BTC&investment=500").await["exact"].clone();
    for route in [
        "/process_request/",
        "/api/v1/process_request",
        "/api/v1/process_request/",
    ] {
        let res = app.get(&format!("{route}?symbol=BTC&investment=500")).await;
        assert_eq!(res.status(), 200, "{route}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["exact"], want, "{route}");
    }
}

#[tokio::test]
async fn health_status_and_the_standard_routes_answer() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let health: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(health["status"], "healthy");
    let status: Value = app.get("/status").await.json().await.unwrap();
    let series = status["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{status}");
    assert_eq!(series[0]["interval"], "1M");
    assert_eq!(series[0]["candles"], 156);
    for p in ["/healthz", "/readyz", "/openapi.json", "/docs/", "/metrics"] {
        assert_eq!(app.get(p).await.status(), 200, "{p}");
    }
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/process_request"].is_object());
    let res = app.get("/nope").await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found", "no route").await;
}

#[tokio::test]
async fn importing_the_bundled_file_again_adds_nothing() {
    let app = spawn_app(|_| {}).await;
    let again = lambo_checker::import_bundled(&app.pool, |_, _| {}).await.unwrap();
    assert!(again.already);
    assert_eq!(again.new, 0);
    let n: i64 = sqlx::query_scalar("select count(*) from candles")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 156);
}

async fn logged(app: &crate::helpers::TestApp, n: usize) -> Vec<Value> {
    // The log is written off the request path; wait for the writer to catch up.
    for _ in 0..100 {
        let body: Value = app.get("/queries?page_size=100").await.json().await.unwrap();
        let data = body["data"].as_array().unwrap().clone();
        if data.len() >= n {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the query log never reached {n} entries");
}

#[tokio::test]
async fn every_query_is_logged_with_its_outcome_and_paged_by_cursor() {
    let app = spawn_app(|s| s.providers.clear()).await;
    app.ask("symbol=BTC&investment=500").await;
    app.ask("symbol=btc&investment=500").await;
    app.get("/process_request?symbol=BTC&investment=NaN").await;
    app.get("/process_request?symbol=NOPE&investment=1").await;
    app.ask("symbol=XBT&investment=700").await;
    let all = logged(&app, 5).await;
    assert_eq!(all.len(), 5);
    let outcomes: Vec<(&str, i64, bool)> = all
        .iter()
        .map(|q| {
            (
                q["outcome"].as_str().unwrap(),
                q["status"].as_i64().unwrap(),
                q["cache_hit"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("answered", 200, false),
            ("unknown_symbol", 404, false),
            ("validation_failed", 422, false),
            ("answered", 200, true),
            ("answered", 200, false),
        ],
        "newest first"
    );
    assert_eq!(all[0]["symbol_raw"], "XBT");
    assert_eq!(all[0]["symbol"], "BTC");
    assert_eq!(all[0]["investment"], "700");
    assert!(
        all[0]["lambos"].is_string(),
        "results are kept for computed answers"
    );
    let results: i64 = sqlx::query_scalar("select count(*) from results")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(results, 2);

    // Keyset pages of 2 cover the log exactly once.
    let mut ids = Vec::new();
    let mut next = "/queries?page_size=2".to_string();
    loop {
        let body: Value = app.get(&next).await.json().await.unwrap();
        ids.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| q["id"].as_i64().unwrap()),
        );
        match body["_links"]["next"].as_str() {
            Some(link) => next = link.to_string(),
            None => break,
        }
    }
    let want: Vec<i64> = all.iter().map(|q| q["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, want);
    let res = app.get("/queries?cursor=garbage").await;
    let body = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "bad cursor",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "cursor");
}

#[tokio::test]
async fn a_client_over_its_budget_gets_429_with_retry_after() {
    let app = spawn_app(|s| {
        s.providers.clear();
        s.rate_limit.per_minute = 3;
    })
    .await;
    common::testing::within_one_rate_window(Duration::from_secs(15)).await;
    let url = format!("{}/process_request?symbol=BTC&investment=500", app.address);
    for i in 0..3 {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200, "request {i}");
        assert!(res.headers().contains_key("ratelimit"));
    }
    let res = app.client.get(&url).send().await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited", "4th request").await;
    // The health routes are not counted.
    assert_eq!(
        app.client
            .get(format!("{}/health", app.address))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn the_results_table_keeps_figures_and_method_without_the_chart() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let answer = app.ask("symbol=BTC&investment=500").await;
    logged(&app, 1).await;
    let (stored, lambos): (Value, rust_decimal::Decimal) =
        sqlx::query_as("select response, lambos from results")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored["exact"], answer["exact"]);
    assert_eq!(stored["method"], answer["method"]);
    assert!(stored.get("graph_data").is_none());
    assert_eq!(lambos.to_string(), answer["exact"]["lambos"].as_str().unwrap());
}
