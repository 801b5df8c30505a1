//! Coinbase spot prices: `GET /v2/prices/BTC-{CUR}/spot`, one request per currency.

use common::models::Rates;
use common::money::{Currency, Rate};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Provider, ProviderError, rate_from_json, rates};

#[derive(Deserialize)]
struct Spot {
    data: SpotData,
}

#[derive(Deserialize)]
struct SpotData {
    amount: Box<RawValue>,
    base: String,
    currency: String,
}

/// Fetches the three spot prices concurrently.
pub(super) async fn fetch(p: &Provider) -> Result<Rates, ProviderError> {
    let (eur, gbp, usd) = tokio::try_join!(
        spot(p, Currency::Eur),
        spot(p, Currency::Gbp),
        spot(p, Currency::Usd)
    )?;
    Ok(rates(eur, gbp, usd))
}

async fn spot(p: &Provider, currency: Currency) -> Result<Rate, ProviderError> {
    let spot: Spot = p.get_json(&format!("/v2/prices/BTC-{currency}/spot")).await?;
    let data = spot.data;
    // A proxy or API change could answer for another pair; never price EUR with USD.
    if !data.base.eq_ignore_ascii_case("BTC") || !data.currency.eq_ignore_ascii_case(currency.code()) {
        return Err(ProviderError::Malformed(format!(
            "coinbase: asked for BTC-{currency}, got {}-{}",
            data.base, data.currency
        )));
    }
    rate_from_json(currency, &data.amount)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use rust_decimal::Decimal;
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::test_support::provider;
    use crate::{ProviderError, ProviderKind};

    async fn mount_spot(server: &MockServer, currency: &str, amount: &str, reply_currency: &str) {
        Mock::given(method("GET"))
            .and(path(format!("/v2/prices/BTC-{currency}/spot")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": {"amount": amount, "base": "BTC", "currency": reply_currency}
            })))
            .mount(server)
            .await;
    }

    #[tokio::test]
    async fn coinbase_spot_prices_are_read_from_one_request_per_currency() {
        let server = MockServer::start().await;
        mount_spot(&server, "EUR", "61234.56", "EUR").await;
        mount_spot(&server, "GBP", "52345.10", "GBP").await;
        mount_spot(&server, "USD", "66543.215", "USD").await;
        let rec = provider(ProviderKind::Coinbase, &server).fetch().await.unwrap();
        assert_eq!(rec.rates.eur.value(), Decimal::new(6_123_456, 2));
        assert_eq!(rec.rates.gbp.value(), Decimal::new(523_451, 1));
        assert_eq!(rec.rates.usd.value(), Decimal::new(66_543_215, 3));
        assert_eq!(rec.source, "coinbase");
    }

    #[tokio::test]
    async fn coinbase_answer_for_the_wrong_currency_is_malformed() {
        let server = MockServer::start().await;
        mount_spot(&server, "EUR", "61234.56", "EUR").await;
        mount_spot(&server, "GBP", "66543.21", "USD").await;
        mount_spot(&server, "USD", "66543.21", "USD").await;
        let err = provider(ProviderKind::Coinbase, &server)
            .fetch()
            .await
            .unwrap_err();
        let ProviderError::Malformed(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("BTC-GBP"), "{text}");
    }

    #[tokio::test]
    async fn coinbase_server_error_is_an_http_error() {
        let server = MockServer::start().await;
        mount_spot(&server, "EUR", "61234.56", "EUR").await;
        mount_spot(&server, "GBP", "52345.10", "GBP").await;
        Mock::given(path("/v2/prices/BTC-USD/spot"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        let err = provider(ProviderKind::Coinbase, &server)
            .fetch()
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Http { status: 500, .. }), "{err:?}");
    }

    #[tokio::test]
    async fn coinbase_zero_amount_is_invalid() {
        let server = MockServer::start().await;
        mount_spot(&server, "EUR", "0", "EUR").await;
        mount_spot(&server, "GBP", "52345.10", "GBP").await;
        mount_spot(&server, "USD", "66543.21", "USD").await;
        let err = provider(ProviderKind::Coinbase, &server)
            .fetch()
            .await
            .unwrap_err();
        let ProviderError::Invalid(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.starts_with("EUR"), "{text}");
    }
}
