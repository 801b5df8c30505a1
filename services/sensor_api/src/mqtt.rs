//! MQTT ingest: readings published to a broker, stored by the same parser and
//! loader as `POST /api/v1/readings` (each message becomes one NDJSON row).
//!
//! Topics: `delos/sensors/<device>/<parameter>` with `{"timestamp", "value", "type"}`,
//! and `delos/sensors/ingest` with one NDJSON row naming its device and parameter.
//! Subscriptions are QoS 1 in a persistent session (clean session off, a stable
//! client id), and acknowledgements are manual: a message is acknowledged only
//! after the transaction holding its reading has committed, so a process killed
//! at any point loses nothing (the broker sends the unacknowledged messages again,
//! and a reading stored twice is a duplicate of the primary key, skipped). A bad
//! message is counted, published with its reason to `delos/sensors/rejected`, and
//! acknowledged. Messages are committed in batches (`batch_max` messages or
//! `batch_wait_millis` after the first, whichever comes first).
//!
//! Two tasks: the connection task polls the client's event loop (which must never
//! wait on us, or keep-alives and acknowledgements stall) and hands messages over an
//! unbounded channel (bounded in practice by the broker's in-flight window, since
//! nothing is acknowledged before it is stored); the batch task parses, stores,
//! reports and acknowledges.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS, SubscribeFilter};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use crate::config::Broker;
use crate::config::MqttSettings;
use crate::ingest::{self, Format, IngestOptions};

/// Readings of one device and parameter: `delos/sensors/<device>/<parameter>`.
pub const READINGS_FILTER: &str = "delos/sensors/+/+";
/// One NDJSON row per message, naming its device and parameter.
pub const INGEST_TOPIC: &str = "delos/sensors/ingest";
/// Where bad messages are published with their reason.
pub const REJECTED_TOPIC: &str = "delos/sensors/rejected";
const TOPIC_PREFIX: &str = "delos/sensors/";

/// Largest MQTT packet read. A larger one would break the connection, and the
/// broker would send it again forever; the brokers configured here refuse
/// publishes over 1 MiB (`max_packet_size`), so none arrives.
const MAX_INCOMING_PACKET: usize = 2 * 1024 * 1024;
/// Bytes of a bad payload quoted in its rejection report.
const QUOTED_PAYLOAD_CHARS: usize = 1000;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Batches in their transaction at once. A batch's time is mostly waiting (round trips,
/// the commit's flush), so while one commits the next is parsed and loaded; the primary
/// key makes their order irrelevant, and MQTT lets acknowledgements come in any order.
const PARALLEL_BATCHES: usize = 4;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// What the MQTT ingest has done since start, for `/status`, `/metrics` and `/readyz`.
pub struct Status {
    broker: String,
    connected: AtomicBool,
    /// Why the connection is down (or was last lost).
    last_error: Mutex<Option<String>>,
    /// Bumped whenever the connection is lost: a message is acknowledged only on the
    /// connection it came on (after a reconnection the broker sends it again).
    generation: AtomicU64,
    received: AtomicU64,
    stored: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    messages: Family<OutcomeLabels, Counter>,
    connected_gauge: Gauge,
    connections: Counter,
}

/// `/status`'s `mqtt` object.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub broker: String,
    pub connected: bool,
    pub last_error: Option<String>,
    pub received: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

impl Status {
    fn new(broker: String, metrics: &common::metrics::Metrics) -> Self {
        let messages = Family::<OutcomeLabels, Counter>::default();
        metrics.register(
            "sensor_mqtt_messages",
            "MQTT messages handled, by outcome: stored, duplicate (already stored), rejected (published to delos/sensors/rejected)",
            messages.clone(),
        );
        let connections = Counter::default();
        metrics.register(
            "sensor_mqtt_connections",
            "Connections made to the MQTT broker (the first, then each reconnection)",
            connections.clone(),
        );
        Self {
            broker,
            connected: AtomicBool::new(false),
            last_error: Mutex::new(Some("not connected yet".into())),
            generation: AtomicU64::new(0),
            received: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            messages,
            connected_gauge: metrics.gauge(
                "sensor_mqtt_connected",
                "1 while subscribed at the MQTT broker, 0 while (re)connecting",
            ),
            connections,
        }
    }

    fn set_connected(&self) {
        self.connected.store(true, Ordering::SeqCst);
        self.connected_gauge.set(1);
        self.connections.inc();
        if let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
    }

    /// Not subscribed; `lost`: the connection is gone (its messages will come again).
    fn set_down(&self, why: String, lost: bool) {
        if lost {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        self.connected.store(false, Ordering::SeqCst);
        self.connected_gauge.set(0);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(why);
        }
    }

