//! Group commit. Every `/add` hands its order to this instance's collector task
//! and waits on a oneshot; the collector takes the first waiting order plus
//! whatever else is queued (up to `max_batch`) and decides and writes them all in
//! one transaction. There is no timer: batches grow by themselves while the
//! previous transaction commits, so an idle service answers at once and a busy
//! one pays the hot row's lock once per batch instead of once per order.
//!
//! A failed transaction fails its whole batch (503, nothing written). If the
//! connection drops during COMMIT the outcome is unknown to us; callers get 503
//! and an idempotent retry returns the order if it did commit.

use common::Problem;
use common::health::Reporter;
use common::models::{AddedOrder, NewOrder};
use common::money::Satoshis;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
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

struct Pending {
    order: NewOrder,
    satoshis: Satoshis,
    reply: oneshot::Sender<Result<AddedOrder, AddError>>,
}

/// The handlers' side of the collector. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OrderSink {
    tx: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("satoshis", &self.satoshis)
            .finish()
    }
}

impl OrderSink {
    /// Queues an order and waits for its batch to commit. Holds nothing but
    /// its oneshot while waiting.
    pub async fn add(&self, order: NewOrder, satoshis: Satoshis) -> Result<AddedOrder, AddError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending {
                order,
                satoshis,
                reply,
            })
            .await
            .map_err(|_| AddError::Unavailable)?;
        answer.await.unwrap_or(Err(AddError::Unavailable))
    }
}

/// What the collector needs.
pub struct Collector {
    pub pool: PgPool,
    pub cap: Satoshis,
    pub max_batch: usize,
    pub metrics: BatchMetrics,
    pub reporter: Reporter,
}

impl Collector {
    /// Starts the collector task; orders go in through the returned sink.
    pub fn spawn(self) -> (OrderSink, JoinHandle<()>) {
        let max_batch = self.max_batch.max(1);
        // Room for a few batches; beyond that handlers wait to enqueue (backpressure).
        let (tx, rx) = mpsc::channel(max_batch.saturating_mul(8));
        (OrderSink { tx }, tokio::spawn(self.run(rx, max_batch)))
    }

    async fn run(self, mut rx: mpsc::Receiver<Pending>, max_batch: usize) {
        let mut buf = Vec::with_capacity(max_batch);
        let mut failing = false;
        loop {
            if rx.recv_many(&mut buf, max_batch).await == 0 {
                return;
            }
            // A caller that has gone (client disconnected, timed out) is not
            // ordered for: nobody would learn that the order exists.
            let batch: Vec<Pending> = buf.drain(..).filter(|p| !p.reply.is_closed()).collect();
            if batch.is_empty() {
                continue;
            }
            self.metrics
                .batch_size
                .observe(u32::try_from(batch.len()).map(f64::from).unwrap_or(f64::MAX));
            self.step(batch, &mut failing).await;
        }
    }

    /// Decides, writes and answers one batch. Callers hear back only after
    /// the commit; if it fails, every one of them gets 503 and nothing is stored.
    async fn step(&self, batch: Vec<Pending>, failing: &mut bool) {
        let candidates: Vec<Candidate> = batch
            .iter()
            .map(|p| Candidate {
                order: &p.order,
                satoshis: p.satoshis,
            })
            .collect();
        let result = storage::add_batch(&self.pool, self.cap, &candidates).await;
        drop(candidates);
        match result {
            Ok(decisions) => {
                if std::mem::take(failing) {
                    tracing::info!("order batches commit again");
                    self.reporter
                        .report("info", "pass", json!({ "event": "order batches commit again" }));
                }
                for (p, d) in batch.into_iter().zip(decisions) {
                    let answer = match d {
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
                    };
                    // The caller may have gone meanwhile; its order stands.
                    let _ = p.reply.send(answer);
                }
            }
            Err(e) => {
                let n = batch.len() as u64;
                self.metrics.failed.inc_by(n);
                if common::db::is_unavailable(&e) {
                    tracing::warn!(error = %e, orders = n, "order batch failed: postgres unavailable");
                } else {
                    tracing::error!(error = %e, orders = n, "order batch failed");
                }
                if !std::mem::replace(failing, true) {
                    self.reporter.report(
                        "error",
                        "fail",
                        json!({ "event": "order batch failed", "error": e.to_string() }),
                    );
                }
                for p in batch {
                    let _ = p.reply.send(Err(AddError::Unavailable));
                }
            }
        }
    }
}
