//! Span export over OTLP/HTTP with the JSON encoding (`POST <endpoint>/v1/traces`,
//! `application/json`), which the OpenTelemetry Collector, Jaeger and Tempo accept.
//! Off unless `common.telemetry.otlp_endpoint` is set. Spans wait in a bounded
//! queue and leave in batches; a full queue or a collector that is down drops
//! spans (counted), never slows a request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::trace::TraceContext;
use crate::config::TelemetrySettings;
use crate::metrics::Metrics;

/// Spans waiting for export; more are dropped.
const QUEUE: usize = 8192;
/// Spans per export request.
const BATCH: usize = 512;

/// What a span is, in OTLP's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// Work not caused by a request (a background loop's round).
    Internal = 1,
    /// A request this service answered.
    Server = 2,
}

/// One finished span.
#[derive(Clone, Debug)]
pub struct FinishedSpan {
    pub context: TraceContext,
    pub name: String,
    pub kind: SpanKind,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, Value)>,
    /// A 5xx answer or a failed round.
    pub error: bool,
}

/// Records the spans of one service; a no-op when export is off. Cheap to clone.
#[derive(Clone, Default)]
pub struct Tracer {
    queue: Option<mpsc::Sender<FinishedSpan>>,
    dropped: Option<Counter>,
}

impl Tracer {
    /// Starts the exporter task when an endpoint is set (call inside the runtime).
    /// The task ends when the last clone of the tracer is dropped.
    pub fn start(service: &str, instance: String, settings: &TelemetrySettings, metrics: &Metrics) -> Self {
        let endpoint = settings.otlp_endpoint.trim().trim_end_matches('/');
        if endpoint.is_empty() {
            return Self::default();
        }
        let exported = metrics.counter("trace_spans_exported", "Spans accepted by the OTLP collector");
        let dropped = metrics.counter(
            "trace_spans_dropped",
            "Spans not exported: the queue was full or the collector did not accept them",
        );
        let (tx, rx) = mpsc::channel(QUEUE);
        let export = Export {
            url: format!("{endpoint}/v1/traces"),
            resource: resource(service, &instance),
            http: crate::tls::client_builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_else(|e| crate::tls::broken("the OTLP client", &e)),
            exported,
            dropped: dropped.clone(),
        };
        tokio::spawn(export.run(rx, Duration::from_millis(settings.otlp_flush_millis.max(1))));
        Self {
            queue: Some(tx),
            dropped: Some(dropped),
        }
    }

    /// Whether spans are exported.
    pub fn is_on(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues a finished span; drops it (counted) when the queue is full.
    pub fn record(&self, span: FinishedSpan) {
        if let Some(queue) = &self.queue
            && queue.try_send(span).is_err()
            && let Some(d) = &self.dropped
        {
            d.inc();
        }
    }
}

struct Export {
    url: String,
    resource: Value,
    http: reqwest::Client,
    exported: Counter,
    dropped: Counter,
}

impl Export {
    async fn run(self, mut rx: mpsc::Receiver<FinishedSpan>, flush: Duration) {
        let mut failing = false;
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + flush;
            while batch.len() < BATCH {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(span)) => batch.push(span),
                    Ok(None) | Err(_) => break,
                }
            }
            let n = batch.len() as u64;
            match self.send(&batch).await {
                Ok(()) => {
                    self.exported.inc_by(n);
                    if std::mem::take(&mut failing) {
                        tracing::info!(url = %self.url, "OTLP collector reachable again");
                    }
                }
                Err(e) => {
                    self.dropped.inc_by(n);
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(url = %self.url, error = %e, "spans are being dropped");
                    }
                }
            }
        }
    }

    async fn send(&self, batch: &[FinishedSpan]) -> Result<(), String> {
        let body = json!({
            "resourceSpans": [{
                "resource": self.resource,
                "scopeSpans": [{
                    "scope": { "name": "delos", "version": env!("CARGO_PKG_VERSION") },
                    "spans": batch.iter().map(encode).collect::<Vec<_>>(),
                }],
            }],
        });
        let res = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", res.status()))
        }
    }
}