    fn count(&self, outcome: &'static str, n: u64) {
        let total = match outcome {
            "stored" => &self.stored,
            "duplicate" => &self.duplicates,
            _ => &self.rejected,
        };
        total.fetch_add(n, Ordering::Relaxed);
        self.messages.get_or_create(&OutcomeLabels { outcome }).inc_by(n);
    }

    /// The readiness check: subscribed at the broker, or why not.
    pub fn check(&self) -> Result<(), String> {
        if self.connected.load(Ordering::SeqCst) {
            return Ok(());
        }
        let why = self
            .last_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_default();
        Err(format!("not subscribed at {} ({why}); reconnecting", self.broker))
    }

    /// What `/status` shows.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            broker: self.broker.clone(),
            connected: self.connected.load(Ordering::SeqCst),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
            received: self.received.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }
}

/// The MQTT ingest of one instance, ready to run.
pub struct Ingest {
    pub status: Arc<Status>,
    client: AsyncClient,
    eventloop: EventLoop,
    pool: PgPool,
    batch_max: usize,
    batch_wait: Duration,
    max_backoff: Duration,
}

impl Ingest {
    /// The MQTT ingest, when a broker is configured. Connects only once [`Ingest::spawn`]ed.
    pub fn new(
        settings: &MqttSettings,
        pool: PgPool,
        metrics: &common::metrics::Metrics,
    ) -> anyhow::Result<Option<Self>> {
        if settings.broker_url.is_empty() {
            return Ok(None);
        }
        let broker = Broker::parse(&settings.broker_url)?;
        let mut opts = MqttOptions::new(settings.client_id.clone(), broker.host.clone(), broker.port);
        opts.set_clean_session(false)
            .set_manual_acks(true)
            .set_keep_alive(Duration::from_secs(settings.keep_alive_secs))
            .set_max_packet_size(MAX_INCOMING_PACKET, MAX_INCOMING_PACKET);
        if let Some((user, password)) = &broker.login {
            opts.set_credentials(user.clone(), password.clone());
        }
        tracing::info!(broker = %broker.display(), client_id = %settings.client_id, "MQTT ingest on");
        // Room for a whole batch's acknowledgements and rejection reports.
        let (client, eventloop) = AsyncClient::new(opts, 2 * settings.batch_max + 16);
        Ok(Some(Self {
            status: Arc::new(Status::new(broker.display(), metrics)),
            client,
            eventloop,
            pool,
            batch_max: settings.batch_max,
            batch_wait: Duration::from_millis(settings.batch_wait_millis),
            max_backoff: Duration::from_millis(settings.reconnect_max_millis.max(100)),
        }))
    }

    /// Starts the connection and batch tasks (tied to the service's life by the caller).
    pub fn spawn(self) -> Vec<JoinHandle<()>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let connection = tokio::spawn(connection(
            self.eventloop,
            self.client.clone(),
            tx,
            self.status.clone(),
            self.max_backoff,
        ));
        let batches = tokio::spawn(batches(
            rx,
            self.client,
            self.pool,
            self.status,
            self.batch_max,
            self.batch_wait,
        ));
        vec![connection, batches]
    }
}

/// A message and the connection it came on.
struct Received {
    publish: Publish,
    generation: u64,
}

/// Drives the connection: (re)connects with backoff, subscribes, hands messages on.
async fn connection(
    mut eventloop: EventLoop,
    client: AsyncClient,
    tx: mpsc::UnboundedSender<Received>,
    status: Arc<Status>,
    max_backoff: Duration,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(broker = %status.broker, session_present = ack.session_present, "connected to the MQTT broker");
                backoff = FIRST_BACKOFF;
                // Every time: a broker that lost the session lost its subscriptions.
                // In a task of its own, because this one must keep polling.
                let client = client.clone();
                tokio::spawn(async move {
                    let filters = [READINGS_FILTER, INGEST_TOPIC]
                        .map(|f| SubscribeFilter::new(f.to_string(), QoS::AtLeastOnce));
                    if let Err(e) = client.subscribe_many(filters).await {
                        tracing::warn!(error = %e, "MQTT subscribe request failed");
                    }
                });
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack
                    .return_codes
                    .iter()
                    .all(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_)))
                {
                    status.set_connected();
                } else {
                    tracing::error!(?ack, "the MQTT broker refused a subscription");
                    status.set_down("the broker refused the subscription".into(), false);
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                status.received.fetch_add(1, Ordering::Relaxed);
                let generation = status.generation.load(Ordering::SeqCst);
                if tx.send(Received { publish, generation }).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                let why = e.to_string();
                if status.connected.load(Ordering::SeqCst) {
                    tracing::warn!(broker = %status.broker, error = %why, "lost the MQTT broker; reconnecting");
                } else {
                    tracing::debug!(broker = %status.broker, error = %why, ?backoff, "MQTT broker not reachable");
                }
                status.set_down(why, true);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max_backoff);
            }
        }
    }
}

