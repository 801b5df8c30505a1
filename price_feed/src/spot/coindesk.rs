//! CoinDesk BPI v1 `GET /v1/bpi/currentprice.json` (the original source). Uses the
//! `rate` string (`"66,543.2100"`), not `rate_float`, so nothing passes through a float.

use std::collections::HashMap;

use common::models::Rates;
use common::money::{Currency, Rate};
use serde::Deserialize;

use super::{Provider, ProviderError, rate_from_text, rates};

#[derive(Deserialize)]
struct CurrentPrice {
    bpi: HashMap<String, Bpi>,
}

#[derive(Deserialize)]
struct Bpi {
    rate: String,
}

/// Fetches all three currencies in one request.
pub(super) async fn fetch(p: &Provider) -> Result<Rates, ProviderError> {
    let body: CurrentPrice = p.get_json("/v1/bpi/currentprice.json").await?;
    let price = |currency: Currency| -> Result<Rate, ProviderError> {
        let bpi = body
            .bpi
            .get(currency.code())
            .ok_or_else(|| ProviderError::Malformed(format!("coindesk: no {currency} price")))?;
        rate_from_text(currency, &bpi.rate.replace(',', ""))
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
    use serde_json::{Value, json};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::test_support::provider;
    use crate::{ProviderError, ProviderKind};

    fn bpi(code: &str, rate: &str) -> Value {
        json!({"code": code, "symbol": "&#36;", "rate": rate, "description": "x", "rate_float": 1.5})
    }

    fn document(eur: &str, gbp: &str, usd: &str) -> Value {
        json!({
            "time": {"updated": "Jan 1, 2024 00:00:00 UTC", "updatedISO": "2024-01-01T00:00:00+00:00"},
            "disclaimer": "This data was produced from the CoinDesk Bitcoin Price Index (USD).",
            "chartName": "Bitcoin",
            "bpi": {"USD": bpi("USD", usd), "GBP": bpi("GBP", gbp), "EUR": bpi("EUR", eur)}
        })
    }

    async fn serve(body: Value) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/bpi/currentprice.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn coindesk_rate_string_has_its_commas_removed() {
        let server = serve(document("61,234.5600", "52,345.1000", "66,543.2100")).await;
        let rec = provider(ProviderKind::CoinDesk, &server).fetch().await.unwrap();
        assert_eq!(rec.rates.eur.value(), Decimal::new(6_123_456, 2));
        assert_eq!(rec.rates.gbp.value(), Decimal::new(523_451, 1));
        assert_eq!(rec.rates.usd.value(), Decimal::new(6_654_321, 2));
        assert_eq!(rec.rates.usd.to_string(), "66543.21");
        assert_eq!(rec.source, "coindesk");
    }

    #[tokio::test]
    async fn coindesk_missing_currency_is_malformed() {
        let mut body = document("61,234.56", "52,345.10", "66,543.21");
        body["bpi"].as_object_mut().unwrap().remove("EUR");
        let server = serve(body).await;
        let err = provider(ProviderKind::CoinDesk, &server)
            .fetch()
            .await
            .unwrap_err();
        let ProviderError::Malformed(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("EUR"), "{text}");
    }

    #[tokio::test]
    async fn coindesk_non_numeric_rate_is_malformed() {
        let server = serve(document("61,234.56", "n/a", "66,543.21")).await;
        let err = provider(ProviderKind::CoinDesk, &server)
            .fetch()
            .await
            .unwrap_err();
        let ProviderError::Malformed(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.starts_with("GBP"), "{text}");
    }

    #[tokio::test]
    async fn coindesk_zero_rate_is_invalid() {
        let server = serve(document("0.0000", "52,345.10", "66,543.21")).await;
        let err = provider(ProviderKind::CoinDesk, &server)
            .fetch()
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Invalid(_)), "{err:?}");
    }
}
