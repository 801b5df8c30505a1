//! Every bad question gets a problem document naming what is wrong.

use reqwest::StatusCode;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{assert_problem, kraken_row, spawn_app};

#[tokio::test]
async fn bad_parameters_get_422_naming_the_parameter() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let cases = [
        ("symbol=BTC", "investment", "investment missing"),
        ("symbol=BTC&investment=", "investment", "investment empty"),
        ("symbol=BTC&investment=0", "investment", "zero"),
        ("symbol=BTC&investment=-5", "investment", "negative"),
        ("symbol=BTC&investment=abc", "investment", "not a number"),
        ("symbol=BTC&investment=NaN", "investment", "NaN"),
        ("symbol=BTC&investment=inf", "investment", "infinity"),
        ("symbol=BTC&investment=1e400", "investment", "1e400"),
        (
            "symbol=BTC&investment=1000000000001",
            "investment",
            "absurdly large",
        ),
        (
            "symbol=BTC&investment=99999999999999999999999999999999999",
            "investment",
            "beyond decimal range",
        ),
        ("symbol=BTC&investment=1.001", "investment", "three decimals"),
        ("investment=500", "symbol", "symbol missing"),
        ("symbol=&investment=500", "symbol", "symbol empty"),
        (
            "symbol=BTC%3Bdrop&investment=500",
            "symbol",
            "symbol with punctuation",
        ),
        (
            "symbol=BTC&investment=500&interval=2h",
            "interval",
            "unknown interval",
        ),
        ("symbol=BTC&investment=500&since=yesterday", "since", "bad since"),
        (
            "symbol=BTC&investment=500&max_points=1",
            "max_points",
            "max_points too small",
        ),
        (
            "symbol=BTC&investment=500&max_points=100000",
            "max_points",
            "max_points too large",
        ),
        (
            "symbol=BTC&investment=500&max_points=x",
            "max_points",
            "max_points not a number",
        ),
    ];
    for (query, field, case) in cases {
        let res = app.get(&format!("/process_request?{query}")).await;
        let body = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", case).await;
        assert_eq!(body["errors"][0]["field"], field, "{case}: {body}");
    }
}

#[tokio::test]
async fn an_unknown_symbol_gets_404_listing_the_supported_ones() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let res = app.get("/process_request?symbol=NOPE&investment=500").await;
    let body = assert_problem(res, StatusCode::NOT_FOUND, "unknown_symbol", "unknown").await;
    let supported = body["supported"].as_array().unwrap();
    assert!(
        supported.contains(&json!("BTC")) && supported.contains(&json!("ETH")),
        "{body}"
    );
}

#[tokio::test]
async fn a_coin_with_fewer_than_8_candles_gets_422() {
    let app = spawn_app(|s| s.import_bundled = false).await;
    let start = 1_547_424_000;
    let mut rows: Vec<_> = (0..8).map(|i| kraken_row(start + i * 1_296_000, "100")).collect();
    // Only 7 complete: the last row is the frame in progress.
    rows[7] = kraken_row(chrono::Utc::now().timestamp() - 86_400, "100");
    Mock::given(method("GET"))
        .and(path("/0/public/OHLC"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"error": [], "result": {"SOLUSD": rows, "last": 0}})),
        )
        .mount(&app.kraken)
        .await;
    let res = app.get("/process_request?symbol=SOL&investment=500").await;
    let body = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_enough_history",
        "7 candles",
    )
    .await;
    assert_eq!(body["candles"], 7);
    assert_eq!(body["needed"], 8);
}

#[tokio::test]
async fn a_provider_down_with_nothing_stored_gets_503_with_retry_after() {
    let app = spawn_app(|s| s.provider_urls.kraken = common::testing::dead_url()).await;
    let res = app.get("/process_request?symbol=ETH&investment=500").await;
    let retry = res.headers().get("retry-after").cloned();
    assert_problem(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "history_unavailable",
        "kraken down",
    )
    .await;
    assert!(retry.is_some_and(|v| v.to_str().unwrap().parse::<u64>().unwrap() >= 1));
    // BTC still answers: the bundled history is stored, and the answer says why it was used.
    let body = app.ask("symbol=BTC&investment=500").await;
    assert_eq!(body["method"]["interval"], "1M");
    assert!(
        body["method"]["note"].as_str().unwrap().contains("unavailable"),
        "{}",
        body["method"]
    );
}

#[tokio::test]
async fn kraken_rate_limiting_us_gets_503_with_its_retry_after() {
    let app = spawn_app(|_| {}).await;
    Mock::given(method("GET"))
        .and(path("/0/public/OHLC"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "17"))
        .mount(&app.kraken)
        .await;
    let res = app.get("/process_request?symbol=ETH&investment=500").await;
    assert_eq!(res.headers()["retry-after"], "17");
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "history_unavailable", "429").await;
}

#[tokio::test]
async fn a_pair_no_provider_lists_gets_404() {
    let app = spawn_app(|_| {}).await;
    Mock::given(method("GET"))
        .and(path("/0/public/OHLC"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"error": ["EQuery:Unknown asset pair"]})),
        )
        .mount(&app.kraken)
        .await;
    let res = app.get("/process_request?symbol=DOT&investment=500").await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found", "unknown pair").await;
}

#[tokio::test]
async fn postgres_down_gets_503_with_retry_after_and_answers_again_when_back() {
    let proxy = common::testing::TcpProxy::start("127.0.0.1:5432").await.unwrap();
    let addr = proxy.addr();
    let app = spawn_app(move |s| {
        s.providers.clear();
        s.cache_ttl_secs = 0;
        // Nothing remembered either: within local_cache_millis of its last read
        // the history would answer without Postgres.
        s.local_cache_millis = 0;
        s.pg.url = format!("postgres://postgres@{addr}");
        s.pg.acquire_timeout_secs = 1;
    })
    .await;
    app.ask("symbol=BTC&investment=500").await;
    proxy.set_down(true);
    let res = app.get("/process_request?symbol=BTC&investment=500").await;
    assert!(res.headers().contains_key("retry-after"));
    let body = assert_problem(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "dependency_unavailable",
        "postgres down",
    )
    .await;
    assert_eq!(body["dependency"], "postgres");
    proxy.set_down(false);
    app.ask("symbol=BTC&investment=500").await;
}
