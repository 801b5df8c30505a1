//! Spot BTC prices in EUR, GBP and USD: one client per upstream API, a sanity check
//! on what they return ([`Validator`]), and a fallback chain ([`fetch_first_valid`]).
//! Prices are parsed from their text, never through `f64`. A provider that answers 429
//! or 5xx with `Retry-After` is not asked again before that time: until then its
//! [`Provider::fetch`] fails at once, so the chain goes on to the next provider.

mod coinbase;
mod coindesk;
mod coingecko;
mod kraken;
mod simulated;

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::models::{PriceRecord, Rates};
use common::money::{Currency, Rate};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::{ProviderConfig, ProviderError, ProviderKind, error_chain, http};

/// A configured price source. Network providers share the service's pooled client.
#[derive(Debug)]
pub struct Provider {
    kind: ProviderKind,
    base_url: String,
    client: reqwest::Client,
    sim: Mutex<simulated::SimState>,
    /// Until when the provider asked not to be called (its last `Retry-After`).
    paused_until: Mutex<Option<Instant>>,
}

impl Provider {
    /// Builds a provider; `client` carries the service's timeouts and pool.
    pub fn new(cfg: ProviderConfig, client: reqwest::Client) -> Self {
        Self {
            kind: cfg.kind,
            base_url: cfg.base_url.trim_end_matches('/').to_owned(),
            client,
            sim: Mutex::new(simulated::SimState::new()),
            paused_until: Mutex::new(None),
        }
    }

    /// Which API this provider calls.
    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// Seconds left of the pause the provider asked for, if one is running.
    pub fn paused_for(&self) -> Option<u64> {
        let until = (*self.paused_until.lock().unwrap_or_else(PoisonError::into_inner))?;
        let left = until.checked_duration_since(Instant::now())?;
        Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    /// Asks the provider for BTC prices in EUR, GBP and USD, once; fails at once,
    /// without a request, while a pause it asked for (`Retry-After`) runs.
    pub async fn fetch(&self) -> Result<PriceRecord, ProviderError> {
        if let Some(left) = self.paused_for() {
            return Err(ProviderError::Unavailable {
                reason: format!(
                    "{} asked for a pause (Retry-After); asked again in {left} s",
                    self.kind
                ),
                retry_after: Some(left),
            });
        }
        let result = self.fetch_now().await;
        if let Some(secs) = result.as_ref().err().and_then(ProviderError::retry_after)
            && secs > 0
        {
            tracing::info!(provider = %self.kind, retry_after_secs = secs, "price provider asked for a pause");
            *self.paused_until.lock().unwrap_or_else(PoisonError::into_inner) =
                Instant::now().checked_add(Duration::from_secs(secs));
        }
        result
    }

    async fn fetch_now(&self) -> Result<PriceRecord, ProviderError> {
        let fetched_at = Utc::now();
        let rates = match self.kind {
            ProviderKind::Coinbase => coinbase::fetch(self).await?,
            ProviderKind::Kraken => kraken::fetch(self).await?,
            ProviderKind::CoinGecko => coingecko::fetch(self).await?,
            ProviderKind::CoinDesk => coindesk::fetch(self).await?,
            ProviderKind::Binance => {
                return Err(ProviderError::Malformed(format!(
                    "{} gives no spot prices",
                    self.kind
                )));
            }
            ProviderKind::Simulated => {
                // A poisoned lock only means a panic mid-step; the state is still a valid price.
                let mut state = self.sim.lock().unwrap_or_else(PoisonError::into_inner);
                state.step()?
            }
        };
        Ok(PriceRecord {
            rates,
            source: self.kind.to_string(),
            fetched_at,
            simulated: self.kind == ProviderKind::Simulated,
        })
    }

    /// GETs `{base_url}{path_and_query}` and decodes a JSON body, mapping every failure.
    async fn get_json<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, ProviderError> {
        let url = format!("{}{}", self.base_url, path_and_query);
        let transport = |e: reqwest::Error| ProviderError::Transport(error_chain(&e));
        let answer = http::get(&self.client, &url, &[]).await.map_err(transport)?;
        if !answer.is_success() {
            return Err(ProviderError::Http {
                status: answer.status,
                retry_after: answer.retry_after,
            });
        }
        let body = answer.body().await.map_err(transport)?;
        serde_json::from_slice(&body).map_err(|e| ProviderError::Malformed(format!("{}: {e}", self.kind)))
    }
}

/// Exact decimal from a price's text.
fn parse_decimal(currency: Currency, text: &str) -> Result<Decimal, ProviderError> {
    crate::parse_decimal(&format!("{currency} price"), text)
}

/// Checks a decimal as a BTC price in `currency`.
fn to_rate(currency: Currency, value: Decimal) -> Result<Rate, ProviderError> {
    Rate::new(value).map_err(|e| ProviderError::Invalid(format!("{currency} price {value}: {e}")))
}

/// A price given as text (`"61234.56"`).
fn rate_from_text(currency: Currency, text: &str) -> Result<Rate, ProviderError> {
    to_rate(currency, parse_decimal(currency, text)?)
}

/// A price given as a JSON number or string, read from its raw text so no float rounds it.
fn rate_from_json(currency: Currency, raw: &RawValue) -> Result<Rate, ProviderError> {
    rate_from_text(
        currency,
        &crate::raw_number_text(&format!("{currency} price"), raw)?,
    )
}

/// Rejects absurd prices before they reach orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    /// Largest accepted relative change from the last good record (0.20 = 20%).
    pub max_jump: Decimal,
    /// Smallest accepted price in any currency.
    pub min: Decimal,
    /// Largest accepted price in any currency.
    pub max: Decimal,
}

