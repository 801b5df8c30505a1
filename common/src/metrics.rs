//! Prometheus metrics. Each service has its own registry (no process-global
//! recorder), so eight services in one process keep separate `/metrics`.

use std::sync::RwLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// A service's metrics registry plus the HTTP request metrics every service has.
pub struct Metrics {
    registry: RwLock<Registry>,
    requests: Family<HttpLabels, Counter>,
    latency: Family<HttpLabels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    /// A registry whose metrics are prefixed `delos_` and labelled with the service.
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::with_prefix_and_labels(
            "delos",
            [("service".into(), service.to_string().into())].into_iter(),
        );
        let requests = Family::<HttpLabels, Counter>::default();
        let latency =
            Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        Self {
            registry: RwLock::new(registry),
            requests,
            latency,
        }
    }

    /// Registers a service-specific metric (a clone of it; metrics are shared handles).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        if let Ok(mut r) = self.registry.write() {
            r.register(name, help, metric);
        }
    }

    /// Registers and returns a new counter.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let c = Counter::default();
        self.register(name, help, c.clone());
        c
    }

    pub(crate) fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = HttpLabels {
            method: method.into(),
            route: route.into(),
            status: status.to_string(),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.read() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        }
        out
    }
}
