//! CoinGecko market chart: `GET /api/v3/coins/{id}/market_chart?vs_currency=usd&days=365&interval=daily`.
//!
//! The answer is `{"prices": [[ms, price], ...], "market_caps": ..., "total_volumes": ...}`.
//! The free tier gives the last 365 days only, so it can never tell the listing
//! date. Daily points are taken at 00:00 UTC: the point at day D's midnight is
//! the close of day D − 1. The last point is the current price (the day in
//! progress) and is dropped. Errors: 404 `{"error": "coin not found"}`, 429 when
//! rate limited, 401/403 for ranges the free tier does not cover.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Asset, BoxFuture, Candle, Fetched, Interval, PriceHistory, get_body, price};
use crate::ProviderError;

/// The CoinGecko client.
pub struct CoinGecko {
    base_url: String,
    http: reqwest::Client,
}

impl CoinGecko {
    /// A client for `base_url` (`https://api.coingecko.com`).
    pub fn new(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }
}

#[derive(Deserialize)]
struct MarketChart {
    prices: Vec<(Box<RawValue>, Box<RawValue>)>,
}

impl PriceHistory for CoinGecko {
    fn name(&self) -> &'static str {
        "coingecko"
    }

    fn candles<'a>(
        &'a self,
        asset: &'a Asset,
        interval: Interval,
    ) -> BoxFuture<'a, Result<Fetched, ProviderError>> {
        Box::pin(async move {
            if interval != Interval::Day {
                return Err(ProviderError::UnsupportedInterval(interval.as_str()));
            }
            let url = format!(
                "{}/api/v3/coins/{}/market_chart",
                self.base_url, asset.coingecko_id
            );
            let query = [
                ("vs_currency", "usd".to_string()),
                ("days", "365".to_string()),
                ("interval", "daily".to_string()),
            ];
            let (status, body) = get_body(&self.http, "coingecko", &url, &query).await?;
            match status {
                200..=299 => {}
                404 => {
                    return Err(ProviderError::UnknownPair(format!(
                        "coingecko: no coin {}",
                        asset.coingecko_id
                    )));
                }
                other => {
                    let text = String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>();
                    return Err(ProviderError::Malformed(format!(
                        "coingecko answered HTTP {other}: {text}"
                    )));
                }
            }
            let chart: MarketChart = serde_json::from_slice(&body)
                .map_err(|e| ProviderError::Malformed(format!("coingecko: {e}")))?;
            let mut points = Vec::with_capacity(chart.prices.len());
            for (t, p) in &chart.prices {
                let ms: i64 = serde_json::from_str(t.get()).map_err(|_| {
                    ProviderError::Malformed(format!("coingecko: time {} is not an integer", t.get()))
                })?;
                let at = DateTime::<Utc>::from_timestamp_millis(ms)
                    .ok_or_else(|| ProviderError::Malformed(format!("coingecko: time {ms}")))?;
                points.push((at, price(p)?));
            }
            points.sort_by_key(|p| p.0);
            // The last point is "now", not a day's close.
            points.pop();
            let mut candles: Vec<Candle> = points
                .into_iter()
                .filter_map(|(at, close)| {
                    let midnight = at.duration_trunc(Duration::days(1)).ok()?;
                    Some(Candle {
                        open_time: midnight - Duration::days(1),
                        close,
                    })
                })
                .collect();
            candles.dedup_by_key(|c| c.open_time);
            Ok(Fetched {
                pair: format!("{}/usd", asset.coingecko_id),
                candles,
            })
        })
    }
}
