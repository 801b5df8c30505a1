//! Price-history providers behind one trait. Each client returns complete USD
//! candles only (a candle still in progress is dropped here, so it is never
//! stored or averaged). Prices are parsed from their text, never through `f64`.

mod binance;
mod coingecko;
mod kraken;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::{Direction, ProviderConfig, ProviderError, ProviderKind, UnknownProvider, error_chain, http};

pub use binance::Binance;
pub use coingecko::CoinGecko;
pub use kraken::Kraken;

/// A coin we can answer for, with its names at each provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The normalised symbol (`BTC`).
    pub symbol: &'static str,
    /// Kraken's pair against USD (`XBTUSD`).
    pub kraken_pair: &'static str,
    /// Binance's pair against USDT (`BTCUSDT`).
    pub binance_pair: &'static str,
    /// CoinGecko's coin id (`bitcoin`).
    pub coingecko_id: &'static str,
}

/// A candle length. Kraken offers the first three; `1M` is what the bundled data supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Interval {
    /// One day (Kraken `interval=1440`).
    #[serde(rename = "1d")]
    Day,
    /// One week (Kraken `interval=10080`).
    #[serde(rename = "1w")]
    Week,
    /// Fifteen days (Kraken `interval=21600`), the originals' choice.
    #[serde(rename = "15d")]
    FifteenDays,
    /// One calendar month (bundled data only).
    #[serde(rename = "1M")]
    Month,
}

impl Interval {
    /// Every interval, shortest first.
    pub const ALL: [Interval; 4] = [
        Interval::Day,
        Interval::Week,
        Interval::FifteenDays,
        Interval::Month,
    ];

    /// The name used in parameters, storage and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "1d",
            Interval::Week => "1w",
            Interval::FifteenDays => "15d",
            Interval::Month => "1M",
        }
    }

    /// Kraken's `interval` parameter (minutes), when Kraken has this candle.
    pub fn kraken_minutes(self) -> Option<u32> {
        match self {
            Interval::Day => Some(1440),
            Interval::Week => Some(10080),
            Interval::FifteenDays => Some(21600),
            Interval::Month => None,
        }
    }

    /// When the candle opened at `open` closes (the next one opens).
    pub fn close_time(self, open: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Interval::Day => open + Duration::days(1),
            Interval::Week => open + Duration::weeks(1),
            Interval::FifteenDays => open + Duration::days(15),
            Interval::Month => {
                let (y, m) = if open.month() == 12 {
                    (open.year() + 1, 1)
                } else {
                    (open.year(), open.month() + 1)
                };
                Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
                    .single()
                    .unwrap_or(open + Duration::days(31))
            }
        }
    }

    /// Parses `15d`, `1w`, `1d`, `1M`, or Kraken's minutes (`21600`, `10080`, `1440`).
    pub fn parse(s: &str) -> Option<Interval> {
        match s.trim() {
            "1d" | "1D" | "day" | "1440" => Some(Interval::Day),
            "1w" | "1W" | "week" | "10080" => Some(Interval::Week),
            "15d" | "15D" | "21600" => Some(Interval::FifteenDays),
            "1M" | "month" => Some(Interval::Month),
            _ => None,
        }
    }
}

/// A complete candle: when it opened and its closing price in USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candle {
    /// When the candle opened.
    pub open_time: DateTime<Utc>,
    /// Its closing price in USD.
    pub close: Decimal,
}

/// A boxed future, so the trait can be used as `dyn PriceHistory`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Candles fetched for one asset.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The provider's pair name (`XBTUSD`).
    pub pair: String,
    /// Complete candles, oldest first.
    pub candles: Vec<Candle>,
}

/// A source of USD candles.
pub trait PriceHistory: Send + Sync {
    /// The name stored with each candle (`kraken`).
    fn name(&self) -> &'static str;
    /// Every complete candle of `interval` the provider gives for `asset`, oldest first.
    fn candles<'a>(
        &'a self,
        asset: &'a Asset,
        interval: Interval,
    ) -> BoxFuture<'a, Result<Fetched, ProviderError>>;
}

/// The history client of one configured provider, on the service's pooled client;
/// refuses a kind that gives no history (the config refuses it before).
pub fn client(cfg: &ProviderConfig, http: reqwest::Client) -> Result<Box<dyn PriceHistory>, UnknownProvider> {
    Ok(match cfg.kind {
        ProviderKind::Kraken => Box::new(Kraken::new(&cfg.base_url, http)),
        ProviderKind::Binance => Box::new(Binance::new(&cfg.base_url, http)),
        ProviderKind::CoinGecko => Box::new(CoinGecko::new(&cfg.base_url, http)),
        other => {
            return Err(UnknownProvider {
                name: other.to_string(),
                expected: Direction::History
                    .kinds()
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    })
}

/// Builds the configured chain, in order.
pub fn chain(
    configs: &[ProviderConfig],
    http: reqwest::Client,
) -> Result<Vec<Box<dyn PriceHistory>>, UnknownProvider> {
    configs.iter().map(|cfg| client(cfg, http.clone())).collect()
}

/// GETs `url` and returns the status and body; no answer, 429 and 5xx are
/// [`ProviderError::Unavailable`] naming `provider`, with its `Retry-After`.
pub(crate) async fn get_body(
    http: &reqwest::Client,
    provider: &str,
    url: &str,
    query: &[(&str, String)],
) -> Result<(u16, Vec<u8>), ProviderError> {
    let answer = http::get(http, url, query)
        .await
        .map_err(|e| ProviderError::Unavailable {
            reason: format!("{provider}: {}", error_chain(&e)),
            retry_after: None,
        })?;
    let status = answer.status;
    if answer.is_overloaded() {
        return Err(ProviderError::Unavailable {
            reason: format!("{provider} answered HTTP {status}"),
            retry_after: answer.retry_after,
        });
    }
    let body = answer.body().await.map_err(|e| ProviderError::Unavailable {
        reason: format!("{provider}: body cut off: {}", error_chain(&e)),
        retry_after: None,
    })?;
    Ok((status, body))
}

/// An exact, positive price from its raw JSON text (`"61234.5"` or `61234.5`).
pub(crate) fn price(raw: &RawValue) -> Result<Decimal, ProviderError> {
    let d = crate::decimal::decimal_from_json("price", raw)?;
    if d <= Decimal::ZERO {
        return Err(ProviderError::Malformed(format!("price {d} is not positive")));
    }
    Ok(d)
}
