//! Price-history providers behind one trait. Each client returns complete USD
//! candles only (a candle still in progress is dropped here, so it is never
//! stored or averaged). Prices are parsed from their text, never through `f64`.

mod binance;
mod coingecko;
mod kraken;

use std::future::Future;
use std::pin::Pin;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::{Asset, Candle, Interval};

pub use binance::Binance;
pub use coingecko::CoinGecko;
pub use kraken::Kraken;

/// Why a provider gave no candles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Not reachable, timed out, 5xx, or asked us to slow down; worth retrying later.
    #[error("unavailable: {reason}")]
    Unavailable {
        reason: String,
        /// Seconds the provider asked us to wait, when it said.
        retry_after: Option<u64>,
    },
    /// The provider does not know the pair.
    #[error("unknown pair {0}")]
    UnknownPair(String),
    /// The provider has no candles of this length.
    #[error("interval {0} is not offered")]
    UnsupportedInterval(&'static str),
    /// An answer that is not the documented format.
    #[error("malformed response: {0}")]
    Malformed(String),
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

/// The providers that can be configured, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Kraken public OHLC.
    Kraken,
    /// Binance klines.
    Binance,
    /// CoinGecko market chart (last 365 days, daily).
    CoinGecko,
}

/// Base URLs of the price-history APIs (tests point them at wiremock).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ProviderUrls {
    /// Kraken API root.
    pub kraken: String,
    /// Binance API root.
    pub binance: String,
    /// CoinGecko API root.
    pub coingecko: String,
}

impl Default for ProviderUrls {
    fn default() -> Self {
        Self {
            kraken: "https://api.kraken.com".into(),
            binance: "https://api.binance.com".into(),
            coingecko: "https://api.coingecko.com".into(),
        }
    }
}

/// Builds the configured chain on the service's pooled client.
pub fn chain(
    kinds: &[ProviderKind],
    urls: &ProviderUrls,
    http: reqwest::Client,
) -> Vec<Box<dyn PriceHistory>> {
    kinds
        .iter()
        .map(|k| match k {
            ProviderKind::Kraken => {
                Box::new(Kraken::new(&urls.kraken, http.clone())) as Box<dyn PriceHistory>
            }
            ProviderKind::Binance => Box::new(Binance::new(&urls.binance, http.clone())),
            ProviderKind::CoinGecko => Box::new(CoinGecko::new(&urls.coingecko, http.clone())),
        })
        .collect()
}

/// GETs `url` and returns the body, mapping transport errors, 429 and 5xx.
pub(crate) async fn get_body(
    http: &reqwest::Client,
    provider: &str,
    url: &str,
    query: &[(&str, String)],
) -> Result<(u16, Vec<u8>), ProviderError> {
    let res = http
        .get(url)
        .query(query)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| ProviderError::Unavailable {
            reason: format!("{provider}: {}", chain_text(&e)),
            retry_after: None,
        })?;
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if status == 429 || status >= 500 {
        return Err(ProviderError::Unavailable {
            reason: format!("{provider} answered HTTP {status}"),
            retry_after,
        });
    }
    let body = res.bytes().await.map_err(|e| ProviderError::Unavailable {
        reason: format!("{provider}: body cut off: {}", chain_text(&e)),
        retry_after: None,
    })?;
    Ok((status, body.to_vec()))
}

/// reqwest's message plus its causes (its own text is terse).
fn chain_text(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An exact price from its raw JSON text (`"61234.5"` or `61234.5`), read
/// without a float in between; positive only.
pub(crate) fn price(raw: &RawValue) -> Result<Decimal, ProviderError> {
    let raw = raw.get().trim();
    let text = if raw.starts_with('"') {
        serde_json::from_str::<String>(raw)
            .map_err(|e| ProviderError::Malformed(format!("price {raw}: {e}")))?
    } else if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        raw.to_string()
    } else {
        return Err(ProviderError::Malformed(format!("price {raw} is not a number")));
    };
    let d = Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| ProviderError::Malformed(format!("price {text:?} is not a number")))?;
    if d <= Decimal::ZERO {
        return Err(ProviderError::Malformed(format!("price {text} is not positive")));
    }
    Ok(d)
}
