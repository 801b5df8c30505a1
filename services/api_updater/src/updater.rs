//! The refresh loop's body: fetch through the provider chain, validate, store in the
//! cache proxy; when everything fails, count, report, and keep the last good record
//! visible for a bounded time.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use common::internal_apis::CacheProxyClient;
use common::models::PriceRecord;
use common::reporter::Reporter;
use common::service_client::{CallError, ServiceClient};
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;
use serde_json::json;

use crate::config::Settings;
use crate::providers::{Provider, ProviderConfig, Validator, fetch_first_valid};

/// Name of the cache proxy in errors and reports.
const CACHE_PROXY: &str = "api_cache_proxy";
/// Problem code with which the cache proxy refuses a record older than the stored one.
const STALE_RECORD: &str = "stale_record";

/// One source's failure in a tick: a provider by name, or `api_cache_proxy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Failure {
    /// `coinbase`, `kraken`, ..., or `api_cache_proxy`.
    pub source: String,
    /// What went wrong, in words.
    pub error: String,
}

/// The last good record, re-stored with the long TTL during an outage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Extension {
    /// The record's own fetch time (unchanged, so consumers see its true age).
    pub fetched_at: DateTime<Utc>,
    /// Provider of the record.
    pub source: String,
    /// The long TTL it was given.
    pub ttl_secs: u64,
    /// When it was re-stored.
    pub at: DateTime<Utc>,
}

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TickOutcome {
    /// A fresh record was validated and stored.
    Stored {
        /// The record stored.
        record: PriceRecord,
        /// Its TTL in the cache.
        ttl_secs: u64,
        /// Providers tried before the one that answered, and why they failed.
        skipped: Vec<Failure>,
    },
    /// A fresh record was validated, but the cache already holds a newer one
    /// (another updater was faster); nothing to do.
    Superseded {
        /// The record fetched (not stored).
        record: PriceRecord,
    },
    /// No fresh record was stored.
    Failed {
        /// Failed ticks in a row, this one included.
        consecutive_failures: u32,
        /// Every provider's error, then the cache proxy's if it failed.
        errors: Vec<Failure>,
        /// Set on the tick that re-stored the last good record with the long TTL.
        extended: Option<Extension>,
    },
}

impl TickOutcome {
    /// True when prices were fetched and are (or a newer record is) in the cache.
    pub fn is_success(&self) -> bool {
        !matches!(self, TickOutcome::Failed { .. })
    }
}

/// A source's most recent error and when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LastError {
    /// What went wrong, in words.
    pub error: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One entry of the configured chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChainEntry {
    /// `coinbase`, `kraken`, `coingecko`, `coindesk` or `simulated`.
    pub kind: String,
    /// API root called (empty for `simulated`).
    pub base_url: String,
}

/// What `GET /status` shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UpdaterStatus {
    /// Providers in the order they are tried.
    pub chain: Vec<ChainEntry>,
    /// Seconds between ticks.
    pub refresh_secs: u64,
    /// TTL of a fresh record.
    pub record_ttl_secs: u64,
    /// Consecutive failures before the last good record is extended.
    pub failures_before_extend: u32,
    /// TTL of an extended record.
    pub extend_secs: u64,
    /// When the last tick ended.
    pub last_tick_at: Option<DateTime<Utc>>,
    /// When a fresh record last reached the cache.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last validated record (also when it could not be stored).
    pub last_record: Option<PriceRecord>,
    /// Failed ticks since the last success.
    pub consecutive_failures: u32,
    /// The most recent error of each source that ever failed.
    pub last_errors: BTreeMap<String, LastError>,
    /// The extension of the current outage, if one was made.
    pub extended: Option<Extension>,
    /// `stored`, `superseded` or `failed`.
    pub last_outcome: Option<String>,
}

#[derive(Debug, Default)]
struct Progress {
    last_good: Option<PriceRecord>,
    last_tick_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    consecutive_failures: u32,
    last_errors: BTreeMap<String, LastError>,
    extended: Option<Extension>,
    last_outcome: Option<&'static str>,
}

/// Counters in the service's `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct UpdaterMetrics {
    /// Fresh records stored.
    pub stored: Counter,
    /// Ticks without a fresh record stored.
    pub failed: Counter,
    /// Last good records kept alive.
    pub extended: Counter,
}

