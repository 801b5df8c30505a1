//! BTC price providers: one client per upstream API, a sanity check on what they
//! return, and a fallback chain. Prices are parsed from their text, never through `f64`.

mod coinbase;
mod coindesk;
mod coingecko;
mod kraken;
mod simulated;

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use chrono::{TimeDelta, Utc};
use common::models::{PriceRecord, Rates};
use common::money::{Currency, Rate};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// An upstream source of BTC prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Coinbase spot prices (`/v2/prices/BTC-EUR/spot`).
    Coinbase,
    /// Kraken public Ticker (last trade).
    Kraken,
    /// CoinGecko `simple/price`.
    CoinGecko,
    /// CoinDesk BPI v1 (the original source; the host is gone, kept for compatibility).
    CoinDesk,
    /// Made-up prices for offline runs; every record is marked `simulated`.
    Simulated,
}

impl ProviderKind {
    /// Every provider kind, in declaration order.
    pub const ALL: [ProviderKind; 5] = [
        ProviderKind::Coinbase,
        ProviderKind::Kraken,
        ProviderKind::CoinGecko,
        ProviderKind::CoinDesk,
        ProviderKind::Simulated,
    ];

    /// The lowercase name used in config, logs and `PriceRecord::source`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Coinbase => "coinbase",
            ProviderKind::Kraken => "kraken",
            ProviderKind::CoinGecko => "coingecko",
            ProviderKind::CoinDesk => "coindesk",
            ProviderKind::Simulated => "simulated",
        }
    }

    /// The public API root of this provider (empty for `Simulated`).
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Coinbase => "https://api.coinbase.com",
            ProviderKind::Kraken => "https://api.kraken.com",
            ProviderKind::CoinGecko => "https://api.coingecko.com",
            ProviderKind::CoinDesk => "https://api.coindesk.com",
            ProviderKind::Simulated => "",
        }
    }
}

/// The public API root of `kind` (same as [`ProviderKind::default_base_url`]).
pub fn default_base_url(kind: ProviderKind) -> &'static str {
    kind.default_base_url()
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name that is not one of the known kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown price provider {0:?}; expected one of coinbase, kraken, coingecko, coindesk, simulated")]
pub struct UnknownProvider(pub String);

