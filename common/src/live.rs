//! Live data: the newest committed seq of a table (announced with Postgres
//! `NOTIFY`, with a poll as fallback) and Server-Sent Events responses with a
//! bounded buffer per consumer.
//!
//! A notification only says "rows up to seq N exist"; readers then read by seq.
//! So a lost notification (the listener reconnecting, a replica that missed it)
//! costs latency until the next poll, never a row.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Bytes;
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::PgSettings;

/// The highest seq known to be committed; only ever rises.
#[derive(Debug)]
pub struct Head(watch::Sender<i64>);

impl Default for Head {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl Head {
    /// The highest seq known.
    pub fn get(&self) -> i64 {
        *self.0.borrow()
    }

    /// Records that every seq up to `seq` is committed.
    pub fn raise(&self, seq: i64) {
        self.0.send_if_modified(|head| {
            let higher = seq > *head;
            if higher {
                *head = seq;
            }
            higher
        });
    }

    /// A receiver woken by every rise.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.0.subscribe()
    }
}

/// Announces, inside the committing transaction, that seqs up to `seq` exist:
/// Postgres delivers it at commit, so a listener never hears of rows it cannot read.
pub fn notify_sql() -> &'static str {
    "select pg_notify($1, $2::text)"
}

/// Keeps `head` at the newest committed seq: a `LISTEN` on `channel` (on a
/// connection of its own) and `read_head` every `poll` and after each
/// (re)connection of the listener. Returns the two tasks.
pub fn follow<F, Fut>(
    settings: &PgSettings,
    pool: PgPool,
    channel: &'static str,
    poll: Duration,
    head: Arc<Head>,
    read_head: F,
) -> anyhow::Result<[JoinHandle<()>; 2]>
where
    F: Fn(PgPool) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<i64, sqlx::Error>> + Send,
{
    // One connection for the listener alone, never recycled: LISTEN lives on it.
    let listen_pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(crate::db::connect_options(settings)?);
    let listening = {
        let (pool, head, read_head) = (pool.clone(), head.clone(), read_head.clone());
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                if let Err(e) = listen(&listen_pool, channel, &pool, &head, &read_head).await {
                    tracing::debug!(error = %e, channel, "listener lost; reconnecting");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        })
    };
    let polling = tokio::spawn(async move {
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Ok(seq) = read_head(pool.clone()).await {
                head.raise(seq);
            }
        }
    });
    Ok([listening, polling])
}

async fn listen<F, Fut>(
    listen_pool: &PgPool,
    channel: &str,
    pool: &PgPool,
    head: &Head,
    read_head: &F,
) -> Result<(), sqlx::Error>
where
    F: Fn(PgPool) -> Fut,
    Fut: Future<Output = Result<i64, sqlx::Error>>,
{
    let mut listener = PgListener::connect_with(listen_pool).await?;
    listener.listen(channel).await?;
    // Rows committed before the LISTEN took effect were announced to nobody.
    head.raise(read_head(pool.clone()).await?);
    loop {
        match listener.try_recv().await? {
            Some(n) => match n.payload().parse::<i64>() {
                Ok(seq) => head.raise(seq),
                Err(_) => tracing::warn!(channel, payload = n.payload(), "notification is not a seq"),
            },
            // Reconnected: whatever was announced meanwhile is lost, so ask.
            None => head.raise(read_head(pool.clone()).await?),
        }
    }
}

/// The `Last-Event-ID` a reconnecting `EventSource` sends, if any.
pub fn last_event_id(req: &actix_web::HttpRequest) -> Option<&str> {
    req.headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Where a reconnecting consumer resumes: `Last-Event-ID` (which wins) or the
/// query parameter `field`, read by `parse`; a value it refuses is a 422 naming
/// where it came from and what was `expected`.
pub fn resume_point<T>(
    req: &actix_web::HttpRequest,
    query: Option<&str>,
    field: &str,
    expected: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, crate::Problem> {
    let (field, value) = match last_event_id(req) {
        Some(id) => ("Last-Event-ID", id),
        None => match query {
            Some(v) => (field, v),
            None => return Ok(None),
        },
    };
    parse(value)
        .map(Some)
        .ok_or_else(|| crate::Problem::invalid_field(field, format!("must be {expected}")))
}

/// The consumer went away, or did not read for the send timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stream's consumer is gone or stopped reading")]
pub struct Gone;

/// The producing side of one `text/event-stream` response.
///
/// At most `buffer` events wait for the consumer; a producer that would wait
/// longer than the send timeout for room gives up ([`Gone`]), so a consumer
/// that stopped reading holds a bounded buffer and is closed.
pub struct EventSender {
    tx: mpsc::Sender<Bytes>,
    send_timeout: Duration,
}

/// Starts a Server-Sent Events response: the events sent through the returned
/// sender, in order. Headers keep proxies from buffering or caching it.
pub fn event_stream(buffer: usize, send_timeout: Duration) -> (EventSender, HttpResponse) {
    let (tx, rx) = EventSender::channel(buffer, send_timeout);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, actix_web::Error>(b), rx))
    });
    let response = HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache, no-transform"))
        // nginx: pass each event on at once.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body);
    (tx, response)
}

impl EventSender {
    /// A sender and the receiving end of its events (what [`event_stream`]
    /// makes the response body of; tests read it directly).
    pub fn channel(buffer: usize, send_timeout: Duration) -> (Self, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel::<Bytes>(buffer.max(1));
        (Self { tx, send_timeout }, rx)
    }

    /// Sends one event: `id:`, optional `event:` and the data (one `data:` line
    /// per line of it).
    pub async fn event(&self, id: Option<&str>, event: Option<&str>, data: &str) -> Result<(), Gone> {
        self.send(format_event(id, event, data)).await
    }

    /// Sends a comment line (`: text`), which keeps idle connections open
    /// through proxies and lets the producer notice a consumer that left.
    pub async fn comment(&self, text: &str) -> Result<(), Gone> {
        self.send(format!(": {text}\n\n")).await
    }

    /// Waits until the consumer has gone.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Waits for `newer` to change, sending a `: heartbeat` comment every
    /// `heartbeat` meanwhile; [`Gone`] when the consumer leaves.
    pub async fn idle<T>(&self, newer: &mut watch::Receiver<T>, heartbeat: Duration) -> Result<(), Gone> {
        tokio::select! {
            changed = newer.changed() => changed.map_err(|_| Gone),
            () = tokio::time::sleep(heartbeat) => self.comment("heartbeat").await,
            () = self.tx.closed() => Err(Gone),
        }
    }

    async fn send(&self, text: String) -> Result<(), Gone> {
        match tokio::time::timeout(self.send_timeout, self.tx.send(Bytes::from(text))).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Gone),
        }
    }
}

/// One event in the `text/event-stream` format.
pub fn format_event(id: Option<&str>, event: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    if let Some(event) = event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_follow_the_text_event_stream_format() {
        assert_eq!(
            format_event(Some("7"), None, r#"{"a":1}"#),
            "id: 7\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(
            format_event(None, Some("overflow"), "a\nb"),
            "event: overflow\ndata: a\ndata: b\n\n"
        );
    }

    #[test]
    fn the_head_only_rises() {
        let head = Head::default();
        let mut rx = head.subscribe();
        head.raise(5);
        head.raise(3);
        assert_eq!(head.get(), 5);
        assert!(rx.has_changed().unwrap_or(false));
        rx.mark_unchanged();
        head.raise(5);
        assert!(!rx.has_changed().unwrap_or(true));
    }
}