/// Fetches, validates and stores BTC prices; one [`tick`](Updater::tick) per refresh.
pub struct Updater {
    chain: Vec<Provider>,
    chain_config: Vec<ProviderConfig>,
    validator: Validator,
    cache: CacheProxyClient,
    reporter: Reporter,
    metrics: UpdaterMetrics,
    refresh_secs: u64,
    record_ttl_secs: u64,
    failures_before_extend: u32,
    extend_secs: u64,
    /// Serialises ticks (the loop and `POST /refresh`), held across network calls.
    tick_lock: tokio::sync::Mutex<()>,
    /// Held only to read or update, so `/status` never waits for a tick.
    progress: Mutex<Progress>,
    /// A loop's tick is the root of a trace (a `POST /refresh` tick is that request's).
    tracer: common::telemetry::Tracer,
}

impl Updater {
    /// An updater over `settings`' chain; `http` is the service's pooled client.
    pub fn new(
        settings: &Settings,
        http: reqwest::Client,
        reporter: Reporter,
        metrics: UpdaterMetrics,
    ) -> Self {
        let chain = settings
            .providers
            .iter()
            .cloned()
            .map(|cfg| Provider::new(cfg, http.clone()))
            .collect();
        let cache = CacheProxyClient(ServiceClient::new(
            CACHE_PROXY,
            &settings.cache_proxy_url,
            http,
            settings.common.service_token.clone(),
        ));
        Self {
            chain,
            chain_config: settings.providers.clone(),
            validator: Validator::default(),
            cache,
            reporter,
            metrics,
            refresh_secs: settings.refresh_secs,
            record_ttl_secs: settings.record_ttl(),
            failures_before_extend: settings.failures_before_extend,
            extend_secs: settings.extend_secs,
            tick_lock: tokio::sync::Mutex::new(()),
            progress: Mutex::new(Progress::default()),
            tracer: common::telemetry::Tracer::default(),
        }
    }

    /// Exports each loop tick as a span through `tracer`.
    pub fn with_tracer(mut self, tracer: common::telemetry::Tracer) -> Self {
        self.tracer = tracer;
        self
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        // Progress is plain data, valid even if a panic interrupted an update.
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One refresh: the whole loop body. Never fails; the outcome says what happened.
    pub async fn tick(&self) -> TickOutcome {
        common::telemetry::in_new_trace(&self.tracer, "refresh price", self.refresh()).await
    }

    #[tracing::instrument(skip_all)]
    async fn refresh(&self) -> TickOutcome {
        let _one_at_a_time = self.tick_lock.lock().await;
        let last_good = self.last_good().await;
        let mut errors = Vec::new();
        let mut fresh = None;
        // One provider at a time, so the errors of those skipped are kept on success too.
        for i in 0..self.chain.len() {
            match fetch_first_valid(&self.chain[i..=i], &self.validator, last_good.as_ref()).await {
                Ok(record) => {
                    fresh = Some(record);
                    break;
                }
                Err(failed) => errors.extend(failed.into_iter().map(|(kind, e)| Failure {
                    source: kind.to_string(),
                    error: e.to_string(),
                })),
            }
        }
        let outcome = match fresh {
            Some(record) => self.store(record, errors).await,
            None => self.all_providers_failed(errors, last_good).await,
        };
        self.progress().last_outcome = Some(match outcome {
            TickOutcome::Stored { .. } => "stored",
            TickOutcome::Superseded { .. } => "superseded",
            TickOutcome::Failed { .. } => "failed",
        });
        outcome
    }

    /// The last good record; after a restart, the one in the cache (for the jump
    /// check and so an outage right after a restart can still be bridged).
    async fn last_good(&self) -> Option<PriceRecord> {
        if let Some(record) = self.progress().last_good.clone() {
            return Some(record);
        }
        match self.cache.record().await {
            Ok(Some(record)) => {
                tracing::info!(source = %record.source, fetched_at = %record.fetched_at, "last good record read from the cache");
                Some(self.progress().last_good.get_or_insert(record).clone())
            }
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(error = %e, "no last good record from the cache");
                None
            }
        }
    }

