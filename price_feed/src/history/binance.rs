//! Binance klines: `GET /api/v3/klines?symbol=BTCUSDT&interval=1w&startTime=MS&limit=1000`.
//!
//! Each kline is `[openTime, open, high, low, close, volume, closeTime, ...]`
//! (times in ms, prices as strings). At most `limit` per call, so the client
//! pages by `startTime` (the last open time + 1 ms) until a short page. Pairs
//! are against USDT (a dollar stablecoin; the answer names the pair). Binance
//! has no 15-day klines. Errors: `{"code": -1121, "msg": "Invalid symbol."}` with
//! 400; 429 (and 418 once banned) with `Retry-After`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Asset, BoxFuture, Candle, Fetched, Interval, PriceHistory, get_body, price};
use crate::ProviderError;

/// Klines per request (Binance's maximum).
const LIMIT: usize = 1000;

/// Pages fetched at most for one series (1000 × 20 days is more than any coin's life).
const MAX_PAGES: usize = 20;

/// The Binance client.
pub struct Binance {
    base_url: String,
    http: reqwest::Client,
}

impl Binance {
    /// A client for `base_url` (`https://api.binance.com`).
    pub fn new(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }
}

#[derive(Deserialize)]
struct BinanceError {
    code: i64,
    msg: String,
}

fn interval_name(i: Interval) -> Option<&'static str> {
    match i {
        Interval::Day => Some("1d"),
        Interval::Week => Some("1w"),
        Interval::Month => Some("1M"),
        Interval::FifteenDays => None,
    }
}

impl PriceHistory for Binance {
    fn name(&self) -> &'static str {
        "binance"
    }

    fn candles<'a>(
        &'a self,
        asset: &'a Asset,
        interval: Interval,
    ) -> BoxFuture<'a, Result<Fetched, ProviderError>> {
        Box::pin(async move {
            let name =
                interval_name(interval).ok_or(ProviderError::UnsupportedInterval(interval.as_str()))?;
            let url = format!("{}/api/v3/klines", self.base_url);
            let now = Utc::now();
            let mut candles = Vec::new();
            let mut start: i64 = 0;
            for _ in 0..MAX_PAGES {
                let query = [
                    ("symbol", asset.binance_pair.to_string()),
                    ("interval", name.to_string()),
                    ("startTime", start.to_string()),
                    ("limit", LIMIT.to_string()),
                ];
                let (status, body) = get_body(&self.http, "binance", &url, &query).await?;
                if status == 418 {
                    return Err(ProviderError::Unavailable {
                        reason: "binance: this address is banned for a while (418)".into(),
                        retry_after: None,
                    });
                }
                if !(200..300).contains(&status) {
                    return Err(match serde_json::from_slice::<BinanceError>(&body) {
                        Ok(e) if e.code == -1121 => ProviderError::UnknownPair(format!("binance: {}", e.msg)),
                        Ok(e) => ProviderError::Malformed(format!("binance error {}: {}", e.code, e.msg)),
                        Err(_) => ProviderError::Malformed(format!("binance answered HTTP {status}")),
                    });
                }
                let rows: Vec<Vec<Box<RawValue>>> = serde_json::from_slice(&body)
                    .map_err(|e| ProviderError::Malformed(format!("binance: {e}")))?;
                let n = rows.len();
                let mut last_open = None;
                for row in &rows {
                    let (open_ms, close_ms, c) = kline(row)?;
                    last_open = Some(open_ms);
                    // A kline still open (closeTime in the future) is the one in progress.
                    if close_ms >= now.timestamp_millis() {
                        continue;
                    }
                    let open_time = DateTime::from_timestamp_millis(open_ms)
                        .ok_or_else(|| ProviderError::Malformed(format!("binance: open time {open_ms}")))?;
                    candles.push(Candle { open_time, close: c });
                }
                match last_open {
                    Some(t) if n == LIMIT => start = t + 1,
                    _ => break,
                }
            }
            candles.sort_by_key(|c| c.open_time);
            candles.dedup_by_key(|c| c.open_time);
            Ok(Fetched {
                pair: asset.binance_pair.to_string(),
                candles,
            })
        })
    }
}

fn kline(row: &[Box<RawValue>]) -> Result<(i64, i64, rust_decimal::Decimal), ProviderError> {
    let (Some(open), Some(close), Some(close_time)) = (row.first(), row.get(4), row.get(6)) else {
        return Err(ProviderError::Malformed(format!(
            "binance: kline with {} fields",
            row.len()
        )));
    };
    let ms = |v: &RawValue| {
        serde_json::from_str::<i64>(v.get())
            .map_err(|_| ProviderError::Malformed(format!("binance: time {} is not a number", v.get())))
    };
    Ok((ms(open)?, ms(close_time)?, price(close)?))
}