fn resource(service: &str, instance: &str) -> Value {
    json!({ "attributes": [
        attribute("service.name", &Value::from(service)),
        attribute("service.instance.id", &Value::from(instance)),
        attribute("service.namespace", &Value::from("delos")),
    ]})
}

/// An OTLP `KeyValue`: strings, integers (as strings, as OTLP/JSON encodes int64) and booleans.
fn attribute(key: &str, value: &Value) -> Value {
    let v = match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "intValue": n.to_string() }),
        Value::Number(n) => json!({ "doubleValue": n }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::String(s) => json!({ "stringValue": s }),
        other => json!({ "stringValue": other.to_string() }),
    };
    json!({ "key": key, "value": v })
}

fn unix_nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        .to_string()
}

/// A span in OTLP/JSON: ids as lowercase hex, times as decimal strings, enums as numbers.
fn encode(span: &FinishedSpan) -> Value {
    let mut v = json!({
        "traceId": span.context.trace_id.to_string(),
        "spanId": span.context.span_id.to_string(),
        "name": span.name,
        "kind": span.kind as u8,
        "startTimeUnixNano": unix_nanos(span.start),
        "endTimeUnixNano": unix_nanos(span.end),
        "flags": u32::from(span.context.flags),
        "attributes": span.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
        // STATUS_CODE_ERROR = 2, STATUS_CODE_UNSET = 0.
        "status": { "code": if span.error { 2 } else { 0 } },
    });
    if let Some(parent) = span.context.parent {
        v["parentSpanId"] = parent.to_string().into();
    }
    if let Some(state) = &span.context.state {
        v["traceState"] = state.clone().into();
    }
    v
}

/// The spans of an OTLP/JSON export request, flattened: for tests and tools that
/// receive what [`Tracer`] sends.
pub fn decode_spans(body: &Value) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in body["resourceSpans"].as_array().into_iter().flatten() {
        let service = rs["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == "service.name")
            .and_then(|a| a["value"]["stringValue"].as_str())
            .unwrap_or_default()
            .to_string();
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                let text = |k: &str| s[k].as_str().map(str::to_owned);
                out.push(ReceivedSpan {
                    service: service.clone(),
                    trace_id: text("traceId").unwrap_or_default(),
                    span_id: text("spanId").unwrap_or_default(),
                    parent_span_id: text("parentSpanId").filter(|p| !p.is_empty()),
                    name: text("name").unwrap_or_default(),
                    kind: s["kind"].as_u64().unwrap_or_default(),
                });
            }
        }
    }
    out
}

/// A span as a collector received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedSpan {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_span_encodes_as_otlp_json_and_decodes_back() {
        let root = TraceContext::root();
        let child = root.child();
        let start = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let span = FinishedSpan {
            context: child.clone(),
            name: "POST /add".into(),
            kind: SpanKind::Server,
            start,
            end: start + Duration::from_millis(3),
            attributes: vec![
                ("http.response.status_code", 201.into()),
                ("http.route", "/add".into()),
            ],
            error: false,
        };
        let v = encode(&span);
        assert_eq!(v["startTimeUnixNano"], "1700000000123456789");
        assert_eq!(v["endTimeUnixNano"], "1700000000126456789");
        assert_eq!(v["kind"], 2);
        assert_eq!(v["attributes"][0]["value"]["intValue"], "201");
        assert_eq!(v["attributes"][1]["value"]["stringValue"], "/add");
        let body = json!({ "resourceSpans": [{ "resource": resource("db_proxy", "h:1"),
            "scopeSpans": [{ "spans": [v] }] }] });
        let got = decode_spans(&body);
        assert_eq!(
            got,
            vec![ReceivedSpan {
                service: "db_proxy".into(),
                trace_id: root.trace_id.to_string(),
                span_id: child.span_id.to_string(),
                parent_span_id: Some(root.span_id.to_string()),
                name: "POST /add".into(),
                kind: 2,
            }]
        );
    }
}
