//! Wiring: the pool, the group-commit collector, the newest seq for the streams,
//! the prune and capacity loops, the reporter, the server.

use std::time::Duration;

use chrono::Utc;
use common::http::{AppContext, ServiceHandle};
use common::money::Satoshis;
use common::reporter::Reporter;
use prometheus_client::metrics::gauge::Gauge;
use sqlx::PgPool;
use utoipa::OpenApi;

use crate::batcher::{BatchMetrics, Collector};
use crate::config::Settings;
use crate::state::State;
use crate::{MIGRATOR, routes, storage};

/// Builds db_proxy: creates and migrates its database, then serves.
pub async fn build(settings: Settings) -> anyhow::Result<ServiceHandle> {
    settings.validate()?;
    let pool = common::db::connect(&settings.pg, &MIGRATOR).await?;
    build_with_pool(settings, pool)
}

/// Builds on an existing (migrated) pool. Several instances may share one
/// database: the state row lock keeps the cap and the seqs right between them.
pub fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<ServiceHandle> {
    settings.validate()?;
    let cap = settings.cap()?;
    if settings.common.service_token.is_empty() {
        tracing::warn!("DELOS__SERVICE_TOKEN is not set: every POST /add will be refused with 401");
    }
    let http =
        common::service_client::http_client(Duration::from_millis(settings.common.client_timeout_millis));
    let mut ctx = AppContext::new(
        "db_proxy",
        routes::ApiDoc::openapi(),
        &settings.http,
        &settings.common,
        crate::problems::catalogue(),
    );
    // The page query's LIMIT is a parameter, so Postgres's `auto` mode never
    // trusts a generic plan for it and plans every page afresh: half its cost.
    // Its generic plan is the same backward scan of the `seq` index for any
    // parameters (benchmarks/orders/sql/pgbench_page.sql), so it gets a pool of its own.
    // A direct pool: no round-trip ping as each page's connection comes back.
    let pages = common::db::DirectPool::new(&settings.pg, common::db::Plans::Generic)?;
    ctx.readiness = ctx.readiness.clone().postgres(pool.clone());
    ctx.metrics.watch_pool("main", &pool);
    ctx.metrics.watch_pool("pages", &pages);
    let capacity = CapacityGauges::register(&ctx.metrics, cap);
    let state_pool = pool.clone();
    let (reporter, reporter_task) = Reporter::start(&settings.common.reporter, &ctx, http);
    let head = std::sync::Arc::new(common::live::Head::default());
    let followers = common::live::follow(
        &settings.pg,
        pool.clone(),
        storage::ORDERS_CHANNEL,
        Duration::from_millis(settings.head_poll_millis.max(10)),
        head.clone(),
        storage::newest_seq,
    )?;
    let (sink, collector) = Collector {
        pool: pool.clone(),
        head: head.clone(),
        cap,
        max_batch: settings.max_batch,
        metrics: BatchMetrics::register(&ctx.metrics),
        reporter,
    }
    .spawn();
    let state = actix_web::web::Data::new(State {
        pool: pool.clone(),
        pages,
        order_json: crate::pages::OrderJson::new(settings.page_cache_orders),
        sink,
        cap,
        head,
    });
    let listener = common::http::bind(&settings.http)?;
    let mut handle = common::http::serve(listener, settings.http.workers, ctx, move |cfg| {
        cfg.app_data(state.clone()).configure(routes::configure);
    })?;
    handle.add_task(collector);
    for task in followers {
        handle.add_task(task);
    }
    handle.add_task(tokio::spawn(prune_loop(
        pool,
        settings.idempotency_retention_hours,
        settings.prune_every_secs,
    )));
    handle.add_task(tokio::spawn(capacity_loop(state_pool, cap, capacity)));
    if let Some(task) = reporter_task {
        handle.add_task(task);
    }
    Ok(handle)
}

/// The cap and its use as gauges, for the cap alert (`DelosCapNearlyFull`).
struct CapacityGauges {
    stored: Gauge,
    remaining: Gauge,
}

impl CapacityGauges {
    fn register(metrics: &common::metrics::Metrics, cap: Satoshis) -> Self {
        metrics
            .gauge(
                "btc_cap_satoshis",
                "The bitcoin cap of all orders together, in satoshis",
            )
            .set(cap.0);
        Self {
            stored: metrics.gauge("btc_stored_satoshis", "Bitcoin of the stored orders, in satoshis"),
            remaining: metrics.gauge(
                "btc_remaining_satoshis",
                "Bitcoin still available under the cap, in satoshis",
            ),
        }
    }
}

/// Reads the cap's use every few seconds: every replica shows the shared total
/// (the state row), whichever replica stored the orders.
async fn capacity_loop(pool: PgPool, cap: Satoshis, gauges: CapacityGauges) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Ok(c) = storage::capacity(&pool, cap).await {
            gauges.stored.set(c.used_btc.0);
            gauges.remaining.set(c.remaining_btc.0);
        }
    }
}

async fn prune_loop(pool: PgPool, retention_hours: u64, every: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
    let retention = chrono::Duration::hours(i64::try_from(retention_hours).unwrap_or(i64::MAX / 3_600_000));
    loop {
        tick.tick().await;
        match storage::prune_idempotency_keys(&pool, Utc::now() - retention).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "pruned expired idempotency keys"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning idempotency keys failed"),
        }
    }
}