/// Collects messages into batches; up to [`PARALLEL_BATCHES`] are stored, reported and
/// acknowledged at once.
async fn batches(
    mut rx: mpsc::UnboundedReceiver<Received>,
    client: AsyncClient,
    pool: PgPool,
    status: Arc<Status>,
    batch_max: usize,
    wait: Duration,
) {
    // Owned here, so that aborting this task (the service stopping) aborts them too.
    let mut running = tokio::task::JoinSet::new();
    while let Some(first) = rx.recv().await {
        let mut batch: Vec<Received> = Vec::with_capacity(batch_max);
        batch.push(first);
        let deadline = tokio::time::Instant::now() + wait;
        while batch.len() < batch_max {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(next)) => batch.push(next),
                Ok(None) | Err(_) => break,
            }
        }
        while running.try_join_next().is_some() {}
        if running.len() >= PARALLEL_BATCHES {
            running.join_next().await;
        }
        running.spawn(batch_done(batch, client.clone(), pool.clone(), status.clone()));
    }
}

/// Stores one batch, reports its bad messages, then acknowledges every message.
async fn batch_done(batch: Vec<Received>, client: AsyncClient, pool: PgPool, status: Arc<Status>) {
    let outcome = store(&pool, &batch).await;
    status.count("stored", outcome.stored);
    status.count("duplicate", outcome.duplicates);
    status.count("rejected", outcome.rejected.len() as u64);
    for (i, reason) in &outcome.rejected {
        let publish = &batch[*i].publish;
        tracing::debug!(topic = %publish.topic, %reason, "MQTT message rejected");
        let report = rejection_report(publish, reason);
        if let Err(e) = client
            .publish(REJECTED_TOPIC, QoS::AtLeastOnce, false, report)
            .await
        {
            tracing::warn!(error = %e, "could not queue a rejection report");
        }
    }
    let current = status.generation.load(Ordering::SeqCst);
    for received in batch {
        // One that came on a lost connection will come again: acknowledge that one.
        if received.generation == current
            && let Err(e) = client.ack(&received.publish).await
        {
            tracing::warn!(error = %e, "could not queue an MQTT acknowledgement");
        }
    }
}

/// What became of one batch: counts, and the rejected messages with their reason.
#[derive(Debug, Default)]
struct Outcome {
    stored: u64,
    duplicates: u64,
    rejected: Vec<(usize, String)>,
}

