//! Kraken public Ticker: `GET /0/public/Ticker?pair=XBTEUR,XBTGBP,XBTUSD`, last trade `c[0]`.

use std::collections::HashMap;

use common::models::Rates;
use common::money::{Currency, Rate};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Provider, ProviderError, rate_from_json, rates};

#[derive(Deserialize)]
struct TickerResponse {
    #[serde(default)]
    error: Vec<String>,
    #[serde(default)]
    result: Option<HashMap<String, Ticker>>,
}

#[derive(Deserialize)]
struct Ticker {
    /// Last trade closed: `[price, lot volume]`.
    c: Vec<Box<RawValue>>,
}

/// Fetches all three pairs in one request.
pub(super) async fn fetch(p: &Provider) -> Result<Rates, ProviderError> {
    let body: TickerResponse = p.get_json("/0/public/Ticker?pair=XBTEUR,XBTGBP,XBTUSD").await?;
    // Kraken reports its errors (rate limits, unknown pairs) in a 200 body.
    if !body.error.is_empty() {
        return Err(ProviderError::Malformed(format!(
            "kraken: {}",
            body.error.join("; ")
        )));
    }
    let result = body
        .result
        .ok_or_else(|| ProviderError::Malformed("kraken: no result".to_owned()))?;
    Ok(rates(
        last_trade(&result, Currency::Eur)?,
        last_trade(&result, Currency::Gbp)?,
        last_trade(&result, Currency::Usd)?,
    ))
}

fn last_trade(result: &HashMap<String, Ticker>, currency: Currency) -> Result<Rate, ProviderError> {
    // The API answers with legacy names (XXBTZEUR); accept the short form too.
    let ticker = [format!("XXBTZ{currency}"), format!("XBT{currency}")]
        .iter()
        .find_map(|key| result.get(key))
        .ok_or_else(|| ProviderError::Malformed(format!("kraken: no {currency} ticker")))?;
    let price = ticker
        .c
        .first()
        .ok_or_else(|| ProviderError::Malformed(format!("kraken: {currency} ticker has no last trade")))?;
    rate_from_json(currency, price)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use rust_decimal::Decimal;
    use serde_json::{Value, json};
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::test_support::provider;
    use crate::{ProviderError, ProviderKind};

    fn ticker(last: &str) -> Value {
        json!({
            "a": ["99999.9", "1", "1.000"],
            "b": ["1.1", "1", "1.000"],
            "c": [last, "0.0012"],
            "v": ["100", "200"],
            "p": ["1", "2"],
            "t": [10, 20],
            "l": ["1", "2"],
            "h": ["3", "4"],
            "o": "5"
        })
    }

    async fn serve(body: Value) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/0/public/Ticker"))
            .and(query_param("pair", "XBTEUR,XBTGBP,XBTUSD"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn kraken_ticker_uses_last_trade_price() {
        let server = serve(json!({"error": [], "result": {
            "XXBTZEUR": ticker("61234.50000"),
            "XXBTZGBP": ticker("52345.10000"),
            "XXBTZUSD": ticker("66543.21000"),
        }}))
        .await;
        let rec = provider(ProviderKind::Kraken, &server).fetch().await.unwrap();
        assert_eq!(rec.rates.eur.value(), Decimal::new(612_345, 1));
        assert_eq!(rec.rates.gbp.value(), Decimal::new(523_451, 1));
        assert_eq!(rec.rates.usd.value(), Decimal::new(6_654_321, 2));
        assert_eq!(rec.source, "kraken");
    }

    #[tokio::test]
    async fn kraken_accepts_short_pair_keys() {
        let server = serve(json!({"error": [], "result": {
            "XBTEUR": ticker("61234.5"),
            "XBTGBP": ticker("52345.1"),
            "XXBTZUSD": ticker("66543.21"),
        }}))
        .await;
        let rec = provider(ProviderKind::Kraken, &server).fetch().await.unwrap();
        assert_eq!(rec.rates.eur.value(), Decimal::new(612_345, 1));
    }

    #[tokio::test]
    async fn kraken_error_array_is_reported_with_its_message() {
        let server = serve(json!({"error": ["EAPI:Rate limit exceeded"]})).await;
        let err = provider(ProviderKind::Kraken, &server).fetch().await.unwrap_err();
        let ProviderError::Malformed(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("EAPI:Rate limit exceeded"), "{text}");
    }

    #[tokio::test]
    async fn kraken_missing_currency_is_malformed() {
        let server = serve(json!({"error": [], "result": {
            "XXBTZEUR": ticker("61234.5"),
            "XXBTZUSD": ticker("66543.21"),
        }}))
        .await;
        let err = provider(ProviderKind::Kraken, &server).fetch().await.unwrap_err();
        let ProviderError::Malformed(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("GBP"), "{text}");
    }

    #[tokio::test]
    async fn kraken_negative_price_is_invalid() {
        let server = serve(json!({"error": [], "result": {
            "XXBTZEUR": ticker("61234.5"),
            "XXBTZGBP": ticker("52345.1"),
            "XXBTZUSD": ticker("-66543.21"),
        }}))
        .await;
        let err = provider(ProviderKind::Kraken, &server).fetch().await.unwrap_err();
        let ProviderError::Invalid(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.starts_with("USD"), "{text}");
    }
}
