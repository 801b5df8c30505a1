//! The order feed of this replica: one long poll of db_proxy's
//! `GET /orders/after` keeps the newest orders in a ring, from which every
//! `/orders/stream` consumer of this replica reads at its own pace.
//!
//! Seqs are gapless and a stored order never changes, so "everything after
//! seq N" is exact wherever it is read from: the ring, or db_proxy for a
//! consumer resuming from before the ring. A consumer that falls out of the
//! ring while it was being served from it is too slow for the stream and is
//! told where to resume (see `routes::stream`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::internal_apis::DbProxyClient;
use tokio::sync::{Notify, watch};

/// Where a consumer at some seq stands against the ring.
#[derive(Debug)]
pub enum Read {
    /// The next orders, `(seq, JSON)`, oldest first.
    Orders(Vec<(i64, Arc<str>)>),
    /// Nothing newer yet.
    UpToDate,
    /// The orders it needs next have left the ring (or were never in it).
    Behind,
}

/// Contiguous seqs `first_seq ..= first_seq + orders.len() - 1`.
#[derive(Debug)]
struct Ring {
    first_seq: i64,
    orders: VecDeque<Arc<str>>,
    capacity: usize,
}

impl Ring {
    fn newest(&self) -> i64 {
        self.first_seq + i64::try_from(self.orders.len()).unwrap_or(i64::MAX) - 1
    }

    fn push(&mut self, first_seq: i64, orders: Vec<Arc<str>>) {
        let newest = self.newest();
        if first_seq != newest + 1 {
            // Not the continuation (db_proxy reset, or a lost answer): start over there.
            self.orders.clear();
            self.first_seq = first_seq;
        }
        self.orders.extend(orders);
        while self.orders.len() > self.capacity {
            self.orders.pop_front();
            self.first_seq += 1;
        }
    }

    fn read_after(&self, seq: i64, max: usize) -> Read {
        if seq >= self.newest() {
            return Read::UpToDate;
        }
        let Ok(skip) = usize::try_from(seq + 1 - self.first_seq) else {
            return Read::Behind;
        };
        Read::Orders(
            self.orders
                .iter()
                .skip(skip)
                .take(max)
                .zip(seq + 1..)
                .map(|(json, s)| (s, json.clone()))
                .collect(),
        )
    }
}

/// The feed shared by this replica's streams.
pub struct Feed {
    db: DbProxyClient,
    ring: Mutex<Ring>,
    /// The newest seq in the ring; `None` until the first answer of db_proxy.
    head: watch::Sender<Option<i64>>,
    wanted: Notify,
    wait_ms: u64,
}

impl Feed {
    /// A feed holding up to `ring_orders` orders; it polls db_proxy once a
    /// stream wants it, each poll waiting up to `wait_ms` for new orders.
    pub fn new(db: DbProxyClient, ring_orders: usize, wait_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            db,
            ring: Mutex::new(Ring {
                first_seq: 1,
                orders: VecDeque::new(),
                capacity: ring_orders.max(1),
            }),
            head: watch::channel(None).0,
            wanted: Notify::new(),
            wait_ms,
        })
    }

    /// The client of db_proxy (for consumers behind the ring).
    pub fn db(&self) -> &DbProxyClient {
        &self.db
    }

    /// The newest seq, waiting up to `wait` for the first answer of db_proxy;
    /// `None` if it has not answered yet (db_proxy down).
    pub async fn head(&self, wait: Duration) -> Option<i64> {
        self.wanted.notify_one();
        let mut rx = self.head.subscribe();
        let got = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        got.ok().and_then(|h| h.ok().and_then(|h| *h))
    }

    /// A receiver woken when new orders are in the ring.
    pub fn subscribe(&self) -> watch::Receiver<Option<i64>> {
        self.head.subscribe()
    }

    /// Up to `max` orders after `seq`, or where the consumer stands.
    pub fn read_after(&self, seq: i64, max: usize) -> Read {
        match self.ring.lock() {
            Ok(ring) => ring.read_after(seq, max),
            Err(_) => Read::Behind,
        }
    }

    /// Adds orders from `first_seq` on to the ring and wakes the streams;
    /// returns the newest seq.
    pub(crate) fn push(&self, first_seq: i64, orders: Vec<Arc<str>>) -> i64 {
        let newest = match self.ring.lock() {
            Ok(mut ring) => {
                ring.push(first_seq, orders);
                ring.newest()
            }
            Err(_) => first_seq - 1,
        };
        self.head.send_replace(Some(newest));
        newest
    }

    /// Follows db_proxy for good, from the first time a stream wants it.
    pub async fn run(self: Arc<Self>) {
        self.wanted.notified().await;
        let mut last: Option<i64> = None;
        let mut backoff = Duration::from_millis(100);
        loop {
            let wait = if last.is_some() { self.wait_ms } else { 0 };
            match self.db.orders_after(last, 1000, wait).await {
                Ok(got) => {
                    backoff = Duration::from_millis(100);
                    let Some(after) = last else {
                        // The start: the ring begins after the newest order.
                        last = Some(self.push(got.head + 1, Vec::new()));
                        continue;
                    };
                    if got.orders.is_empty() {
                        if got.head < after {
                            tracing::warn!(head = got.head, after, "db_proxy has fewer orders than streamed");
                        }
                        continue;
                    }
                    let orders = got.orders.into_iter().map(|o| Arc::from(o.get())).collect();
                    last = Some(self.push(got.first_seq, orders));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "order feed: db_proxy unavailable; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(capacity: usize) -> Ring {
        Ring {
            first_seq: 1,
            orders: VecDeque::new(),
            capacity,
        }
    }

    fn seqs(read: Read) -> Vec<i64> {
        match read {
            Read::Orders(o) => o.into_iter().map(|(s, _)| s).collect(),
            other => panic!("expected orders, got {other:?}"),
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_contiguous_seqs() {
        let mut r = ring(3);
        r.push(11, Vec::new());
        assert!(matches!(r.read_after(10, 10), Read::UpToDate));
        r.push(11, vec!["a".into(), "b".into()]);
        assert_eq!(seqs(r.read_after(10, 10)), vec![11, 12]);
        r.push(13, vec!["c".into(), "d".into()]);
        assert_eq!(seqs(r.read_after(11, 10)), vec![12, 13, 14]);
        assert_eq!(seqs(r.read_after(12, 1)), vec![13]);
        assert!(matches!(r.read_after(10, 10), Read::Behind));
        assert!(matches!(r.read_after(14, 10), Read::UpToDate));
        assert!(matches!(r.read_after(99, 10), Read::UpToDate));
        // A jump starts the ring over where db_proxy is.
        r.push(40, vec!["x".into()]);
        assert_eq!(seqs(r.read_after(39, 10)), vec![40]);
        assert!(matches!(r.read_after(14, 10), Read::Behind));
    }
}
