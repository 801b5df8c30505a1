//! The health reporter: reports and heartbeats go to `health_check` from a bounded
//! background queue, in batches. `report` never blocks or fails; when the queue is
//! full or `health_check` is down, reports are dropped and counted
//! (`delos_health_reports_dropped_total`).

use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::ReporterSettings;
use crate::http::{AppContext, Readiness};
use crate::models::Report;
use crate::service_client::ServiceClient;

/// Handle for sending reports. Cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    service: &'static str,
    instance: String,
    tx: Option<mpsc::Sender<Report>>,
    dropped: Counter,
}

impl Reporter {
    /// A reporter that sends nothing (reporting disabled); drops are still counted.
    pub fn disabled(service: &'static str) -> Self {
        Self {
            service,
            instance: String::new(),
            tx: None,
            dropped: Counter::default(),
        }
    }

    /// Starts the background sender. With an empty `settings.url` reporting is off.
    /// Heartbeats carry the service's readiness as their status.
    pub fn start(
        settings: &ReporterSettings,
        ctx: &AppContext,
        http: reqwest::Client,
    ) -> (Self, Option<JoinHandle<()>>) {
        let dropped = ctx.metrics.counter(
            "health_reports_dropped",
            "Health reports dropped (queue full or health_check down)",
        );
        let sent = ctx
            .metrics
            .counter("health_reports_sent", "Health reports delivered to health_check");
        let instance = settings.instance_id(ctx.port);
        if settings.url.is_empty() {
            return (
                Self {
                    service: ctx.service,
                    instance,
                    tx: None,
                    dropped,
                },
                None,
            );
        }
        let (tx, rx) = mpsc::channel(settings.queue_size.max(1));
        let client = ServiceClient::new("health_check", &settings.url, http, ctx.service_token.clone());
        let worker = Worker {
            service: ctx.service,
            instance: instance.clone(),
            rx,
            client,
            readiness: ctx.readiness.clone(),
            batch_size: settings.batch_size.max(1),
            flush: Duration::from_millis(settings.flush_millis.max(10)),
            heartbeat: Duration::from_secs(settings.heartbeat_secs.max(1)),
            dropped: dropped.clone(),
            sent,
            started: Instant::now(),
            tracer: ctx.tracer.clone(),
        };
        let task = tokio::spawn(worker.run());
        (
            Self {
                service: ctx.service,
                instance,
                tx: Some(tx),
                dropped,
            },
            Some(task),
        )
    }

    /// Queues a report; returns at once whatever happens to it.
    pub fn report(&self, level: &str, status: &str, data: Value) {
        let report = Report {
            level: level.into(),
            service: self.service.into(),
            instance: self.instance.clone(),
            status: status.into(),
            data,
        };
        match &self.tx {
            Some(tx) if tx.try_send(report).is_ok() => {}
            _ => {
                self.dropped.inc();
            }
        }
    }

    /// The instance id this reporter sends.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Reports dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }
}

struct Worker {
    service: &'static str,
    instance: String,
    rx: mpsc::Receiver<Report>,
    client: ServiceClient,
    readiness: Readiness,
    batch_size: usize,
    flush: Duration,
    heartbeat: Duration,
    dropped: Counter,
    sent: Counter,
    started: Instant,
    tracer: crate::telemetry::Tracer,
}

impl Worker {
    async fn run(mut self) {
        let mut heartbeat = tokio::time::interval(self.heartbeat);
        let mut flush = tokio::time::interval(self.flush);
        let mut batch: Vec<Report> = Vec::with_capacity(self.batch_size);
        let mut was_down = false;
        loop {
            tokio::select! {
                _ = heartbeat.tick() => batch.push(self.heartbeat_report().await),
                _ = flush.tick() => {}
                msg = self.rx.recv() => match msg {
                    Some(r) => {
                        batch.push(r);
                        if batch.len() < self.batch_size { continue; }
                    }
                    None => { self.send(&mut batch, &mut was_down).await; return; }
                },
            }
            self.send(&mut batch, &mut was_down).await;
        }
    }

    async fn heartbeat_report(&self) -> Report {
        let failing: Vec<String> = self
            .readiness
            .run()
            .await
            .into_iter()
            .filter_map(|(name, r)| r.err().map(|e| format!("{name}: {e}")))
            .collect();
        let status = if failing.is_empty() { "pass" } else { "fail" };
        Report {
            level: "heartbeat".into(),
            service: self.service.into(),
            instance: self.instance.clone(),
            status: status.into(),
            data: json!({ "uptime_secs": self.started.elapsed().as_secs(), "failing": failing }),
        }
    }

    /// Sends the batch as the root of a trace, so health_check's log lines of it
    /// share a trace id with the sender's.
    async fn send(&self, batch: &mut Vec<Report>, was_down: &mut bool) {
        if batch.is_empty() {
            return;
        }
        crate::telemetry::in_new_trace(&self.tracer, "send health reports", self.deliver(batch, was_down))
            .await;
    }

    async fn deliver(&self, batch: &mut Vec<Report>, was_down: &mut bool) {
        let rb = self
            .client
            .request(reqwest::Method::POST, "/report/batch")
            .json(&*batch);
        let n = batch.len() as u64;
        batch.clear();
        match self.client.send::<Value>(rb).await {
            Ok(_) => {
                self.sent.inc_by(n);
                if std::mem::take(was_down) {
                    tracing::info!("health_check reachable again");
                }
            }
            Err(e) => {
                self.dropped.inc_by(n);
                if !std::mem::replace(was_down, true) {
                    tracing::warn!(error = %e, "health reports are being dropped");
                }
            }
        }
    }
}
