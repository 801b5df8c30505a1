//! The Kraken OHLC client against wiremock, in the documented response shapes.

use lambo_checker::domain::{ASSETS, Interval};
use lambo_checker::providers::{Kraken, PriceHistory, ProviderError};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::kraken_row;

async fn kraken_answering(template: ResponseTemplate) -> (MockServer, Kraken) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/0/public/OHLC"))
        .and(query_param("pair", "XBTUSD"))
        .and(query_param("interval", "10080"))
        .respond_with(template)
        .mount(&server)
        .await;
    let k = Kraken::new(&server.uri(), reqwest::Client::new());
    (server, k)
}

async fn fetch(template: ResponseTemplate) -> Result<lambo_checker::providers::Fetched, ProviderError> {
    let (_server, k) = kraken_answering(template).await;
    k.candles(&ASSETS[0], Interval::Week).await
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
    let k = Kraken::new(&common::testing::dead_url(), reqwest::Client::new());
    let err = k.candles(&ASSETS[0], Interval::Month).await.unwrap_err();
    assert_eq!(err, ProviderError::UnsupportedInterval("1M"));
}