impl Default for Validator {
    fn default() -> Self {
        Self {
            max_jump: Decimal::new(20, 2),
            min: Decimal::from(100),
            max: Decimal::from(10_000_000),
        }
    }
}

/// A last good record older than this is too old to judge a jump against.
const JUMP_WINDOW: TimeDelta = TimeDelta::hours(1);

impl Validator {
    /// `Ok` when every rate of `new` is within bounds and close enough to `last_good`.
    pub fn check(&self, new: &PriceRecord, last_good: Option<&PriceRecord>) -> Result<(), ProviderError> {
        for currency in Currency::ALL {
            let rate = new.rates.get(currency).value();
            if rate < self.min || rate > self.max {
                return Err(ProviderError::Invalid(format!(
                    "{currency} price {rate} from {} is outside [{}, {}]",
                    new.source, self.min, self.max
                )));
            }
        }
        // Real and simulated prices are unrelated; comparing them would lock out the
        // real providers for an hour after running on simulated prices (and the reverse).
        let Some(old) = last_good.filter(|old| old.simulated == new.simulated) else {
            return Ok(());
        };
        if new.fetched_at - old.fetched_at > JUMP_WINDOW {
            return Ok(());
        }
        for currency in Currency::ALL {
            let (now, before) = (new.rates.get(currency).value(), old.rates.get(currency).value());
            // |now - before| / before > max_jump, without a division (before > 0).
            if (now - before).abs() > self.max_jump * before {
                return Err(ProviderError::Invalid(format!(
                    "{currency} price {now} from {} moved more than {}% from {before} ({})",
                    new.source,
                    (self.max_jump * Decimal::ONE_HUNDRED).normalize(),
                    old.source
                )));
            }
        }
        Ok(())
    }
}

/// Tries `chain` in order; returns the first record that is fetched and validated,
/// or every provider's error.
pub async fn fetch_first_valid(
    chain: &[Provider],
    validator: &Validator,
    last_good: Option<&PriceRecord>,
) -> Result<PriceRecord, Vec<(ProviderKind, ProviderError)>> {
    let mut errors = Vec::new();
    for provider in chain {
        let result = match provider.fetch().await {
            Ok(record) => validator.check(&record, last_good).map(|()| record),
            Err(e) => Err(e),
        };
        match result {
            Ok(record) => return Ok(record),
            Err(e) => {
                tracing::warn!(provider = %provider.kind(), error = %e, "price provider failed");
                errors.push((provider.kind(), e));
            }
        }
    }
    Err(errors)
}

/// Builds a `Rates` from three checked rates (keeps provider modules short).
fn rates(eur: Rate, gbp: Rate, usd: Rate) -> Rates {
    Rates { eur, gbp, usd }
}

#[cfg(test)]
pub(crate) mod test_support {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use common::models::{PriceRecord, Rates};
    use wiremock::MockServer;

    use super::{Provider, ProviderConfig, ProviderKind};

    /// A client like the service's, with a short timeout.
    pub(crate) fn client() -> reqwest::Client {
        common::tls::client_builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap()
    }

    /// A provider of `kind` pointed at a mock server.
    pub(crate) fn provider(kind: ProviderKind, server: &MockServer) -> Provider {
        Provider::new(
            ProviderConfig {
                kind,
                base_url: server.uri(),
            },
            client(),
        )
    }

