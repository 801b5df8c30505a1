//! The price an order is placed at: the latest record from api_cache_proxy,
//! reused for a short time, and never traded on once it is too old.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::Problem;
use common::internal_apis::CacheProxyClient;
use common::models::PriceRecord;
use tokio::sync::Mutex;

/// Seconds a client is told to wait when there is no usable price.
const RETRY_AFTER_SECS: u64 = 5;

/// Reads and checks prices.
pub struct Prices {
    client: CacheProxyClient,
    reuse_for: Duration,
    max_age: chrono::Duration,
    /// The last answer of api_cache_proxy, good or bad, and when it came. Held
    /// across the call so that concurrent orders wait for one call instead of
    /// each making their own; a failure is reused too, so a hanging proxy costs
    /// one timeout per `reuse_for`, not one per order.
    last: Mutex<Option<(Instant, Result<PriceRecord, Problem>)>>,
}

impl Prices {
    /// `reuse_for` zero asks api_cache_proxy for every order.
    pub fn new(client: CacheProxyClient, reuse_for: Duration, max_age_secs: u64) -> Self {
        Self {
            client,
            reuse_for,
            max_age: chrono::Duration::seconds(i64::try_from(max_age_secs).unwrap_or(i64::MAX / 1000)),
            last: Mutex::new(None),
        }
    }

    /// The record to price an order at now, or the 503 that says why there is none.
    pub async fn quote(&self) -> Result<PriceRecord, Problem> {
        let record = self.latest().await?;
        check_age(&record, Utc::now(), self.max_age)?;
        Ok(record)
    }

    async fn latest(&self) -> Result<PriceRecord, Problem> {
        let mut last = self.last.lock().await;
        if let Some((at, outcome)) = last.as_ref()
            && at.elapsed() < self.reuse_for
        {
            return outcome.clone();
        }
        let outcome = match self.client.record().await {
            Ok(Some(record)) => Ok(record),
            Ok(None) => Err(crate::problems::Code::PriceUnavailable
                .problem("no BTC price is available yet (or the last one expired); no order was placed")
                .retry_after(RETRY_AFTER_SECS)),
            Err(e) => Err(Problem::from(e)),
        };
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }
}

/// 503 `stale_price` when `record` is older than `max_age` at `now`.
pub fn check_age(record: &PriceRecord, now: DateTime<Utc>, max_age: chrono::Duration) -> Result<(), Problem> {
    let age = now - record.fetched_at;
    if age <= max_age {
        return Ok(());
    }
    Err(crate::problems::Code::StalePrice
        .problem(format!(
            "the latest BTC price is {} s old and orders need one at most {} s old; no order was placed",
            age.num_seconds(),
            max_age.num_seconds()
        ))
        .with("price_fetched_at", record.fetched_at.to_rfc3339())
        .with("price_source", record.source.clone())
        .with("max_quote_age_secs", max_age.num_seconds())
        .retry_after(RETRY_AFTER_SECS))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use common::models::Rates;

    fn record(fetched_at: DateTime<Utc>) -> PriceRecord {
        let rate = "50000".parse().unwrap();
        PriceRecord {
            rates: Rates {
                eur: rate,
                gbp: rate,
                usd: rate,
            },
            source: "kraken".into(),
            fetched_at,
            simulated: false,
        }
    }

    #[test]
    fn a_quote_is_traded_on_up_to_its_age_limit_and_not_a_second_later() {
        let now = Utc::now();
        let max = chrono::Duration::seconds(30);
        assert!(check_age(&record(now), now, max).is_ok());
        assert!(check_age(&record(now - max), now, max).is_ok());
        let stale = check_age(&record(now - max - chrono::Duration::seconds(1)), now, max).unwrap_err();
        assert_eq!((stale.status, stale.code.as_str()), (503, "stale_price"));
        assert_eq!(stale.retry_after, Some(RETRY_AFTER_SECS));
        assert_eq!(stale.extra["price_source"], "kraken");
    }
}