    async fn store(&self, record: PriceRecord, skipped: Vec<Failure>) -> TickOutcome {
        let now = Utc::now();
        let superseded = match self.cache.add(&record, self.record_ttl_secs).await {
            Ok(()) => false,
            Err(e) if is_stale(&e) => true,
            Err(e) => {
                tracing::warn!(error = %e, "cannot store the price record");
                self.progress().last_good = Some(record);
                let mut errors = skipped;
                errors.push(Failure {
                    source: CACHE_PROXY.into(),
                    error: e.to_string(),
                });
                return self.fail(errors, None, now);
            }
        };
        let recovered_after = {
            let mut p = self.progress();
            p.last_tick_at = Some(now);
            p.last_success_at = Some(now);
            p.last_good = Some(record.clone());
            p.extended = None;
            note_errors(&mut p, &skipped, now);
            std::mem::take(&mut p.consecutive_failures)
        };
        self.metrics.stored.inc();
        if recovered_after > 0 {
            tracing::info!(failures = recovered_after, source = %record.source, "price updates recovered");
            self.reporter.report(
                "info",
                "pass",
                json!({ "event": "recovered", "after_failures": recovered_after, "source": record.source }),
            );
        }
        if superseded {
            TickOutcome::Superseded { record }
        } else {
            TickOutcome::Stored {
                record,
                ttl_secs: self.record_ttl_secs,
                skipped,
            }
        }
    }

    async fn all_providers_failed(
        &self,
        mut errors: Vec<Failure>,
        last_good: Option<PriceRecord>,
    ) -> TickOutcome {
        let now = Utc::now();
        let (failures, already_extended) = {
            let p = self.progress();
            (p.consecutive_failures + 1, p.extended.is_some())
        };
        let mut extended = None;
        // Once per outage: the record stays visible for `extend_secs`, then expires,
        // so a long outage ends in 503s rather than in an ever older price.
        let due = failures >= self.failures_before_extend && !already_extended;
        if let Some(last) = last_good.filter(|_| due) {
            match self.cache.add(&last, self.extend_secs).await {
                Ok(()) => {
                    self.metrics.extended.inc();
                    tracing::warn!(fetched_at = %last.fetched_at, ttl_secs = self.extend_secs, "last good price record kept alive");
                    extended = Some(Extension {
                        fetched_at: last.fetched_at,
                        source: last.source,
                        ttl_secs: self.extend_secs,
                        at: now,
                    });
                }
                // A newer record is there (another updater): nothing to keep alive.
                Err(e) if is_stale(&e) => {}
                Err(e) => errors.push(Failure {
                    source: CACHE_PROXY.into(),
                    error: e.to_string(),
                }),
            }
        }
        self.fail(errors, extended, now)
    }

    fn fail(&self, errors: Vec<Failure>, extended: Option<Extension>, now: DateTime<Utc>) -> TickOutcome {
        let consecutive_failures = {
            let mut p = self.progress();
            p.last_tick_at = Some(now);
            p.consecutive_failures += 1;
            if extended.is_some() {
                p.extended.clone_from(&extended);
            }
            note_errors(&mut p, &errors, now);
            p.consecutive_failures
        };
        self.metrics.failed.inc();
        tracing::warn!(consecutive_failures, "no fresh price record this tick");
        self.reporter.report(
            "error",
            "fail",
            json!({
                "event": "price_update_failed",
                "consecutive_failures": consecutive_failures,
                "errors": errors,
                "extended": extended,
            }),
        );
        TickOutcome::Failed {
            consecutive_failures,
            errors,
            extended,
        }
    }

    /// A snapshot for `GET /status`.
    pub fn status(&self) -> UpdaterStatus {
        let p = self.progress();
        UpdaterStatus {
            chain: self
                .chain_config
                .iter()
                .map(|cfg| ChainEntry {
                    kind: cfg.kind.to_string(),
                    base_url: cfg.base_url.clone(),
                })
                .collect(),
            refresh_secs: self.refresh_secs,
            record_ttl_secs: self.record_ttl_secs,
            failures_before_extend: self.failures_before_extend,
            extend_secs: self.extend_secs,
            last_tick_at: p.last_tick_at,
            last_success_at: p.last_success_at,
            last_record: p.last_good.clone(),
            consecutive_failures: p.consecutive_failures,
            last_errors: p.last_errors.clone(),
            extended: p.extended.clone(),
            last_outcome: p.last_outcome.map(str::to_string),
        }
    }
}

fn note_errors(p: &mut Progress, errors: &[Failure], at: DateTime<Utc>) {
    for f in errors {
        p.last_errors.insert(
            f.source.clone(),
            LastError {
                error: f.error.clone(),
                at,
            },
        );
    }
}

fn is_stale(e: &CallError) -> bool {
    matches!(e, CallError::Refused { problem, .. } if problem.code == STALE_RECORD)
}
