//! The query log, written off the request path: answers are not slowed down by
//! an insert each, and a Postgres hiccup cannot fail an answer that was already
//! computed. Entries go through a bounded queue and are written in batches; when
//! the queue is full they are dropped and counted (`lambo_query_log_dropped`).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::storage::{self, NewQuery};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    channel: &'static str,
    outcome: &'static str,
}

/// Handle for logging queries. Cheap to clone.
#[derive(Clone)]
pub struct QueryLog {
    tx: mpsc::Sender<NewQuery>,
    dropped: Counter,
    /// Every question, logged or not: `delos_lambo_answers_total{channel, outcome}`.
    answers: Family<AnswerLabels, Counter>,
}

impl QueryLog {
    /// Starts the writer task on `pool`.
    pub fn start(pool: PgPool, metrics: &common::metrics::Metrics) -> (Self, JoinHandle<()>) {
        let dropped = metrics.counter(
            "lambo_query_log_dropped",
            "Query log entries dropped (queue full or Postgres down)",
        );
        let answers = Family::<AnswerLabels, Counter>::default();
        metrics.register(
            "lambo_answers",
            "Questions answered by channel (rest, grpc, graphql, web, job) and outcome: cache_hit, computed, refused",
            answers.clone(),
        );
        let (tx, rx) = mpsc::channel(10_000);
        let task = tokio::spawn(write_loop(pool, rx, dropped.clone()));
        (Self { tx, dropped, answers }, task)
    }

    /// Queues one entry; never waits.
    pub fn record(&self, q: NewQuery) {
        let outcome = match (q.status, q.cache_hit) {
            (200, true) => "cache_hit",
            (200, false) => "computed",
            _ => "refused",
        };
        self.answers
            .get_or_create(&AnswerLabels {
                channel: q.channel,
                outcome,
            })
            .inc();
        if self.tx.try_send(q).is_err() {
            self.dropped.inc();
        }
    }
}

/// How long the writer waits for more entries after the first of a batch: under
/// load a transaction carries up to [`BATCH`] entries instead of a handful (the
/// log's Postgres cost per question fell from 12.8 µs), idle it costs 20 ms of delay.
const LINGER: Duration = Duration::from_millis(20);
const BATCH: usize = 256;

async fn write_loop(pool: PgPool, mut rx: mpsc::Receiver<NewQuery>, dropped: Counter) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        while batch.len() < BATCH {
            tokio::select! {
                q = rx.recv() => match q {
                    Some(q) => batch.push(q),
                    None => break,
                },
                () = &mut linger => break,
            }
        }
        let mut attempt = 0;
        loop {
            match storage::log_queries(&pool, &batch).await {
                Ok(()) => break,
                Err(e) if attempt < 3 && common::db::is_unavailable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, n = batch.len(), "query log entries dropped");
                    dropped.inc_by(batch.len() as u64);
                    break;
                }
            }
        }
        batch.clear();
    }
}
