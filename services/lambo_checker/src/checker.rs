//! Answering the question: parse it, look in the result cache, find the price
//! history (stored, refreshed from a provider, or bundled), compute, cache, log.
//! REST and gRPC both go through [`Checker::ask`], so they give the same answer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::Problem;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;

use crate::answer::{Inputs, LamboAnswer, Series};
use crate::domain::{
    self, Asset, Candle, Interval, Investment, MIN_CANDLES, Method, Since, SymbolError, WINDOW, Window,
};
use crate::providers::{PriceHistory, ProviderError};
use crate::querylog::QueryLog;
use crate::storage::{self, NewQuery, StoredSeries};

/// The question as it arrived (query string or gRPC message), unparsed.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct RawQuestion {
    /// Coin symbol: `BTC`, `eth`, `XBT`, `BTC-USD`, `XXBTZUSD`, …
    pub symbol: Option<String>,
    /// USD invested at the start: a positive decimal with at most 2 places.
    pub investment: Option<String>,
    /// Candle length: `15d` (default, Kraken `21600`), `1w`, `1d`, `1M`.
    pub interval: Option<String>,
    /// Start: `2019-01-21`, Unix seconds (default `1548111600`), or `listing`.
    pub since: Option<String>,
    /// Most points in `graph_data` (default and maximum: the service's `max_points`).
    pub max_points: Option<String>,
}

/// An answer: its JSON text (what REST sends and the cache keeps), whether it came
/// from the cache, and (when computed now) LAMBOS and the document for the results table.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: String,
    pub cache_hit: bool,
    pub computed: Option<(Decimal, Value)>,
}

impl Answer {
    /// The typed answer (parses the text, which a cache hit passes on unparsed).
    pub fn typed(&self) -> Result<LamboAnswer, Problem> {
        LamboAnswer::parse(&self.body)
    }
}

/// A parsed question.
#[derive(Debug, Clone, Copy)]
pub struct Question {
    pub asset: Asset,
    pub investment: Investment,
    pub method: Method,
    pub max_points: usize,
}

/// What the checker needs, built once at start.
pub struct Checker {
    pub pool: PgPool,
    pub redis: common::redis::Redis,
    pub providers: Vec<Box<dyn PriceHistory>>,
    pub log: QueryLog,
    /// Prefix of this service's Redis keys (`delos:lambo_checker:`).
    pub key_prefix: String,
    pub lambo_price: Decimal,
    pub lambo_currency: String,
    pub cache_ttl_secs: u64,
    /// Seconds `/api/price/current/` answers stay cached.
    pub price_cache_ttl_secs: u64,
    pub refresh: Duration,
    pub backoff: Duration,
    pub max_points: usize,
    /// (symbol, interval) → when the providers may be asked again.
    failures: Mutex<HashMap<(&'static str, Interval), Instant>>,
    /// Opening windows already read or stored: they never change, so once known
    /// they are not asked of Postgres again.
    openings: Mutex<HashMap<OpeningKey, Window>>,
}

/// (symbol, source, interval, since) of a stored opening window.
type OpeningKey = (&'static str, String, Interval, DateTime<Utc>);

/// The Lua script reading the data version and the cached answer in one round trip.
const CACHE_GET: &str = r"
local v = redis.call('GET', KEYS[1]) or '0'
return {v, redis.call('GET', ARGV[1] .. v .. ':' .. ARGV[2])}
";

impl Checker {
    /// A checker; `key_prefix` namespaces its Redis keys.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pool: PgPool,
        redis: common::redis::Redis,
        providers: Vec<Box<dyn PriceHistory>>,
        log: QueryLog,
        key_prefix: String,
        settings: &crate::config::Settings,
    ) -> Self {
        Self {
            pool,
            redis,
            providers,
            log,
            key_prefix,
            lambo_price: settings.lambo_price,
            lambo_currency: settings.lambo_currency.clone(),
            cache_ttl_secs: settings.cache_ttl_secs,
            price_cache_ttl_secs: settings.price_cache_ttl_secs,
            refresh: Duration::from_secs(settings.refresh_secs),
            backoff: Duration::from_secs(settings.provider_backoff_secs),
            max_points: settings.max_points,
            failures: Mutex::new(HashMap::new()),
            openings: Mutex::new(HashMap::new()),
        }
    }

    /// Parses, answers and logs one question. The answer is the original shape plus
    /// the additive fields, as JSON text (a cache hit is passed on as stored, unparsed).
    pub async fn ask(
        &self,
        channel: &'static str,
        client: &str,
        raw: &RawQuestion,
    ) -> Result<Answer, Problem> {
        let started = Instant::now();
        let parsed = self.parse(raw);
        let mut result = match &parsed {
            Ok(q) => self.answer(q).await,
            Err(p) => Err(p.clone()),
        };
        let (status, outcome, cache_hit, stored) = match &mut result {
            Ok(a) => {
                let stored = match (&parsed, a.computed.take()) {
                    (Ok(q), Some((lambos, value))) => Some((q.investment.value(), lambos, value)),
                    _ => None,
                };
                (200, "answered".to_string(), a.cache_hit, stored)
            }
            Err(p) => (p.status, p.code.clone(), false, None),
        };
        self.log.record(NewQuery {
            channel,
            client: client.to_string(),
            symbol_raw: raw.symbol.clone(),
            symbol: parsed.as_ref().ok().map(|q| q.asset.symbol.to_string()),
            investment: parsed
                .as_ref()
                .ok()
                .map(|q| domain::exact(q.investment.value()))
                .or_else(|| raw.investment.clone()),
            method: parsed.as_ref().ok().map(|q| method_key(&q.method)),
            status,
            outcome,
            cache_hit,
            duration_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
            result: stored,
        });
        result
    }

    /// Turns the raw parameters into a question; each bad one gets a 422 naming it.
    pub fn parse(&self, raw: &RawQuestion) -> Result<Question, Problem> {
        let asset = parse_asset(raw.symbol.as_deref())?;
        let investment = Investment::parse(raw.investment.as_deref().unwrap_or_default())
            .map_err(|m| Problem::invalid_field("investment", m))?;
        let mut method = Method::default();
        if let Some(i) = raw.interval.as_deref().filter(|s| !s.trim().is_empty()) {
            method.interval = Interval::parse(i).ok_or_else(|| {
                Problem::invalid_field(
                    "interval",
                    "must be one of 15d (21600), 1w (10080), 1d (1440), 1M",
                )
            })?;
        }
        if let Some(s) = raw.since.as_deref().filter(|s| !s.trim().is_empty()) {
            method.since = Since::parse(s).ok_or_else(|| {
                Problem::invalid_field("since", "must be a date (2019-01-21), Unix seconds, or listing")
            })?;
        }
        let max_points = match raw.max_points.as_deref() {
            None => self.max_points,
            Some(s) => s
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (2..=self.max_points).contains(n))
                .ok_or_else(|| {
                    Problem::invalid_field(
                        "max_points",
                        format!("must be an integer from 2 to {}", self.max_points),
                    )
                })?,
        };
        Ok(Question {
            asset,
            investment,
            method,
            max_points,
        })
    }

