//! Where an answer's candles come from: stored and fresh; else refreshed from the
//! providers (with a backoff per coin and interval after they fail, honouring the
//! `Retry-After` they send); else stored but stale; else another interval stored
//! for the coin (e.g. the bundled monthly BTC candles). The answer discloses which.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::Problem;
use sqlx::PgPool;

use super::Cache;
use crate::domain::{self, Asset, Interval, Method};
use crate::providers::{PriceHistory, ProviderError};
use crate::storage::{self, StoredSeries};

/// The price history of every coin: stored series and the providers that refresh them.
pub struct History {
    pool: PgPool,
    providers: Vec<Box<dyn PriceHistory>>,
    /// Told when new candles are stored, so cached answers of older data are not read.
    cache: Cache,
    /// A stored series older than this is refreshed before use.
    refresh: Duration,
    /// How long the providers are left alone after they failed (unless they said).
    backoff: Duration,
    /// (symbol, interval) → when the providers may be asked again.
    failures: Mutex<HashMap<(&'static str, Interval), Instant>>,
    /// The stored series of a symbol as last read, kept `remember` long: an
    /// uncached answer then reads no history (half of its Postgres time).
    remember: Duration,
    loaded: Mutex<HashMap<&'static str, (Instant, Vec<StoredSeries>)>>,
}

impl History {
    pub fn new(
        pool: PgPool,
        providers: Vec<Box<dyn PriceHistory>>,
        cache: Cache,
        refresh: Duration,
        backoff: Duration,
        remember: Duration,
    ) -> Self {
        Self {
            pool,
            providers,
            cache,
            refresh,
            backoff,
            failures: Mutex::new(HashMap::new()),
            remember,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The stored series of `symbol`, from memory when read lately. Another
    /// process's refresh reaches it within `remember`; this one's at once.
    async fn stored(&self, symbol: &'static str) -> Result<Vec<StoredSeries>, sqlx::Error> {
        let lock = || {
            self.loaded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((at, series)) = lock().get(symbol)
            && at.elapsed() < self.remember
        {
            return Ok(series.clone());
        }
        let series = storage::load_series(&self.pool, symbol).await?;
        if !self.remember.is_zero() {
            lock().insert(symbol, (Instant::now(), series.clone()));
        }
        Ok(series)
    }

    fn forget(&self, symbol: &'static str) {
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(symbol);
    }

    /// The configured providers' names, in the order they are asked.
    pub fn provider_names(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    fn is_fresh(&self, s: &StoredSeries) -> bool {
        (Utc::now() - s.fetched_at)
            .to_std()
            .is_ok_and(|age| age < self.refresh)
    }

    /// The series to answer `interval` questions about `asset` with, and a note when
    /// it is not the fresh series asked for.
    pub async fn series(
        &self,
        asset: &Asset,
        interval: Interval,
    ) -> Result<(StoredSeries, Option<String>), Problem> {
        let symbol = asset.symbol;
        let stored = self.stored(symbol).await.map_err(common::db::problem)?;
        let fresh = |s: &StoredSeries| {
            s.interval == interval && (s.source.starts_with("bundled") || self.is_fresh(s))
        };
        if let Some(s) = stored.iter().find(|s| fresh(s)) {
            return Ok((s.clone(), None));
        }
        let mut errors = Vec::new();
        if let Some(s) = self.refresh_from_providers(asset, interval, &mut errors).await? {
            return Ok((s, None));
        }
        let why = if self.providers.is_empty() {
            "no provider is configured".to_string()
        } else if errors.is_empty() {
            let left = self.backoff_left(symbol, interval).unwrap_or(0);
            format!("the providers failed recently; they are asked again in {left} s")
        } else {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        if let Some(s) = stored.iter().find(|s| s.interval == interval) {
            let note = format!("stored candles used: refreshing them failed ({why})");
            return Ok((s.clone(), Some(note)));
        }
        if let Some(s) = stored.first() {
            let note = format!(
                "no {} candles available ({why}); answered from the stored {} candles of {}",
                interval.as_str(),
                s.interval.as_str(),
                s.source
            );
            return Ok((s.clone(), Some(note)));
        }
        if !errors.is_empty() && errors.iter().all(|e| matches!(e, ProviderError::UnknownPair(_))) {
            return Err(
                Problem::not_found(format!("no provider lists {symbol}: {why}")).with("symbol", symbol)
            );
        }
        let retry = errors
            .iter()
            .filter_map(ProviderError::retry_after)
            .max()
            .or_else(|| self.backoff_left(symbol, interval))
            .unwrap_or(30);
        Err(crate::problems::Code::HistoryUnavailable
            .problem(format!(
                "no price history of {symbol} is stored and no provider answered: {why}"
            ))
            .with("dependency", "price providers")
            .retry_after(retry.max(1)))
    }

    fn backoff_left(&self, symbol: &'static str, interval: Interval) -> Option<u64> {
        let map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&(symbol, interval))
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .map(|d| d.as_secs().max(1))
    }

    async fn refresh_from_providers(
        &self,
        asset: &Asset,
        interval: Interval,
        errors: &mut Vec<ProviderError>,
    ) -> Result<Option<StoredSeries>, Problem> {
        if self.providers.is_empty() || self.backoff_left(asset.symbol, interval).is_some() {
            return Ok(None);
        }
        for p in &self.providers {
            match p.candles(asset, interval).await {
                Ok(f) if f.candles.is_empty() => {
                    errors.push(ProviderError::Malformed(format!(
                        "{} sent no complete candles",
                        p.name()
                    )));
                }
                Ok(f) => {
                    storage::store_candles(&self.pool, asset.symbol, p.name(), &f.pair, interval, &f.candles)
                        .await
                        .map_err(common::db::problem)?;
                    self.forget(asset.symbol);
                    self.cache.bump_data_version().await;
                    let series = storage::load_series(&self.pool, asset.symbol)
                        .await
                        .map_err(common::db::problem)?
                        .into_iter()
                        .find(|s| s.source == p.name() && s.interval == interval);
                    return Ok(series);
                }
                Err(ProviderError::UnsupportedInterval(_)) => {}
                Err(e) => {
                    tracing::warn!(provider = p.name(), symbol = asset.symbol, error = %e, "provider failed");
                    errors.push(e);
                }
            }
        }
        if !errors.is_empty() {
            let wait = errors
                .iter()
                .find_map(ProviderError::retry_after)
                .map(Duration::from_secs)
                .unwrap_or(self.backoff)
                .max(Duration::from_secs(1));
            let mut map = self
                .failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.insert((asset.symbol, interval), Instant::now() + wait);
        }
        Ok(None)
    }

    /// Asks the providers for the default BTC series once, off the request path, so
    /// the first question after start neither waits for them nor (with no network)
    /// for their failure: the backoff is then already in place.
    pub async fn warm_up(&self) {
        let asset = domain::ASSETS[0];
        let interval = Method::default().interval;
        let fresh = storage::load_series(&self.pool, asset.symbol)
            .await
            .is_ok_and(|all| all.iter().any(|s| s.interval == interval && self.is_fresh(s)));
        if fresh {
            return;
        }
        let mut errors = Vec::new();
        match self.refresh_from_providers(&asset, interval, &mut errors).await {
            Ok(Some(s)) => {
                tracing::info!(source = %s.source, candles = s.candles.len(), "BTC history refreshed")
            }
            Ok(None) => {
                tracing::info!(errors = ?errors, "no provider answered; BTC answers from stored or bundled data")
            }
            Err(p) => tracing::warn!(problem = %p, "warm-up could not store the history"),
        }
    }
}