/// Stores a batch in one transaction, retrying (with backoff) while Postgres fails:
/// nothing is acknowledged before it is stored.
async fn store(pool: &PgPool, batch: &[Received]) -> Outcome {
    let mut outcome = Outcome::default();
    // NDJSON line n (1-based) is message lines[n - 1].
    let mut lines: Vec<usize> = Vec::with_capacity(batch.len());
    let mut ndjson = Vec::with_capacity(batch.len() * 128);
    for (i, r) in batch.iter().enumerate() {
        match ndjson_row(&r.publish.topic, &r.publish.payload) {
            Ok(row) => {
                ndjson.extend_from_slice(&row);
                ndjson.push(b'\n');
                lines.push(i);
            }
            Err(reason) => outcome.rejected.push((i, reason)),
        }
    }
    if lines.is_empty() {
        return outcome;
    }
    let mut backoff = FIRST_BACKOFF;
    let summary = loop {
        let opts = IngestOptions {
            format: Format::Ndjson,
            device: None,
            strict: false,
            // A message cannot say which offset it means: a timestamp without one is
            // refused with its reason, as in an upload that names none.
            assume_offset: None,
        };
        match ingest::run(pool, std::io::Cursor::new(ndjson.clone()), opts).await {
            Ok(summary) => break summary,
            Err(e) => {
                tracing::warn!(error = %e, ?backoff, "storing MQTT readings failed; retrying (nothing acknowledged)");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    outcome.stored = summary.stored;
    outcome.duplicates = summary.duplicates;
    for rejection in summary.errors {
        let message = rejection
            .position
            .strip_prefix("line ")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| lines.get(n.wrapping_sub(1)))
            .copied();
        match message {
            Some(i) => outcome.rejected.push((i, rejection.reason)),
            // Cannot happen (every row is one line); counted rather than lost.
            None => tracing::error!(?rejection, "an MQTT rejection without its message"),
        }
    }
    outcome.rejected.sort_by_key(|(i, _)| *i);
    outcome
}

/// The NDJSON row of a message, or why it has none.
fn ndjson_row(topic: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    let mut row = if topic == INGEST_TOPIC {
        if payload.iter().all(u8::is_ascii_whitespace) {
            return Err("the payload is empty".into());
        }
        payload.to_vec()
    } else {
        let Some((device, parameter)) = topic
            .strip_prefix(TOPIC_PREFIX)
            .and_then(|rest| rest.split_once('/'))
            .filter(|(_, p)| !p.contains('/'))
        else {
            return Err(format!(
                "topic {topic:?} is neither {INGEST_TOPIC} nor delos/sensors/<device>/<parameter>"
            ));
        };
        reading_row(device, parameter, payload)?
    };
    // One message, one line: a line break in valid JSON is only whitespace between
    // tokens, so it can become a space (inside a string it is invalid either way).
    for b in &mut row {
        if *b == b'\n' || *b == b'\r' {
            *b = b' ';
        }
    }
    Ok(row)
}

/// `{"timestamp", "value", "type"}` of `<device>/<parameter>` as an NDJSON row
/// naming them; the fields are copied as written, for the parser to judge.
fn reading_row(device: &str, parameter: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(payload).map_err(|_| "the payload is not UTF-8".to_string())?;
    let fields: std::collections::BTreeMap<String, serde::de::IgnoredAny> = serde_json::from_str(text)
        .map_err(|e| {
            format!("the payload must be a JSON object {{\"timestamp\", \"value\", \"type\"}} ({e})")
        })?;
    if fields.contains_key("device") || fields.contains_key("parameter") {
        return Err(format!(
            "device and parameter come from the topic; send rows naming them to {INGEST_TOPIC}"
        ));
    }
    let names = json!({ "device": device, "parameter": parameter }).to_string();
    // `{"device":…,"parameter":…}` and the payload's members after its `{`.
    let inner = text.trim().strip_prefix('{').unwrap_or_default().trim_start();
    let mut row = names.into_bytes();
    if inner != "}" {
        row.pop();
        row.push(b',');
        row.extend_from_slice(inner.as_bytes());
    }
    Ok(row)
}

/// The JSON published to `delos/sensors/rejected` for a bad message.
fn rejection_report(publish: &Publish, reason: &str) -> Vec<u8> {
    let payload = String::from_utf8_lossy(&publish.payload);
    let quoted: String = payload.chars().take(QUOTED_PAYLOAD_CHARS).collect();
    json!({
        "topic": publish.topic,
        "reason": reason,
        "payload": quoted,
        "payload_truncated": quoted.len() < payload.len(),
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(topic: &str, payload: &str) -> Result<String, String> {
        ndjson_row(topic, payload.as_bytes()).map(|r| String::from_utf8(r).unwrap())
    }

    #[test]
    fn a_reading_topic_names_device_and_parameter_and_keeps_the_fields_as_written() {
        assert_eq!(
            row(
                "delos/sensors/dev-1/temp",
                "{\"timestamp\": \"2026-01-01T00:00:00+02:00\",\n \"value\": 21.50, \"type\": \"numeric\"}"
            )
            .unwrap(),
            "{\"device\":\"dev-1\",\"parameter\":\"temp\",\"timestamp\": \"2026-01-01T00:00:00+02:00\",  \"value\": 21.50, \"type\": \"numeric\"}"
        );
        assert_eq!(
            row("delos/sensors/d/p", " {} ").unwrap(),
            "{\"device\":\"d\",\"parameter\":\"p\"}"
        );
    }

    #[test]
    fn payloads_that_are_no_reading_object_are_refused_with_a_reason() {
        for (topic, payload, reason) in [
            ("delos/sensors/d/p", "[1]", "must be a JSON object"),
            ("delos/sensors/d/p", "21.5", "must be a JSON object"),
            ("delos/sensors/d/p", "{\"device\":\"x\"}", "come from the topic"),
            ("delos/sensors/ingest", "  \n", "the payload is empty"),
        ] {
            let err = row(topic, payload).unwrap_err();
            assert!(err.contains(reason), "{topic} {payload:?}: {err}");
        }
        assert!(ndjson_row("delos/sensors/d/p", b"\xff").is_err());
    }

    #[test]
    fn an_ingest_row_is_passed_on_as_one_line() {
        assert_eq!(
            row(
                "delos/sensors/ingest",
                "{\"device\":\"d\",\r\n\"parameter\":\"p\"}"
            )
            .unwrap(),
            "{\"device\":\"d\",  \"parameter\":\"p\"}"
        );
    }
}