    fn cache_suffix(q: &Question) -> String {
        format!(
            "{}:{}:{}:{}",
            q.asset.symbol,
            domain::exact(q.investment.value()),
            method_key(&q.method),
            q.max_points
        )
    }

    async fn cache_get(&self, q: &Question) -> Option<(String, Option<String>)> {
        let script = redis::Script::new(CACHE_GET);
        let mut conn = self.redis.clone();
        let res: Result<Vec<Option<String>>, _> = script
            .key(self.version_key())
            .arg(format!("{}lambo:r:", self.key_prefix))
            .arg(Self::cache_suffix(q))
            .invoke_async(&mut conn)
            .await;
        match res {
            Ok(v) => {
                let mut v = v.into_iter();
                let version = v.next().flatten().unwrap_or_else(|| "0".into());
                Some((version, v.next().flatten()))
            }
            Err(e) => {
                tracing::warn!(error = %e, "result cache unavailable; answering without it");
                None
            }
        }
    }

    fn version_key(&self) -> String {
        format!("{}lambo:data_version", self.key_prefix)
    }

    /// Marks stored data changed: cached answers of the old version are never read again.
    pub async fn bump_data_version(&self) {
        let r: Result<i64, _> = redis::cmd("INCR")
            .arg(self.version_key())
            .query_async(&mut self.redis.clone())
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "cannot bump the data version; cached answers expire by TTL");
        }
    }

    /// The answer to a parsed question, from the cache when it has one.
    pub async fn answer(&self, q: &Question) -> Result<Answer, Problem> {
        if self.cache_ttl_secs == 0 {
            return self.computed(q).await;
        }
        let cached = self.cache_get(q).await;
        if let Some((_, Some(body))) = &cached {
            return Ok(Answer {
                body: body.clone(),
                cache_hit: true,
                computed: None,
            });
        }
        let answer = self.computed(q).await?;
        if let Some((version, _)) = cached {
            let key = format!("{}lambo:r:{version}:{}", self.key_prefix, Self::cache_suffix(q));
            let r: Result<(), _> = redis::cmd("SET")
                .arg(&key)
                .arg(&answer.body)
                .arg("EX")
                .arg(self.cache_ttl_secs)
                .query_async(&mut self.redis.clone())
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot cache the answer");
            }
        }
        Ok(answer)
    }

    async fn computed(&self, q: &Question) -> Result<Answer, Problem> {
        let answer = self.compute(q).await?;
        let lambos = answer.exact.lambos;
        let mut stored = serde_json::to_value(&answer).map_err(|e| {
            tracing::error!(error = %e, "an answer did not serialise");
            Problem::internal()
        })?;
        let body = stored.to_string();
        // The results table keeps the figures and the method; the chart series is
        // left out (it is the stored candles again, and most of the bytes).
        if let Some(obj) = stored.as_object_mut() {
            obj.remove("graph_data");
        }
        Ok(Answer {
            body,
            cache_hit: false,
            computed: Some((lambos, stored)),
        })
    }

    /// Finds the series for the question: stored and fresh; else refreshed from the
    /// providers; else stored but stale; else another interval stored for the coin
    /// (e.g. the bundled monthly BTC candles). The answer discloses which.
    async fn series(&self, q: &Question) -> Result<(StoredSeries, Option<String>), Problem> {
        let symbol = q.asset.symbol;
        let interval = q.method.interval;
        let stored = storage::load_series(&self.pool, symbol)
            .await
            .map_err(common::db::problem)?;
        let fresh = |s: &StoredSeries| {
            s.interval == interval
                && (s.source.starts_with("bundled")
                    || (Utc::now() - s.fetched_at)
                        .to_std()
                        .is_ok_and(|age| age < self.refresh))
        };
        if let Some(s) = stored.iter().find(|s| fresh(s)) {
            return Ok((s.clone(), None));
        }
        let mut errors = Vec::new();
        if let Some(s) = self
            .refresh_from_providers(&q.asset, interval, &mut errors)
            .await?
        {
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
                    self.bump_data_version().await;
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
            let retry = errors.iter().find_map(ProviderError::retry_after);
            let wait = retry
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
            .is_ok_and(|all| {
                all.iter().any(|s| {
                    s.interval == interval
                        && (Utc::now() - s.fetched_at)
                            .to_std()
                            .is_ok_and(|age| age < self.refresh)
                })
            });
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

    /// The opening window: remembered, else stored, else computed from `used` and stored for good.
    async fn opening(
        &self,
        symbol: &'static str,
        series: &StoredSeries,
        since: DateTime<Utc>,
        used: &[Candle],
    ) -> Result<Window, Problem> {
        let key: OpeningKey = (symbol, series.source.clone(), series.interval, since);
        let known = self
            .openings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(w) = known {
            return Ok(w);
        }
        let w = match storage::opening(&self.pool, symbol, &series.source, series.interval, since)
            .await
            .map_err(common::db::problem)?
        {
            Some(w) => w,
            None => {
                let w = domain::opening_window(used).ok_or_else(Problem::internal)?;
                storage::store_opening(&self.pool, symbol, &series.source, series.interval, since, &w)
                    .await
                    .map_err(common::db::problem)?;
                w
            }
        };
        self.openings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, w.clone());
        Ok(w)
    }

    /// Computes the answer from the history (no cache involved).
    pub async fn compute(&self, q: &Question) -> Result<LamboAnswer, Problem> {
        let (series, note) = self.series(q).await?;
        let used = domain::used_candles(&series.candles, series.interval, q.method.since);
        if used.len() < MIN_CANDLES {
            return Err(crate::problems::Code::NotEnoughHistory
                .problem(format!(
                    "{} has {} complete {} candles since {}; at least {MIN_CANDLES} are needed \
                     (two windows of {WINDOW} that do not overlap)",
                    q.asset.symbol,
                    used.len(),
                    series.interval.as_str(),
                    q.method.since.key()
                ))
                .with("candles", used.len())
                .with("needed", MIN_CANDLES));
        }
        let since = q.method.since.instant();
        let opening = self.opening(q.asset.symbol, &series, since, &used).await?;
        let current = domain::current_window(&used).ok_or_else(Problem::internal)?;
        let figures = domain::compute(q.investment.value(), opening.mean, current.mean, self.lambo_price)
            .ok_or_else(|| Problem::invalid_field("investment", "is too large to compute with"))?;
        LamboAnswer::new(&Inputs {
            symbol: q.asset.symbol,
            method: q.method,
            max_points: q.max_points,
            series: Series {
                source: &series.source,
                pair: &series.pair,
                interval: series.interval,
                all: &series.candles,
            },
            used: &used,
            opening: &opening,
            current: &current,
            figures: &figures,
            note,
            currency: &self.lambo_currency,
        })
    }
}

/// Parses a symbol parameter: 422 naming `symbol` when malformed or missing, 404
/// listing the supported coins when unknown.
pub fn parse_asset(raw: Option<&str>) -> Result<Asset, Problem> {
    match domain::parse_symbol(raw.unwrap_or_default()) {
        Ok(a) => Ok(a),
        Err(SymbolError::Invalid(msg)) => Err(Problem::invalid_field("symbol", msg)),
        Err(SymbolError::Unknown(s)) => Err(crate::problems::Code::UnknownSymbol
            .problem(format!(
                "{s:?} is not a supported coin; supported: {}",
                domain::supported_symbols().join(", ")
            ))
            .with("supported", domain::supported_symbols())),
    }
}

/// The method as one key: `15d:1548111600`.
pub fn method_key(m: &Method) -> String {
    format!("{}:{}", m.interval.as_str(), m.since.key())
}
