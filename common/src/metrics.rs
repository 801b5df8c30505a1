//! Prometheus metrics. Each service has its own registry (no process-global
//! recorder), so eight services in one process keep separate `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolStateLabels {
    pool: String,
    state: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Pool acquire timeouts of this process (noted by `db::is_unavailable`).
static ACQUIRE_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

/// Counts a query that waited the whole acquire timeout for a Postgres connection.
pub fn note_acquire_timeout() {
    ACQUIRE_TIMEOUTS.fetch_add(1, Ordering::Relaxed);
}

/// Read at every scrape: values kept elsewhere (a pool's size) copied into metrics.
type Refresh = Box<dyn Fn() + Send + Sync>;

/// The Postgres pool series, registered with the first pool watched.
struct PoolSeries {
    connections: Family<PoolStateLabels, Gauge>,
    max: Family<PoolLabels, Gauge>,
}

/// What [`Metrics::watch_pool`] reads of a pool at each scrape.
pub trait PoolState: Send + Sync + 'static {
    /// Connections open and, of those, idle.
    fn connections(&self) -> (u32, usize);
    fn max_connections(&self) -> u32;
}

impl PoolState for sqlx::PgPool {
    fn connections(&self) -> (u32, usize) {
        (self.size(), self.num_idle())
    }

    fn max_connections(&self) -> u32 {
        self.options().get_max_connections()
    }
}

/// A service's metrics registry plus the HTTP request metrics every service has.
pub struct Metrics {
    registry: RwLock<Registry>,
    requests: Family<HttpLabels, Counter>,
    latency: Family<HttpLabels, Histogram, fn() -> Histogram>,
    refresh: RwLock<Vec<Refresh>>,
    pools: OnceLock<PoolSeries>,
    redis: OnceLock<()>,
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
            refresh: RwLock::new(Vec::new()),
            pools: OnceLock::new(),
            redis: OnceLock::new(),
        }
    }

    /// Runs `f` before every scrape, to copy values kept elsewhere into metrics.
    pub fn on_scrape(&self, f: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut r) = self.refresh.write() {
            r.push(Box::new(f));
        }
    }

    /// Registers and returns a new gauge.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        let g = Gauge::default();
        self.register(name, help, g.clone());
        g
    }

    /// Exports a Postgres pool as `delos_db_pool_connections{pool, state}` (`idle`,
    /// `in_use`) and `delos_db_pool_max_connections{pool}`, read at every scrape, and
    /// the process's pool acquire timeouts, `delos_db_pool_acquire_timeouts_total`.
    pub fn watch_pool(&self, name: &str, pool: &(impl PoolState + Clone)) {
        let series = self.pools.get_or_init(|| {
            let connections = Family::<PoolStateLabels, Gauge>::default();
            let max = Family::<PoolLabels, Gauge>::default();
            self.register(
                "db_pool_connections",
                "Connections of a Postgres pool, idle or in use",
                connections.clone(),
            );
            self.register(
                "db_pool_max_connections",
                "The most connections a Postgres pool opens",
                max.clone(),
            );
            let timeouts = self.counter(
                "db_pool_acquire_timeouts",
                "Queries that waited the whole acquire timeout for a Postgres connection (this process)",
            );
            self.on_scrape(move || {
                let total = ACQUIRE_TIMEOUTS.load(Ordering::Relaxed);
                timeouts.inc_by(total.saturating_sub(timeouts.get()));
            });
            PoolSeries { connections, max }
        });
        let (connections, max, pool, name) = (
            series.connections.clone(),
            series.max.clone(),
            pool.clone(),
            name.to_string(),
        );
        self.on_scrape(move || {
            let (size, idle) = pool.connections();
            let size = i64::from(size);
            let idle = i64::try_from(idle).unwrap_or(i64::MAX);
            let label = |state| PoolStateLabels {
                pool: name.clone(),
                state,
            };
            connections.get_or_create(&label("idle")).set(idle);
            connections
                .get_or_create(&label("in_use"))
                .set((size - idle).max(0));
            max.get_or_create(&PoolLabels { pool: name.clone() })
                .set(i64::from(pool.max_connections()));
        });
    }

    /// Exports the errors of the service's Redis connections, `delos_redis_errors_total`.
    pub fn watch_redis(&self, redis: &crate::redis::Redis) {
        self.redis.get_or_init(|| {
            self.register(
                "redis_errors",
                "Redis commands that failed to reach Redis (connection refused, dropped or timed out)",
                redis.errors(),
            );
        });
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
        if let Ok(r) = self.refresh.read() {
            r.iter().for_each(|f| f());
        }
        let mut out = String::new();
        if let Ok(r) = self.registry.read() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        }
        out
    }
}
