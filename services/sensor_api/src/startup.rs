//! Wiring: the pool, the rate limiter, the readings stream's sequencer, the reporter, the
//! MQTT ingest, the server.

use std::time::Duration;

use common::http::{AppContext, ServiceHandle};
use common::rate_limit::RateLimiter;
use common::reporter::Reporter;
use utoipa::OpenApi;

use crate::config::Settings;
use crate::state::State;
use crate::{MIGRATOR, routes, storage};

/// Builds sensor_api: creates and migrates its database, then serves.
pub async fn build(settings: Settings) -> anyhow::Result<ServiceHandle> {
    settings.validate()?;
    let pool = common::db::connect(&settings.pg, &MIGRATOR).await?;
    storage::upgrade(&pool).await?;
    if settings.api_keys.is_empty() {
        tracing::warn!(
            "DELOS_SENSOR_API__API_KEYS is not set: POST /api/v1/readings and /api/v1/core/restricted \
             refuse every call (import files with `delos sensors import` instead)"
        );
    }
    let http =
        common::service_client::http_client(Duration::from_millis(settings.common.client_timeout_millis));
    let auth = common::auth::Authenticator::new(&settings.jwt, settings.api_keys.clone(), http.clone())?;
    let redis = common::redis::connect(&settings.redis)?;
    let limiter = RateLimiter::new(
        redis.clone(),
        &format!("{}sensor_api:", settings.redis.key_prefix),
        &settings.rate_limit,
    )?;
    let mut ctx = AppContext::new(
        "sensor_api",
        routes::ApiDoc::openapi(),
        &settings.http,
        &settings.common,
        crate::problems::catalogue(),
    );
    ctx.readiness = ctx.readiness.clone().postgres(pool.clone()).redis(redis.clone());
    ctx.metrics.watch_pool("main", &pool);
    ctx.metrics.watch_redis(&redis);
    // The broker is a dependency only when configured; `/readyz` names it while
    // the connection is down (it reconnects by itself).
    let mqtt = crate::mqtt::Ingest::new(&settings.mqtt, pool.clone(), &ctx.metrics)?;
    if let Some(ingest) = &mqtt {
        let status = ingest.status.clone();
        ctx.readiness = ctx.readiness.clone().with("mqtt", move || {
            let status = status.clone();
            async move { status.check() }
        });
    }
    let (reporter, reporter_task) = Reporter::start(&settings.common.reporter, &ctx, http);
    // The poll also sequences what was stored since: the readings streams' latency.
    let stream_head = std::sync::Arc::new(common::live::Head::default());
    let followers = common::live::follow(
        &settings.pg,
        pool.clone(),
        storage::READINGS_CHANNEL,
        Duration::from_millis(settings.stream_sequence_every_millis.max(10)),
        stream_head.clone(),
        storage::sequence_reading_log,
    )?;
    let prune = tokio::spawn(prune_loop(pool.clone(), settings.stream_retention_hours));
    let compact = (settings.compact_every_millis > 0).then(|| {
        let unmerged = ctx.metrics.gauge(
            "sensor_unmerged_segments",
            "Reading segments not yet merged into their hour's chunk (the database's, as this replica's compactor last saw it)",
        );
        tokio::spawn(compact_loop(
            pool.clone(),
            Duration::from_millis(settings.compact_every_millis),
            Duration::from_millis(settings.compact_quiet_millis),
            unmerged,
        ))
    });
    let state = actix_web::web::Data::new(State {
        pool,
        auth,
        max_upload_bytes: settings.max_upload_bytes,
        max_points: settings.max_points,
        readings: crate::state::ReadingCounters::register(&ctx.metrics),
        mqtt: mqtt.as_ref().map(|ingest| ingest.status.clone()),
        stream_head,
    });
    // The reporter's queue closes when its last handle drops; the app keeps one.
    let reporter = actix_web::web::Data::new(reporter);
    let strict = actix_web::web::Data::new(common::rate_limit::StrictRateLimiter::new(
        &limiter,
        &settings.rate_limit,
    ));
    let cors = actix_web::web::Data::new(settings.cors.clone());
    let limiter = actix_web::web::Data::new(limiter);
    let listener = common::http::bind(&settings.http)?;
    let mut handle = common::http::serve(listener, settings.http.workers, ctx, move |cfg| {
        cfg.app_data(state.clone())
            .app_data(limiter.clone())
            .app_data(strict.clone())
            .app_data(cors.clone())
            .app_data(reporter.clone())
            .configure(routes::configure);
    })?;
    for task in followers {
        handle.add_task(task);
    }
    handle.add_task(prune);
    if let Some(task) = compact {
        handle.add_task(task);
    }
    if let Some(task) = reporter_task {
        handle.add_task(task);
    }
    for task in mqtt.map(crate::mqtt::Ingest::spawn).unwrap_or_default() {
        handle.add_task(task);
    }
    Ok(handle)
}

/// Forgets what the readings stream can resume from after the retention; the
/// readings themselves stay.
async fn prune_loop(pool: sqlx::PgPool, retention_hours: u64) {
    let retention = chrono::Duration::hours(i64::try_from(retention_hours).unwrap_or(24 * 365));
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        match storage::prune_reading_log(&pool, chrono::Utc::now() - retention).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "pruned the readings stream's log"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning the readings stream's log failed"),
        }
    }
}

/// Merges finished hours into one chunk each (see `storage::compact`), and
/// exports how many segments are left: a number that keeps growing means the
/// compactor is behind (or held off by long imports).
async fn compact_loop(
    pool: sqlx::PgPool,
    every: Duration,
    quiet: Duration,
    unmerged: prometheus_client::metrics::gauge::Gauge,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match storage::compact(&pool, quiet).await {
            Ok(n) if n > 0 => tracing::debug!(hours = n, "merged reading chunks"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "merging reading chunks failed"),
        }
        if let Ok(n) = storage::unmerged_segments(&pool).await {
            unmerged.set(n);
        }
    }
}
