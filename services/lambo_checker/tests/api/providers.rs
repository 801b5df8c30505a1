//! Binance klines and CoinGecko market chart against wiremock, in their documented shapes.

use chrono::{TimeZone, Utc};
use lambo_checker::domain::{ASSETS, Interval};
use lambo_checker::providers::{Binance, CoinGecko, PriceHistory, ProviderError, ProviderKind};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::spawn_app;

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// `[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, takerBase, takerQuote, ignore]`.
fn kline(open_ms: i64, len_ms: i64, close: &str) -> Value {
    json!([
        open_ms,
        close,
        close,
        close,
        close,
        "10.5",
        open_ms + len_ms - 1,
        "1000.0",
        42,
        "5.0",
        "500.0",
        "0"
    ])
}

#[tokio::test]
async fn binance_pages_by_start_time_and_drops_the_open_kline() {
    let server = MockServer::start().await;
    // 1001 weeks that all closed long ago (from 1971), then the week in progress.
    let t0 = 100 * WEEK_MS;
    let first: Vec<Value> = (0..1000)
        .map(|i| kline(t0 + i * WEEK_MS, WEEK_MS, "100.5"))
        .collect();
    let next_start = t0 + 999 * WEEK_MS + 1;
    let now = Utc::now().timestamp_millis();
    let second = vec![
        kline(t0 + 1000 * WEEK_MS, WEEK_MS, "200"),
        kline(now - DAY_MS, WEEK_MS, "999999"),
    ];
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .and(query_param("symbol", "BTCUSDT"))
        .and(query_param("interval", "1w"))
        .and(query_param("startTime", "0"))
        .and(query_param("limit", "1000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .and(query_param("startTime", next_start.to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(second))
        .expect(1)
        .mount(&server)
        .await;
    let f = Binance::new(&server.uri(), reqwest::Client::new())
        .candles(&ASSETS[0], Interval::Week)
        .await
        .unwrap();
    assert_eq!(f.pair, "BTCUSDT");
    assert_eq!(f.candles.len(), 1001, "two pages, the kline in progress dropped");
    assert_eq!(f.candles[0].close, Decimal::new(1005, 1));
    assert_eq!(f.candles[1000].close, Decimal::from(200));
}

async fn binance_error(template: ResponseTemplate) -> ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .respond_with(template)
        .mount(&server)
        .await;
    Binance::new(&server.uri(), reqwest::Client::new())
        .candles(&ASSETS[1], Interval::Day)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn binance_errors_are_classified() {
    let unknown = binance_error(
        ResponseTemplate::new(400).set_body_json(json!({"code": -1121, "msg": "Invalid symbol."})),
    )
    .await;
    assert!(matches!(unknown, ProviderError::UnknownPair(_)), "{unknown:?}");
    let limited = binance_error(ResponseTemplate::new(429).insert_header("retry-after", "30")).await;
    assert!(
        matches!(
            limited,
            ProviderError::Unavailable {
                retry_after: Some(30),
                ..
            }
        ),
        "{limited:?}"
    );
    let banned = binance_error(ResponseTemplate::new(418)).await;
    assert!(matches!(banned, ProviderError::Unavailable { .. }), "{banned:?}");
    let garbage = binance_error(ResponseTemplate::new(200).set_body_string("{\"not\": \"a list\"}")).await;
    assert!(matches!(garbage, ProviderError::Malformed(_)), "{garbage:?}");
    let bad_price =
        binance_error(ResponseTemplate::new(200).set_body_json(json!([kline(0, DAY_MS, "x")]))).await;
    assert!(matches!(bad_price, ProviderError::Malformed(_)), "{bad_price:?}");
    let k = Binance::new(&common::testing::dead_url(), reqwest::Client::new());
    assert_eq!(
        k.candles(&ASSETS[0], Interval::FifteenDays).await.unwrap_err(),
        ProviderError::UnsupportedInterval("15d")
    );
}

fn chart(points: &[(i64, f64)]) -> Value {
    let p: Vec<Value> = points.iter().map(|(t, v)| json!([t, v])).collect();
    json!({"prices": p, "market_caps": [], "total_volumes": []})
}

#[tokio::test]
async fn coingecko_daily_points_become_the_previous_days_close_without_the_current_price() {
    let server = MockServer::start().await;
    let d0 = Utc
        .with_ymd_and_hms(2026, 1, 2, 0, 0, 0)
        .unwrap()
        .timestamp_millis();
    let body = chart(&[
        (d0, 100.25),
        (d0 + DAY_MS, 110.5),
        (d0 + 2 * DAY_MS, 120.0),
        (d0 + 2 * DAY_MS + 3_600_000, 555.0),
    ]);
    Mock::given(method("GET"))
        .and(path("/api/v3/coins/ethereum/market_chart"))
        .and(query_param("vs_currency", "usd"))
        .and(query_param("days", "365"))
        .and(query_param("interval", "daily"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let f = CoinGecko::new(&server.uri(), reqwest::Client::new())
        .candles(&ASSETS[1], Interval::Day)
        .await
        .unwrap();
    assert_eq!(f.pair, "ethereum/usd");
    assert_eq!(f.candles.len(), 3);
    assert_eq!(
        f.candles[0].open_time,
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    );
    assert_eq!(f.candles[0].close, Decimal::new(10025, 2));
    assert_eq!(f.candles[2].close, Decimal::from(120));
}

#[tokio::test]
async fn coingecko_errors_are_classified_and_long_intervals_not_asked() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/coins/bitcoin/market_chart"))
        .respond_with(ResponseTemplate::new(429))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/coins/ethereum/market_chart"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "coin not found"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/coins/litecoin/market_chart"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"prices": "nope"})))
        .mount(&server)
        .await;
    let cg = CoinGecko::new(&server.uri(), reqwest::Client::new());
    assert!(matches!(
        cg.candles(&ASSETS[0], Interval::Day).await,
        Err(ProviderError::Unavailable { .. })
    ));
    assert!(matches!(
        cg.candles(&ASSETS[1], Interval::Day).await,
        Err(ProviderError::UnknownPair(_))
    ));
    assert!(matches!(
        cg.candles(&ASSETS[2], Interval::Day).await,
        Err(ProviderError::Malformed(_))
    ));
    assert_eq!(
        cg.candles(&ASSETS[0], Interval::Week).await.unwrap_err(),
        ProviderError::UnsupportedInterval("1w")
    );
}

