//! `GET /orders/stream`: every stored order as a Server-Sent Event, `id:` its
//! seq, resumable exactly with `Last-Event-ID` (or `?after_seq=`).

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use common::Problem;
use common::live::{EventSender, Gone};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;

use crate::feed::{Feed, Read};

/// How streams behave (from the settings) and their metrics.
pub struct Streams {
    pub feed: Arc<Feed>,
    /// Events waiting for one consumer, at most.
    pub buffer_events: usize,
    /// A comment this often on an idle stream.
    pub heartbeat: Duration,
    /// A consumer that leaves no room for this long is dropped.
    pub send_timeout: Duration,
    pub open: Gauge,
    pub events: Counter,
    pub overflows: Counter,
}

impl Streams {
    /// Registers the stream metrics.
    pub fn register(
        metrics: &common::metrics::Metrics,
        feed: Arc<Feed>,
        settings: &crate::config::StreamSettings,
    ) -> Self {
        Self {
            feed,
            buffer_events: settings.buffer_events,
            heartbeat: Duration::from_secs(settings.heartbeat_secs.max(1)),
            send_timeout: Duration::from_secs(settings.send_timeout_secs.max(1)),
            open: metrics.gauge("order_streams_open", "Open /orders/stream connections"),
            events: metrics.counter("order_stream_events", "Orders sent on /orders/stream"),
            overflows: metrics.counter(
                "order_stream_overflows",
                "Stream consumers closed because they fell behind the replica's ring",
            ),
        }
    }
}

/// Query of `GET /orders/stream`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// Resume after this seq (as `Last-Event-ID`, which wins when both are given).
    after_seq: Option<String>,
}

/// Orders read from db_proxy per call by a consumer behind the ring.
const CATCH_UP: u32 = 500;
/// Orders taken from the ring per turn.
const TURN: usize = 256;

/// Every stored order, oldest first, as it is stored: `id:` is its seq and
/// `data:` the order as `/get_orders` shows it. Without `Last-Event-ID` or
/// `after_seq` the stream starts at "now". Heartbeat comments (`: heartbeat`)
/// every 15 s. A consumer that falls too far behind gets
/// `event: overflow` with `{"resume_after_seq": N}` and is closed; resuming
/// after N misses nothing.
#[utoipa::path(get, tag = "orders", path = "/orders/stream", params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this seq")),
    responses((status = 200, content_type = "text/event-stream", description = "the stream"),
              (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn orders_stream(
    req: HttpRequest,
    streams: web::Data<Streams>,
    q: web::Query<StreamQuery>,
) -> Result<HttpResponse, Problem> {
    let resume = common::live::resume_point(
        &req,
        q.after_seq.as_deref(),
        "after_seq",
        "the seq of an order (a non-negative integer)",
        |v| v.parse::<i64>().ok().filter(|s| *s >= 0),
    )?;
    let head = streams
        .feed
        .head(Duration::from_secs(3))
        .await
        .ok_or_else(|| Problem::unavailable("db_proxy"))?;
    let (tx, response) = common::live::event_stream(streams.buffer_events, streams.send_timeout);
    let streams = streams.into_inner();
    actix_web::rt::spawn(async move {
        streams.open.inc();
        let _ = serve(&streams, &tx, resume.unwrap_or(head)).await;
        streams.open.dec();
    });
    Ok(response)
}

/// Sends every order after `cursor` until the consumer leaves or is too slow.
async fn serve(s: &Streams, tx: &EventSender, mut cursor: i64) -> Result<(), Gone> {
    let mut newer = s.feed.subscribe();
    tx.comment(&format!("orders after seq {cursor}")).await?;
    // Served from the ring at least once: falling out of it now means too slow.
    let mut live = false;
    loop {
        newer.mark_unchanged();
        match s.feed.read_after(cursor, TURN) {
            Read::Orders(orders) => {
                live = true;
                for (seq, json) in orders {
                    tx.event(Some(&seq.to_string()), None, &json).await?;
                    s.events.inc();
                    cursor = seq;
                }
            }
            Read::Behind if live => {
                s.overflows.inc();
                let data = serde_json::json!({
                    "resume_after_seq": cursor,
                    "reason": "this consumer fell too far behind the newest orders; reconnect with Last-Event-ID",
                });
                tx.event(Some(&cursor.to_string()), Some("overflow"), &data.to_string())
                    .await?;
                return Ok(());
            }
            Read::Behind => match s.feed.db().orders_after(Some(cursor), CATCH_UP, 0).await {
                Ok(got) => {
                    for (seq, json) in (got.first_seq..).zip(&got.orders) {
                        tx.event(Some(&seq.to_string()), None, json.get()).await?;
                        s.events.inc();
                        cursor = seq;
                    }
                    if got.orders.is_empty() {
                        // db_proxy has nothing newer than the ring yet: wait like an idle stream.
                        tx.idle(&mut newer, s.heartbeat).await?;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "order stream catching up: db_proxy unavailable");
                    tx.idle(&mut newer, s.heartbeat).await?;
                }
            },
            Read::UpToDate => tx.idle(&mut newer, s.heartbeat).await?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::internal_apis::DbProxyClient;
    use common::service_client::ServiceClient;

    fn streams(ring: usize) -> Streams {
        let db = DbProxyClient(ServiceClient::new(
            "db_proxy",
            "http://127.0.0.1:9",
            common::service_client::http_client(Duration::from_millis(100)),
            common::config::Secret::new(""),
        ));
        let settings = crate::config::StreamSettings {
            ring_orders: ring,
            ..Default::default()
        };
        Streams::register(
            &common::metrics::Metrics::new("test"),
            Feed::new(db, ring, 10),
            &settings,
        )
    }

    fn orders(from: i64, to: i64) -> Vec<Arc<str>> {
        (from..=to)
            .map(|s| Arc::from(format!("{{\"seq\":{s}}}")))
            .collect()
    }

    #[tokio::test]
    async fn a_consumer_that_falls_out_of_the_ring_is_told_where_to_resume() {
        let s = Arc::new(streams(4));
        s.feed.push(1, orders(1, 4));
        let (tx, mut rx) = EventSender::channel(2, Duration::from_secs(30));
        let producer = tokio::spawn({
            let s = s.clone();
            async move { serve(&s, &tx, 0).await }
        });
        // The opening comment and seq 1 fill the buffer; the producer waits with 2..4 taken.
        while rx.len() < 2 {
            tokio::task::yield_now().await;
        }
        // Meanwhile the ring moves on by far more than it holds.
        s.feed.push(5, orders(5, 40));
        let mut got = String::new();
        while let Some(chunk) = rx.recv().await {
            got.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        assert!(producer.await.unwrap().is_ok(), "the producer ends by itself");
        let ids: Vec<&str> = got.lines().filter_map(|l| l.strip_prefix("id: ")).collect();
        assert_eq!(ids, vec!["1", "2", "3", "4", "4"], "{got}");
        assert!(got.contains("event: overflow\ndata: {\"reason\""), "{got}");
        assert!(got.contains("\"resume_after_seq\":4"), "{got}");
        assert_eq!(s.overflows.get(), 1);
    }

    #[tokio::test]
    async fn a_consumer_that_stops_reading_is_dropped_after_the_send_timeout() {
        let s = streams(64);
        s.feed.push(1, orders(1, 10));
        let (tx, _rx) = EventSender::channel(2, Duration::from_millis(50));
        assert_eq!(serve(&s, &tx, 0).await, Err(Gone));
    }
}