impl FromStr for ProviderKind {
    type Err = UnknownProvider;
    /// Case-insensitive, surrounding spaces ignored (env lists like `"kraken, coinbase"`).
    fn from_str(s: &str) -> Result<Self, UnknownProvider> {
        let name = s.trim();
        ProviderKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

/// One entry of the provider chain. Deserializes from `"kraken"` or
/// `{kind = "kraken", base_url = "http://..."}`; a missing or empty `base_url` means the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawProviderConfig")]
pub struct ProviderConfig {
    /// Which API to call.
    pub kind: ProviderKind,
    /// API root without a trailing slash, e.g. `https://api.kraken.com`.
    pub base_url: String,
}

impl ProviderConfig {
    /// A config for `kind` at its default base URL.
    pub fn new(kind: ProviderKind) -> Self {
        Self {
            kind,
            base_url: kind.default_base_url().to_owned(),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawProviderConfig {
    Name(ProviderKind),
    Full(FullProviderConfig),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullProviderConfig {
    kind: ProviderKind,
    #[serde(default)]
    base_url: Option<String>,
}

impl From<RawProviderConfig> for ProviderConfig {
    fn from(raw: RawProviderConfig) -> Self {
        match raw {
            RawProviderConfig::Name(kind) => Self::new(kind),
            RawProviderConfig::Full(FullProviderConfig { kind, base_url }) => match base_url {
                Some(url) if !url.trim().is_empty() => Self {
                    kind,
                    base_url: url.trim().to_owned(),
                },
                _ => Self::new(kind),
            },
        }
    }
}

/// Why a provider gave no usable price.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered with a non-2xx status.
    #[error("HTTP status {0}")]
    Http(u16),
    /// No answer: timeout, connection refused, DNS, a broken body.
    #[error("transport error: {0}")]
    Transport(String),
    /// An answer that is not the documented format: not JSON, missing fields, bad numbers.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A well-formed but unacceptable price: not positive, out of bounds, a jump.
    #[error("invalid price: {0}")]
    Invalid(String),
}

/// A configured price source. Network providers share the service's pooled client.
#[derive(Debug)]
pub struct Provider {
    kind: ProviderKind,
    base_url: String,
    client: reqwest::Client,
    sim: Mutex<simulated::SimState>,
}

impl Provider {
    /// Builds a provider; `client` carries the service's timeouts and pool.
    pub fn new(cfg: ProviderConfig, client: reqwest::Client) -> Self {
        Self {
            kind: cfg.kind,
            base_url: cfg.base_url.trim_end_matches('/').to_owned(),
            client,
            sim: Mutex::new(simulated::SimState::new()),
        }
    }

    /// Which API this provider calls.
    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// Asks the provider for BTC prices in EUR, GBP and USD, once.
    pub async fn fetch(&self) -> Result<PriceRecord, ProviderError> {
        let fetched_at = Utc::now();
        let rates = match self.kind {
            ProviderKind::Coinbase => coinbase::fetch(self).await?,
            ProviderKind::Kraken => kraken::fetch(self).await?,
            ProviderKind::CoinGecko => coingecko::fetch(self).await?,
            ProviderKind::CoinDesk => coindesk::fetch(self).await?,
            ProviderKind::Simulated => {
                // A poisoned lock only means a panic mid-step; the state is still a valid price.
                let mut state = self.sim.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
        let response = self
            .client
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::Http(status.as_u16()));
        }
        let body = response.bytes().await.map_err(transport)?;
        serde_json::from_slice(&body).map_err(|e| ProviderError::Malformed(format!("{}: {e}", self.kind)))
    }
}

/// reqwest's own message is terse ("error sending request"); the cause chain says why.
fn transport(e: reqwest::Error) -> ProviderError {
    let mut text = if e.is_timeout() {
        format!("timed out: {e}")
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    ProviderError::Transport(text)
}

/// Exact decimal from a price's text: plain (`61234.56`) or exponent (`6.123456e4`) form.
fn parse_decimal(currency: Currency, text: &str) -> Result<Decimal, ProviderError> {
    Decimal::from_str_exact(text)
        .or_else(|e| {
            if text.contains(['e', 'E']) {
                Decimal::from_scientific(text)
            } else {
                Err(e)
            }
        })
        .map_err(|e| ProviderError::Malformed(format!("{currency} price {text:?} is not a number: {e}")))
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
    let text = raw.get().trim();
    if text.starts_with('"') {
        let inner: String = serde_json::from_str(text)
            .map_err(|e| ProviderError::Malformed(format!("{currency} price {text}: {e}")))?;
        rate_from_text(currency, &inner)
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        rate_from_text(currency, text)
    } else {
        Err(ProviderError::Malformed(format!(
            "{currency} price {text} is not a number"
        )))
    }
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
        reqwest::Client::builder()
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
    use serde_json::json;
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

    #[test]
    fn provider_kinds_parse_and_display_as_lowercase_names() {
        for kind in ProviderKind::ALL {
            assert_eq!(kind.to_string().parse::<ProviderKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
            assert_eq!(serde_json::from_str::<ProviderKind>(&json).unwrap(), kind);
        }
        assert_eq!(
            " CoinGecko ".parse::<ProviderKind>().unwrap(),
            ProviderKind::CoinGecko
        );
        assert!("binance".parse::<ProviderKind>().is_err());
        assert!(serde_json::from_str::<ProviderKind>("\"binance\"").is_err());
    }

    #[test]
    fn provider_config_defaults_the_base_url_per_kind() {
        let chain: Vec<ProviderConfig> = serde_json::from_value(json!([
            "coingecko",
            {"kind": "kraken"},
            {"kind": "coinbase", "base_url": "http://localhost:9000/"},
            {"kind": "coindesk", "base_url": ""},
        ]))
        .unwrap();
        assert_eq!(
            chain[0],
            ProviderConfig {
                kind: ProviderKind::CoinGecko,
                base_url: "https://api.coingecko.com".into()
            }
        );
        assert_eq!(chain[1].base_url, "https://api.kraken.com");
        assert_eq!(chain[2].base_url, "http://localhost:9000/");
        assert_eq!(chain[3].base_url, default_base_url(ProviderKind::CoinDesk));
        assert!(serde_json::from_value::<ProviderConfig>(json!({"kind": "kraken", "url": "x"})).is_err());
    }

    #[test]
    fn prices_are_parsed_exactly_from_plain_and_exponent_text() {
        let d = |t: &str| parse_decimal(Currency::Usd, t).unwrap();
        assert_eq!(d("61234.56"), Decimal::new(6_123_456, 2));
        assert_eq!(d("6.654321e4"), Decimal::new(6_654_321, 2));
        assert_eq!(d("1E+5"), Decimal::from(100_000));
        assert_eq!(d("123456e-2"), Decimal::new(123_456, 2));
        for bad in ["", "NaN", "1.2.3", "12,3", "1e400", "abc"] {
            assert!(
                matches!(
                    parse_decimal(Currency::Usd, bad),
                    Err(ProviderError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
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
                    (ProviderKind::CoinDesk, ProviderError::Http(500)),
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
