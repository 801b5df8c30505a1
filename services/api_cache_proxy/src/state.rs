//! What the handlers share; startup builds it, routes read it.

use std::sync::atomic::{AtomicBool, Ordering};

use common::Problem;
use common::reporter::Reporter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::json;

use crate::storage::{RecordStore, StoreError};

/// What the handlers share.
pub struct State {
    pub(crate) store: RecordStore,
    reporter: Reporter,
    /// Whether the last Redis call failed, so an outage is reported once, not per request.
    redis_down: AtomicBool,
    pub(crate) stored: Counter,
    pub(crate) refused: Counter,
    /// When the newest record stored or served was fetched (Unix seconds), for the
    /// stale-price alert: create_buy_order refuses quotes older than its limit.
    pub(crate) price_fetched_at: Gauge,
}

impl State {
    /// Handler state; its metrics are registered in the service's registry.
    pub fn new(store: RecordStore, reporter: Reporter, metrics: &common::metrics::Metrics) -> Self {
        Self {
            store,
            reporter,
            redis_down: AtomicBool::new(false),
            stored: metrics.counter(
                "price_records_stored",
                "Price records stored (including TTL extensions)",
            ),
            refused: metrics.counter(
                "price_records_refused",
                "Price records refused because a newer one was stored",
            ),
            price_fetched_at: metrics.gauge(
                "price_fetched_timestamp_seconds",
                "When the newest price record stored or served was fetched, in Unix seconds",
            ),
        }
    }

    /// Notes a Redis call that worked, reporting the recovery after an outage.
    pub(crate) fn redis_ok(&self) {
        if self.redis_down.swap(false, Ordering::Relaxed) {
            tracing::info!("redis reachable again");
            self.reporter.report(
                "info",
                "pass",
                json!({ "dependency": "redis", "event": "recovered" }),
            );
        }
    }

    /// The problem for a store error; a Redis outage is reported once, not per request.
    pub(crate) fn problem(&self, error: StoreError) -> Problem {
        match error {
            StoreError::Redis(error) => {
                if !self.redis_down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "redis unavailable");
                    self.reporter.report(
                        "error",
                        "fail",
                        json!({ "dependency": "redis", "event": "unavailable", "error": error }),
                    );
                }
                Problem::unavailable("redis")
            }
            StoreError::Corrupt(error) => {
                tracing::error!(%error, "stored price record does not parse");
                Problem::internal()
            }
        }
    }
}
