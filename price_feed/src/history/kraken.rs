//! Kraken public OHLC: `GET /0/public/OHLC?pair=XBTUSD&interval=21600`.
//!
//! The answer is `{"error": [...], "result": {"<pair>": [[time, open, high, low,
//! close, vwap, volume, count], ...], "last": id}}`, prices as strings. Kraken
//! gives at most the 720 most recent candles (so 15-day and weekly candles reach
//! back to the listing, daily ones two years) and, as documented, the last entry
//! is always the current frame, not yet committed: it is dropped here.
//! Errors (unknown pair, rate limits) come in a 200 body's `error` array.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Asset, BoxFuture, Candle, Fetched, Interval, PriceHistory, get_body, price};
use crate::ProviderError;

/// The Kraken client.
pub struct Kraken {
    base_url: String,
    http: reqwest::Client,
}

impl Kraken {
    /// A client for `base_url` (`https://api.kraken.com`) on the service's pooled client.
    pub fn new(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }
}

#[derive(Deserialize)]
struct OhlcResponse {
    #[serde(default)]
    error: Vec<String>,
    #[serde(default)]
    result: Option<HashMap<String, Box<RawValue>>>,
}

impl PriceHistory for Kraken {
    fn name(&self) -> &'static str {
        "kraken"
    }

    fn candles<'a>(
        &'a self,
        asset: &'a Asset,
        interval: Interval,
    ) -> BoxFuture<'a, Result<Fetched, ProviderError>> {
        Box::pin(async move {
            let minutes = interval
                .kraken_minutes()
                .ok_or(ProviderError::UnsupportedInterval(interval.as_str()))?;
            let url = format!("{}/0/public/OHLC", self.base_url);
            let query = [
                ("pair", asset.kraken_pair.to_string()),
                ("interval", minutes.to_string()),
            ];
            let (status, body) = get_body(&self.http, "kraken", &url, &query).await?;
            let parsed: OhlcResponse = serde_json::from_slice(&body)
                .map_err(|e| ProviderError::Malformed(format!("kraken (HTTP {status}): {e}")))?;
            if let Some(err) = classify(&parsed.error) {
                return Err(err);
            }
            if !(200..300).contains(&status) {
                return Err(ProviderError::Malformed(format!("kraken answered HTTP {status}")));
            }
            let result = parsed
                .result
                .ok_or_else(|| ProviderError::Malformed("kraken: no result".into()))?;
            // The pair comes back under Kraken's own name (XXBTZUSD for XBTUSD).
            let (pair, rows) = result
                .iter()
                .find(|(k, _)| k.as_str() != "last")
                .ok_or_else(|| ProviderError::Malformed("kraken: result has no pair".into()))?;
            let rows: Vec<Vec<Box<RawValue>>> = serde_json::from_str(rows.get())
                .map_err(|e| ProviderError::Malformed(format!("kraken: candles of {pair}: {e}")))?;
            let mut candles = rows
                .iter()
                .map(|row| candle(row))
                .collect::<Result<Vec<_>, _>>()?;
            candles.sort_by_key(|c| c.open_time);
            // The documented in-progress frame, and (belt and braces) anything not yet closed.
            candles.pop();
            let now = Utc::now();
            candles.retain(|c| interval.close_time(c.open_time) <= now);
            Ok(Fetched {
                pair: asset.kraken_pair.to_string(),
                candles,
            })
        })
    }
}

fn candle(row: &[Box<RawValue>]) -> Result<Candle, ProviderError> {
    let (Some(time), Some(close)) = (row.first(), row.get(4)) else {
        return Err(ProviderError::Malformed(format!(
            "kraken: candle with {} fields",
            row.len()
        )));
    };
    let secs: i64 = serde_json::from_str(time.get()).map_err(|_| {
        ProviderError::Malformed(format!("kraken: candle time {} is not a number", time.get()))
    })?;
    let open_time: DateTime<Utc> = DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| ProviderError::Malformed(format!("kraken: candle time {secs} is out of range")))?;
    Ok(Candle {
        open_time,
        close: price(close)?,
    })
}

/// Kraken's error strings, e.g. `EQuery:Unknown asset pair`, `EAPI:Rate limit exceeded`.
fn classify(errors: &[String]) -> Option<ProviderError> {
    let first = errors.first()?;
    let text = errors.join("; ");
    Some(if first.starts_with("EQuery:Unknown asset pair") {
        ProviderError::UnknownPair(text)
    } else if first.contains("Rate limit")
        || first.contains("Too many requests")
        || first.starts_with("EService:")
    {
        ProviderError::Unavailable {
            reason: format!("kraken: {text}"),
            retry_after: None,
        }
    } else {
        ProviderError::Malformed(format!("kraken: {text}"))
    })
}