#[tokio::test]
async fn the_chain_falls_through_to_binance_when_kraken_fails() {
    let binance = MockServer::start().await;
    let t0 = 1_600_000_000_000_i64 - 1_600_000_000_000 % WEEK_MS;
    let rows: Vec<Value> = (0..10)
        .map(|i| kline(t0 + i * WEEK_MS, WEEK_MS, &format!("{}", 100 * (i + 1))))
        .collect();
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows))
        .mount(&binance)
        .await;
    let uri = binance.uri();
    let app = spawn_app(move |s| {
        s.providers = vec![ProviderKind::Kraken, ProviderKind::Binance];
        s.provider_urls.binance = uri;
    })
    .await;
    Mock::given(method("GET"))
        .and(path("/0/public/OHLC"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&app.kraken)
        .await;
    let body = app
        .ask("symbol=ETH&investment=1000&interval=1w&since=listing")
        .await;
    assert_eq!(body["method"]["source"], "binance");
    assert_eq!(body["method"]["pair"], "ETHUSDT");
    // opening (100+200+300+400)/4 = 250, current (700+800+900+1000)/4 = 850: 1000 → 3400.
    assert_eq!(body["exact"]["value_at_sale"], "3400");
    assert_eq!(body["exact"]["profit"], "2400");
}