    /// A record with the given prices, fetched at `at`.
    pub(crate) fn record(eur: &str, gbp: &str, usd: &str, at: DateTime<Utc>) -> PriceRecord {
        PriceRecord {
            rates: Rates {
                eur: eur.parse().unwrap(),
                gbp: gbp.parse().unwrap(),
                usd: usd.parse().unwrap(),
            },
            source: "test".to_owned(),
            fetched_at: at,
            simulated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::time::Duration;

    use chrono::{TimeDelta, Utc};
    use rust_decimal::Decimal;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::test_support::{client, provider, record};
    use super::*;

    fn coingecko_ok() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_raw(
            r#"{"bitcoin":{"eur":61234.56,"gbp":52345.1,"usd":66543}}"#,
            "application/json",
        )
    }

    #[tokio::test]
    async fn a_provider_slower_than_the_client_timeout_is_a_transport_error() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(coingecko_ok().set_delay(Duration::from_millis(1000)))
            .mount(&server)
            .await;
        let err = provider(ProviderKind::CoinGecko, &server)
            .fetch()
            .await
            .unwrap_err();
        let ProviderError::Transport(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("timed out"), "{text}");
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_a_transport_error() {
        // Bind then drop: the port is very likely closed when we connect.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = ProviderConfig {
            kind: ProviderKind::Kraken,
            base_url: format!("http://127.0.0.1:{port}"),
        };
        let err = Provider::new(cfg, client()).fetch().await.unwrap_err();
        assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    }

