//! The provider chain of lambo_checker against wiremock (the clients themselves are
//! tested in price_feed/tests/history.rs).

use lambo_checker::providers::{ProviderConfig, ProviderKind};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
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
        // Kraken by its name (at the legacy `provider_urls.kraken` of the test settings),
        // Binance in the one shape of both services: a kind and a base URL.
        s.providers = vec![
            ProviderKind::Kraken.into(),
            ProviderConfig::at(ProviderKind::Binance, uri),
        ];
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
