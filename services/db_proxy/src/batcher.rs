//! Group commit ([`common::group_commit`]). Every `/add` hands its order to this
//! instance's collector task, which decides and writes a whole queue of orders
//! in one transaction, so a busy instance pays the hot row's lock once per batch
//! instead of once per order.
//!
//! A failed transaction fails its whole batch (503, nothing written). If the
//! connection drops during COMMIT the outcome is unknown to us; callers get 503
//! and an idempotent retry returns the order if it did commit.

use common::Problem;
use common::group_commit::{Committer, GroupCommit};
use common::models::{AddedOrder, NewOrder};
use common::money::Satoshis;
use common::reporter::Reporter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use serde_json::json;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::domain::{Candidate, Decision};
use crate::storage;

/// Why an order was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    #[error("the order would take the total over the cap")]
    CapExceeded {
        cap: Satoshis,
        remaining: Satoshis,
        requested: Satoshis,
    },
    #[error("the idempotency key was used for a different request")]
    KeyReused,
    #[error("postgres is unavailable")]
    Unavailable,
}

impl From<AddError> for Problem {
    fn from(err: AddError) -> Problem {
        use actix_web::http::StatusCode;
        match err {
            AddError::CapExceeded {
                cap,
                remaining,
                requested,
            } => Problem::new(
                StatusCode::CONFLICT,
                "btc_cap_exceeded",
                format!(
                    "the order needs {requested} BTC but only {remaining} BTC of the {cap} BTC cap is left"
                ),
            )
            .with("remaining_btc", remaining.to_string())
            .with("requested_btc", requested.to_string())
            .with("cap_btc", cap.to_string()),
            AddError::KeyReused => Problem::idempotency_key_reused(),
            AddError::Unavailable => Problem::unavailable("postgres"),
        }
    }
}

/// Counters of the collector, exported on `/metrics`.
#[derive(Clone, Debug)]
pub struct BatchMetrics {
    pub accepted: Counter,
    pub refused: Counter,
    pub replayed: Counter,
    pub key_reused: Counter,
    pub failed: Counter,
    pub batch_size: Histogram,
}

impl BatchMetrics {
    /// Creates the metrics and registers them with the service's registry.
    pub fn register(metrics: &common::metrics::Metrics) -> Self {
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        metrics.register(
            "order_batch_size",
            "Orders per group-commit transaction",
            batch_size.clone(),
        );
        Self {
            accepted: metrics.counter("orders_accepted", "Orders stored"),
            refused: metrics.counter("orders_refused", "Orders refused by the bitcoin cap"),
            replayed: metrics.counter(
                "orders_replayed",
                "Idempotent retries answered with the stored order",
            ),
            key_reused: metrics.counter(
                "orders_key_reused",
                "Orders refused because their idempotency key was used for another request",
            ),
            failed: metrics.counter(
                "orders_failed",
                "Orders answered 503 because their batch transaction failed",
            ),
            batch_size,
        }
    }
}

/// The handlers' side of the collector. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OrderSink {
    group: GroupCommit<(NewOrder, Satoshis), Result<AddedOrder, AddError>>,
}

impl OrderSink {
    /// Queues an order and waits for its batch to commit.
    pub async fn add(&self, order: NewOrder, satoshis: Satoshis) -> Result<AddedOrder, AddError> {
        self.group
            .submit((order, satoshis))
            .await
            .unwrap_or(Err(AddError::Unavailable))
    }
}

/// What the collector needs.
pub struct Collector {
    pub pool: PgPool,
    /// Raised after each commit, so this replica's streams need not wait for the notification.
    pub head: std::sync::Arc<common::live::Head>,
    pub cap: Satoshis,
    pub max_batch: usize,
    pub metrics: BatchMetrics,
    pub reporter: Reporter,
}

impl Collector {
    /// Starts the collector task; orders go in through the returned sink.
    pub fn spawn(self) -> (OrderSink, JoinHandle<()>) {
        let max_batch = self.max_batch;
        let (group, task) = GroupCommit::spawn(
            Committing {
                collector: self,
                failing: false,
            },
            max_batch,
        );
        (OrderSink { group }, task)
    }

    fn answer(&self, decision: Decision) -> Result<AddedOrder, AddError> {
        match decision {
            Decision::Accepted(order) => {
                self.metrics.accepted.inc();
                Ok(AddedOrder {
                    order,
                    replayed: false,
                })
            }
            Decision::Replayed(order) => {
                self.metrics.replayed.inc();
                Ok(AddedOrder {
                    order,
                    replayed: true,
                })
            }
            Decision::KeyReused => {
                self.metrics.key_reused.inc();
                Err(AddError::KeyReused)
            }
            Decision::CapExceeded { remaining, requested } => {
                self.metrics.refused.inc();
                Err(AddError::CapExceeded {
                    cap: self.cap,
                    remaining,
                    requested,
                })
            }
        }
    }
}

/// The collector at work: `failing` remembers a failed batch, so an outage
/// and its end are reported once each.
struct Committing {
    collector: Collector,
    failing: bool,
}

impl Committer for Committing {
    type Item = (NewOrder, Satoshis);
    type Answer = Result<AddedOrder, AddError>;

    /// Decides and writes one batch. If the transaction fails, every order of
    /// it gets 503 and nothing is stored.
    async fn commit(&mut self, batch: Vec<(NewOrder, Satoshis)>) -> Vec<Self::Answer> {
        let c = &self.collector;
        c.metrics
            .batch_size
            .observe(u32::try_from(batch.len()).map(f64::from).unwrap_or(f64::MAX));
        let candidates: Vec<Candidate> = batch
            .iter()
            .map(|(order, satoshis)| Candidate {
                order,
                satoshis: *satoshis,
            })
            .collect();
        match storage::add_batch(&c.pool, c.cap, &candidates).await {
            Ok(decisions) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!("order batches commit again");
                    c.reporter
                        .report("info", "pass", json!({ "event": "order batches commit again" }));
                }
                if let Some(seq) = decisions
                    .iter()
                    .filter_map(|d| match d {
                        Decision::Accepted(order) => Some(order.seq),
                        _ => None,
                    })
                    .max()
                {
                    c.head.raise(seq);
                }
                decisions.into_iter().map(|d| c.answer(d)).collect()
            }
            Err(e) => {
                let n = batch.len() as u64;
                c.metrics.failed.inc_by(n);
                if common::db::is_unavailable(&e) {
                    tracing::warn!(error = %e, orders = n, "order batch failed: postgres unavailable");
                } else {
                    tracing::error!(error = %e, orders = n, "order batch failed");
                }
                if !std::mem::replace(&mut self.failing, true) {
                    c.reporter.report(
                        "error",
                        "fail",
                        json!({ "event": "order batch failed", "error": e.to_string() }),
                    );
                }
                batch.iter().map(|_| Err(AddError::Unavailable)).collect()
            }
        }
    }
}