    /// A CoinGecko mock answering 429 with `retry_after` once, then prices.
    async fn rate_limited_once(retry_after: &str) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(path("/api/v3/simple/price"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", retry_after))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(path("/api/v3/simple/price"))
            .respond_with(coingecko_ok())
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn a_provider_that_sent_retry_after_is_not_asked_again_before_it_passes() {
        let server = rate_limited_once("60").await;
        let p = provider(ProviderKind::CoinGecko, &server);
        let err = p.fetch().await.unwrap_err();
        assert_eq!(
            err,
            ProviderError::Http {
                status: 429,
                retry_after: Some(60)
            }
        );
        let again = p.fetch().await.unwrap_err();
        let ProviderError::Unavailable { reason, retry_after } = &again else {
            panic!("{again:?}")
        };
        assert!(reason.contains("Retry-After"), "{reason}");
        assert!(matches!(retry_after, Some(59 | 60)), "{again:?}");
        assert_eq!(p.paused_for(), *retry_after);
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "not asked while paused"
        );
        // The chain goes on to the next provider without waiting for it.
        let chain = [
            p,
            Provider::new(ProviderConfig::new(ProviderKind::Simulated), client()),
        ];
        let rec = fetch_first_valid(&chain, &Validator::default(), None)
            .await
            .unwrap();
        assert!(rec.simulated);
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_retry_after_date_pauses_until_then_and_the_provider_is_asked_again_after() {
        let at = Utc::now() + TimeDelta::milliseconds(1500);
        let server = rate_limited_once(&at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).await;
        let p = provider(ProviderKind::CoinGecko, &server);
        let err = p.fetch().await.unwrap_err();
        assert!(matches!(err.retry_after(), Some(1 | 2)), "{err:?}");
        assert!(matches!(p.fetch().await, Err(ProviderError::Unavailable { .. })));
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(p.paused_for(), None);
        let rec = p.fetch().await.unwrap();
        assert_eq!(rec.source, "coingecko");
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_failure_without_retry_after_does_not_pause_the_provider() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        let p = provider(ProviderKind::CoinGecko, &server);
        for _ in 0..2 {
            let err = p.fetch().await.unwrap_err();
            assert_eq!(
                err,
                ProviderError::Http {
                    status: 503,
                    retry_after: None
                }
            );
        }
        assert_eq!(p.paused_for(), None);
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn records_name_their_source_and_fetch_time() {
        let server = MockServer::start().await;
        Mock::given(path("/api/v3/simple/price"))
            .respond_with(coingecko_ok())
            .mount(&server)
            .await;
        let before = Utc::now();
        let rec = provider(ProviderKind::CoinGecko, &server).fetch().await.unwrap();
        assert_eq!(rec.source, "coingecko");
        assert!(!rec.simulated);
        assert!(rec.fetched_at >= before && rec.fetched_at <= Utc::now());
    }

    #[test]
    fn validator_accepts_sane_prices_and_small_moves() {
        let v = Validator::default();
        let now = Utc::now();
        let old = record("60000", "51000", "65000", now - TimeDelta::minutes(1));
        let new = record("71999.99", "40800", "65000", now); // +19.99..%, -20% exactly
        v.check(&new, Some(&old)).unwrap();
        v.check(&new, None).unwrap();
    }

    #[test]
    fn validator_rejects_prices_outside_the_absolute_bounds_naming_the_currency() {
        let v = Validator::default();
        let now = Utc::now();
        for (rec, cur) in [
            (record("99.99", "51000", "65000", now), "EUR"),
            (record("60000", "10000000.01", "65000", now), "GBP"),
            (record("60000", "51000", "0.01", now), "USD"),
        ] {
            let err = v.check(&rec, None).unwrap_err();
            let ProviderError::Invalid(reason) = err else {
                panic!("{err:?}")
            };
            assert!(reason.starts_with(cur), "{reason}");
        }
    }

    #[test]
    fn validator_rejects_a_huge_jump_from_the_last_good_record() {
        let v = Validator::default();
        let now = Utc::now();
        let old = record("60000", "51000", "65000", now - TimeDelta::minutes(5));
        let err = v
            .check(&record("60000", "51000", "78000.01", now), Some(&old))
            .unwrap_err();
        let ProviderError::Invalid(reason) = err else {
            panic!("{err:?}")
        };
        assert!(reason.starts_with("USD") && reason.contains("20%"), "{reason}");
        // A crash is as suspicious as a spike.
        assert!(
            v.check(&record("6000", "51000", "65000", now), Some(&old))
                .is_err()
        );
    }

    #[test]
    fn validator_ignores_a_last_good_record_older_than_an_hour() {
        let v = Validator::default();
        let now = Utc::now();
        let old = record("30000", "25000", "32000", now - TimeDelta::minutes(61));
        v.check(&record("60000", "51000", "65000", now), Some(&old))
            .unwrap();
        let recent = record("30000", "25000", "32000", now - TimeDelta::minutes(59));
        assert!(
            v.check(&record("60000", "51000", "65000", now), Some(&recent))
                .is_err()
        );
    }

    #[test]
    fn validator_does_not_compare_simulated_with_real_prices() {
        let v = Validator::default();
        let now = Utc::now();
        let mut old = record("60000", "51000", "65000", now - TimeDelta::minutes(1));
        old.simulated = true;
        v.check(&record("90000", "76000", "98000", now), Some(&old))
            .unwrap();
    }

    #[tokio::test]
    async fn fetch_first_valid_falls_through_a_failing_provider_to_a_working_one() {
        let broken = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&broken)
            .await;
        let good = MockServer::start().await;
        Mock::given(path("/api/v3/simple/price"))
            .respond_with(coingecko_ok())
            .mount(&good)
            .await;
        let chain = [
            provider(ProviderKind::Kraken, &broken),
            provider(ProviderKind::CoinGecko, &good),
        ];
        let rec = fetch_first_valid(&chain, &Validator::default(), None)
            .await
            .unwrap();
        assert_eq!(rec.source, "coingecko");
        assert_eq!(rec.rates.eur.value(), Decimal::new(6_123_456, 2));
    }

    #[tokio::test]
    async fn fetch_first_valid_skips_a_provider_whose_price_jumped() {
        let server = MockServer::start().await;
        Mock::given(path("/api/v3/simple/price"))
            .respond_with(coingecko_ok())
            .expect(2)
            .mount(&server)
            .await;
        let chain = [
            provider(ProviderKind::CoinGecko, &server),
            Provider::new(ProviderConfig::new(ProviderKind::Simulated), client()),
        ];
        // 61234.56 after a real 30000 is a jump; simulated prices are not judged against real ones.
        let last = record("30000", "25000", "32000", Utc::now());
        let rec = fetch_first_valid(&chain, &Validator::default(), Some(&last))
            .await
            .unwrap();
        assert!(rec.simulated);
        let errors = fetch_first_valid(&chain[..1], &Validator::default(), Some(&last))
            .await
            .unwrap_err();
        assert!(
            matches!(
                errors.as_slice(),
                [(ProviderKind::CoinGecko, ProviderError::Invalid(_))]
            ),
            "{errors:?}"
        );
    }

    #[tokio::test]
    async fn fetch_first_valid_returns_every_error_when_all_fail() {
        let server = MockServer::start().await;
        Mock::given(path("/v1/bpi/currentprice.json"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        Mock::given(path("/api/v3/simple/price"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops</html>"))
            .mount(&server)
            .await;
        let chain = [
            provider(ProviderKind::CoinDesk, &server),
            provider(ProviderKind::CoinGecko, &server),
        ];
        let errors = fetch_first_valid(&chain, &Validator::default(), None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                errors.as_slice(),
                [
                    (ProviderKind::CoinDesk, ProviderError::Http { status: 500, .. }),
                    (ProviderKind::CoinGecko, ProviderError::Malformed(_))
                ]
            ),
            "{errors:?}"
        );
        assert!(
            fetch_first_valid(&[], &Validator::default(), None)
                .await
                .unwrap_err()
                .is_empty()
        );
    }
}
