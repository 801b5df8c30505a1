//! Answering the question, split by concern: [`question`] parses it, [`cache`]
//! keeps answers in Redis, [`history`] finds the candles (stored, refreshed from a
//! provider, or bundled), [`openings`] keeps the opening windows; this module puts
//! them together, computes the answer exactly and logs every question. REST, gRPC,
//! GraphQL, the page and the jobs all go through [`Checker::ask`] (or
//! [`Checker::answer`]), so they give the same answer.

mod cache;
mod history;
mod openings;
mod question;

use std::time::{Duration, Instant};

use common::Problem;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;

use crate::answer::{Inputs, LamboAnswer, Series};
use crate::domain::{self, MIN_CANDLES, WINDOW};
use crate::providers::PriceHistory;
use crate::querylog::QueryLog;
use crate::storage::NewQuery;

pub use cache::Cache;
pub use history::History;
pub use openings::Openings;
pub use question::{Question, RawQuestion, method_key, parse_asset};

/// What the checker is told by the service's settings.
#[derive(Debug, Clone)]
pub struct CheckerSettings {
    /// Price of one Lamborghini, in `lambo_currency`.
    pub lambo_price: Decimal,
    pub lambo_currency: String,
    /// Seconds an answer stays cached; 0 turns the answer cache off.
    pub cache_ttl_secs: u64,
    /// How long this process keeps an answer it saw (in front of Redis, at most
    /// `cache_ttl_secs`) and the stored history it read.
    pub local_cache: Duration,
    /// Seconds `/api/price/current/` documents stay cached; 0 turns that off.
    pub price_cache_ttl_secs: u64,
    /// A stored series older than this is refreshed from its provider before use.
    pub refresh: Duration,
    /// After the providers fail for a series, they are left alone this long.
    pub backoff: Duration,
    /// Largest `max_points` a caller may ask for (and the default).
    pub max_points: usize,
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

/// What the checker needs, built once at start.
pub struct Checker {
    pub pool: PgPool,
    pub cache: Cache,
    pub history: History,
    openings: Openings,
    log: QueryLog,
    pub settings: CheckerSettings,
}

impl Checker {
    /// A checker; `key_prefix` namespaces its Redis keys.
    pub fn new(
        pool: PgPool,
        redis: common::redis::Redis,
        providers: Vec<Box<dyn PriceHistory>>,
        log: QueryLog,
        key_prefix: String,
        settings: CheckerSettings,
    ) -> Self {
        let answers = settings
            .local_cache
            .min(Duration::from_secs(settings.cache_ttl_secs));
        let cache = Cache::new(redis, key_prefix, answers);
        Self {
            history: History::new(
                pool.clone(),
                providers,
                cache.clone(),
                settings.refresh,
                settings.backoff,
                settings.local_cache,
            ),
            openings: Openings::new(pool.clone()),
            pool,
            cache,
            log,
            settings,
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
        Question::parse(raw, self.settings.max_points)
    }

    /// The answer to a parsed question, from the cache when it has one.
    pub async fn answer(&self, q: &Question) -> Result<Answer, Problem> {
        let ttl = self.settings.cache_ttl_secs;
        if ttl == 0 {
            return self.computed(q).await;
        }
        let key = q.cache_key();
        let cached = self.cache.answer(&key).await;
        if let Some(body) = cached.as_ref().and_then(|c| c.body.clone()) {
            return Ok(Answer {
                body,
                cache_hit: true,
                computed: None,
            });
        }
        let answer = self.computed(q).await?;
        if let Some(c) = cached {
            self.cache.put_answer(&c.version, &key, &answer.body, ttl).await;
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

    /// Computes the answer from the history (no cache involved).
    pub async fn compute(&self, q: &Question) -> Result<LamboAnswer, Problem> {
        let (series, note) = self.history.series(&q.asset, q.method.interval).await?;
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
        let opening = self
            .openings
            .window(q.asset.symbol, &series, since, &used)
            .await?;
        let current = domain::current_window(&used).ok_or_else(Problem::internal)?;
        let figures = domain::compute(
            q.investment.value(),
            opening.mean,
            current.mean,
            self.settings.lambo_price,
        )
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
            currency: &self.settings.lambo_currency,
        })
    }
}
