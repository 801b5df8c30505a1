//! What the handlers share; startup builds it, routes read it.

use std::sync::atomic::{AtomicBool, Ordering};

use common::Problem;
use common::reporter::Reporter;
use prometheus_client::metrics::counter::Counter;
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
}

impl State {
    /// Handler state; the counters are registered in the service's metrics.
    pub fn new(store: RecordStore, reporter: Reporter, stored: Counter, refused: Counter) -> Self {
        Self {
            store,
            reporter,
            redis_down: AtomicBool::new(false),
            stored,
            refused,
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
