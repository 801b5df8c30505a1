//! CoinGecko `GET /api/v3/simple/price?ids=bitcoin&vs_currencies=eur,gbp,usd`.
//! Prices are JSON numbers; they are read from their raw text, not through `f64`.

use std::collections::HashMap;

use common::models::Rates;
use common::money::{Currency, Rate};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Provider, ProviderError, rate_from_json, rates};

#[derive(Deserialize)]
struct SimplePrice {
    bitcoin: HashMap<String, Box<RawValue>>,
}

/// Fetches all three currencies in one request.
pub(super) async fn fetch(p: &Provider) -> Result<Rates, ProviderError> {
    let body: SimplePrice = p
        .get_json("/api/v3/simple/price?ids=bitcoin&vs_currencies=eur,gbp,usd")
        .await?;
    let price = |currency: Currency| -> Result<Rate, ProviderError> {
        let raw = body
            .bitcoin
            .get(&currency.code().to_ascii_lowercase())
            .ok_or_else(|| ProviderError::Malformed(format!("coingecko: no {currency} price")))?;
        rate_from_json(currency, raw)
    };
    Ok(rates(
        price(Currency::Eur)?,
        price(Currency::Gbp)?,
        price(Currency::Usd)?,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use rust_decimal::Decimal;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::test_support::provider;
    use crate::{ProviderError, ProviderKind};

    async fn serve(template: ResponseTemplate) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v3/simple/price"))
            .and(query_param("ids", "bitcoin"))
            .and(query_param("vs_currencies", "eur,gbp,usd"))
            .respond_with(template)
            .mount(&server)
            .await;
        server
    }

    fn json_body(body: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_raw(body.to_owned(), "application/json")
    }

    #[tokio::test]
    async fn coingecko_numbers_are_parsed_from_their_exact_text() {
        // 0.1-style fractions have no exact f64; the exponent form must work too.
        let server = serve(json_body(
            r#"{"bitcoin":{"eur":61234.56,"gbp":5.23451e4,"usd":66543}}"#,
        ))
        .await;
        let rec = provider(ProviderKind::CoinGecko, &server).fetch().await.unwrap();
        assert_eq!(rec.rates.eur.value(), Decimal::new(6_123_456, 2));
        assert_eq!(rec.rates.eur.to_string(), "61234.56");
        assert_eq!(rec.rates.gbp.value(), Decimal::new(523_451, 1));
        assert_eq!(rec.rates.usd.value(), Decimal::from(66_543));
    }

    #[tokio::test]
    async fn coingecko_many_decimal_digits_are_kept_exactly() {
        let server = serve(json_body(
            r#"{"bitcoin":{"eur":61234.123456789012345678,"gbp":"52345.1","usd":66543}}"#,
        ))
        .await;
        let rec = provider(ProviderKind::CoinGecko, &server).fetch().await.unwrap();
        assert_eq!(rec.rates.eur.to_string(), "61234.123456789012345678");
        assert_eq!(rec.rates.gbp.value(), Decimal::new(523_451, 1));
    }

    #[tokio::test]
    async fn coingecko_rate_limit_is_an_http_429() {
        let server =
            serve(ResponseTemplate::new(429).set_body_string(r#"{"status":{"error_code":429}}"#)).await;
        let err = provider(ProviderKind::CoinGecko, &server)
            .fetch()
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Http { status: 429, .. }), "{err:?}");
    }

    #[tokio::test]
    async fn coingecko_garbage_body_is_malformed() {
        for body in [
            "not json",
            "",
            "[]",
            r#"{"bitcoin":{"eur":"sixty","gbp":1,"usd":1}}"#,
            r#"{"bitcoin":{"eur":null,"gbp":1,"usd":1}}"#,
        ] {
            let server = serve(json_body(body)).await;
            let err = provider(ProviderKind::CoinGecko, &server)
                .fetch()
                .await
                .unwrap_err();
            assert!(matches!(err, ProviderError::Malformed(_)), "{body:?}: {err:?}");
        }
    }

    #[tokio::test]
    async fn coingecko_missing_currency_is_malformed() {
        let server = serve(json_body(r#"{"bitcoin":{"eur":61234.56,"usd":66543}}"#)).await;
        let err = provider(ProviderKind::CoinGecko, &server)
            .fetch()
            .await
            .unwrap_err();
        let ProviderError::Malformed(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("GBP"), "{text}");
    }

    #[tokio::test]
    async fn coingecko_zero_or_negative_price_is_invalid() {
        for body in [
            r#"{"bitcoin":{"eur":0,"gbp":1,"usd":1}}"#,
            r#"{"bitcoin":{"eur":1,"gbp":-52345.1,"usd":1}}"#,
        ] {
            let server = serve(json_body(body)).await;
            let err = provider(ProviderKind::CoinGecko, &server)
                .fetch()
                .await
                .unwrap_err();
            assert!(matches!(err, ProviderError::Invalid(_)), "{body}: {err:?}");
        }
    }
}
