//! The history clients (Kraken OHLC, Binance klines, CoinGecko market chart) against
//! wiremock, in their documented response shapes.
#![allow(clippy::unwrap_used, clippy::panic)]

use chrono::{TimeZone, Utc};
use price_feed::history::{Binance, CoinGecko, Fetched, Kraken, PriceHistory};
use price_feed::{Asset, Interval, ProviderError};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BTC: Asset = Asset {
    symbol: "BTC",
    kraken_pair: "XBTUSD",
    binance_pair: "BTCUSDT",
    coingecko_id: "bitcoin",
};
const ETH: Asset = Asset {
    symbol: "ETH",
    kraken_pair: "ETHUSD",
    binance_pair: "ETHUSDT",
    coingecko_id: "ethereum",
};
const LTC: Asset = Asset {
    symbol: "LTC",
    kraken_pair: "LTCUSD",
    binance_pair: "LTCUSDT",
    coingecko_id: "litecoin",
};

/// A Kraken OHLC row: `[time, open, high, low, close, vwap, volume, count]`.
fn kraken_row(time: i64, close: &str) -> Value {
    json!([time, close, close, close, close, close, "12.5", 100])
}

// ---------------------------------------------------------------- Kraken OHLC

async fn kraken_answering(template: ResponseTemplate) -> (MockServer, Kraken) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/0/public/OHLC"))
        .and(query_param("pair", "XBTUSD"))
        .and(query_param("interval", "10080"))
        .respond_with(template)
        .mount(&server)
        .await;
    let k = Kraken::new(&server.uri(), common::testing::client());
    (server, k)
}

async fn fetch(template: ResponseTemplate) -> Result<Fetched, ProviderError> {
    let (_server, k) = kraken_answering(template).await;
    k.candles(&BTC, Interval::Week).await
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn candles_are_exact_sorted_and_the_frame_in_progress_is_dropped() {
    let now = chrono::Utc::now().timestamp();
    let body = json!({"error": [], "result": {
        "XXBTZUSD": [kraken_row(1_600_000_000, "10000.1"), kraken_row(1_600_604_800, "10500.123456789"), kraken_row(now - 3600, "99999")],
        "last": 1_600_604_800
    }});
    let f = fetch(ok(body)).await.unwrap();
    assert_eq!(f.pair, "XBTUSD");
    assert_eq!(f.candles.len(), 2);
    assert_eq!(f.candles[1].close, "10500.123456789".parse::<Decimal>().unwrap());
    assert_eq!(f.candles[0].open_time.timestamp(), 1_600_000_000);
}

#[tokio::test]
async fn an_unknown_pair_is_reported_as_such() {
    let err = fetch(ok(json!({"error": ["EQuery:Unknown asset pair"]})))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::UnknownPair(_)), "{err:?}");
}

#[tokio::test]
async fn rate_limit_answers_are_unavailable_not_malformed() {
    let err = fetch(ok(json!({"error": ["EGeneral:Too many requests"]})))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable { .. }), "{err:?}");
    let err = fetch(ResponseTemplate::new(429).insert_header("retry-after", "5"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::Unavailable {
            reason: "kraken answered HTTP 429".into(),
            retry_after: Some(5)
        }
    );
    let err = fetch(ResponseTemplate::new(503)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_retry_after_given_as_an_http_date_is_read_as_seconds_from_now() {
    let at = Utc::now() + chrono::TimeDelta::seconds(90);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let err = fetch(ResponseTemplate::new(503).insert_header("retry-after", date.as_str()))
        .await
        .unwrap_err();
    assert!(matches!(err.retry_after(), Some(89..=90)), "{date}: {err:?}");
    // On a success or an ordinary client error, Retry-After means nothing to us.
    let err = fetch(
        ResponseTemplate::new(200)
            .insert_header("retry-after", "30")
            .set_body_json(json!({"error": ["EQuery:Unknown asset pair"]})),
    )
    .await
    .unwrap_err();
    assert_eq!(err.retry_after(), None);
}

#[tokio::test]
async fn malformed_bodies_are_rejected_with_a_reason() {
    let cases = [
        (
            ResponseTemplate::new(200).set_body_string("<html>oops</html>"),
            "not JSON",
        ),
        (ok(json!({"error": []})), "no result"),
        (ok(json!({"error": [], "result": {"last": 1}})), "no pair"),
        (
            ok(json!({"error": [], "result": {"XXBTZUSD": [[1600000000, "1"]], "last": 1}})),
            "short row",
        ),
        (
            ok(json!({"error": [], "result": {"XXBTZUSD": [kraken_row(1600000000, "abc")], "last": 1}})),
            "bad price",
        ),
        (
            ok(json!({"error": [], "result": {"XXBTZUSD": [kraken_row(1600000000, "-1")], "last": 1}})),
            "negative",
        ),
        (ok(json!({"error": ["EGeneral:Internal error"]})), "other error"),
    ];
    for (template, case) in cases {
        let err = fetch(template).await.unwrap_err();
        assert!(matches!(err, ProviderError::Malformed(_)), "{case}: {err:?}");
    }
}

#[tokio::test]
async fn monthly_candles_are_not_asked_of_kraken() {
    let k = Kraken::new(&common::testing::dead_url(), common::testing::client());
    let err = k.candles(&BTC, Interval::Month).await.unwrap_err();
    assert_eq!(err, ProviderError::UnsupportedInterval("1M"));
}

// ---------------------------------------------------------------- Binance klines and CoinGecko market chart

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
    let f = Binance::new(&server.uri(), common::testing::client())
        .candles(&BTC, Interval::Week)
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
    Binance::new(&server.uri(), common::testing::client())
        .candles(&ETH, Interval::Day)
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
    let k = Binance::new(&common::testing::dead_url(), common::testing::client());
    assert_eq!(
        k.candles(&BTC, Interval::FifteenDays).await.unwrap_err(),
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
    let f = CoinGecko::new(&server.uri(), common::testing::client())
        .candles(&ETH, Interval::Day)
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
    let cg = CoinGecko::new(&server.uri(), common::testing::client());
    assert!(matches!(
        cg.candles(&BTC, Interval::Day).await,
        Err(ProviderError::Unavailable { .. })
    ));
    assert!(matches!(
        cg.candles(&ETH, Interval::Day).await,
        Err(ProviderError::UnknownPair(_))
    ));
    assert!(matches!(
        cg.candles(&LTC, Interval::Day).await,
        Err(ProviderError::Malformed(_))
    ));
    assert_eq!(
        cg.candles(&BTC, Interval::Week).await.unwrap_err(),
        ProviderError::UnsupportedInterval("1w")
    );
}
