//! Wiring: pools, background loops, the server.

use std::time::Duration;

use chrono::Utc;
use common::http::{AppContext, ServiceHandle};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use sqlx::PgPool;
use utoipa::OpenApi;

use crate::config::Settings;
use crate::domain::{Status, TtlPolicy};
use crate::state::State;
use crate::{MIGRATOR, intake, routes, storage};

/// Builds health_check: creates and migrates its database, then serves.
pub async fn build(settings: Settings) -> anyhow::Result<ServiceHandle> {
    let pool = common::db::connect(&settings.pg, &MIGRATOR).await?;
    build_with_pool(settings, pool)
}

/// Builds on an existing (migrated) pool.
pub fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<ServiceHandle> {
    let policy = settings.policy()?;
    let mut ctx = AppContext::new(
        "health_check",
        routes::ApiDoc::openapi(),
        &settings.http,
        &settings.common,
        crate::problems::catalogue(),
    );
    ctx.readiness = ctx.readiness.clone().postgres(pool.clone());
    ctx.metrics.watch_pool("main", &pool);
    let statuses = StatusGauges::register(&ctx.metrics);
    let (intake, intake_task) = intake::spawn(pool.clone());
    // The poll also sequences what was logged since: the streams' latency.
    let transitions = std::sync::Arc::new(common::live::Head::default());
    let followers = common::live::follow(
        &settings.pg,
        pool.clone(),
        storage::TRANSITIONS_CHANNEL,
        Duration::from_millis(settings.sequence_every_millis.max(10)),
        transitions.clone(),
        storage::sequence_transitions,
    )?;
    let state = actix_web::web::Data::new(State {
        pool: pool.clone(),
        policy: policy.clone(),
        intake,
        transitions,
    });
    let listener = common::http::bind(&settings.http)?;
    let mut handle = common::http::serve(listener, settings.http.workers, ctx, move |cfg| {
        cfg.app_data(state.clone()).configure(routes::configure);
    })?;
    handle.add_task(intake_task);
    for task in followers {
        handle.add_task(task);
    }
    handle.add_task(tokio::spawn(evaluate_loop(
        pool.clone(),
        policy,
        settings.evaluate_every_secs,
        statuses,
    )));
    handle.add_task(tokio::spawn(prune_loop(
        pool,
        settings.retention_hours,
        settings.prune_every_secs,
    )));
    Ok(handle)
}

/// `delos_health_status{target_service}`: each service's rolled-up status as the
/// status page shows it (0 pass, 1 warn, 2 fail), for alerting; refreshed with every
/// evaluation.
#[derive(Clone)]
struct StatusGauges(Family<TargetService, Gauge>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetService {
    target_service: String,
}

impl StatusGauges {
    fn register(metrics: &common::metrics::Metrics) -> Self {
        let family = Family::<TargetService, Gauge>::default();
        metrics.register(
            "health_status",
            "Rolled-up status of each reporting service: 0 pass, 1 warn, 2 fail",
            family.clone(),
        );
        Self(family)
    }

    fn set(&self, rows: &[storage::ServiceRow]) {
        for r in rows {
            let level = match Status::from_db(&r.status) {
                Status::Pass => 0,
                Status::Warn => 1,
                Status::Fail => 2,
            };
            self.0
                .get_or_create(&TargetService {
                    target_service: r.service.clone(),
                })
                .set(level);
        }
    }
}

async fn evaluate_loop(pool: PgPool, policy: TtlPolicy, every: u64, statuses: StatusGauges) {
    let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
    loop {
        tick.tick().await;
        if let Err(e) = storage::evaluate(&pool, &policy, Utc::now()).await {
            tracing::warn!(error = %e, "status evaluation failed");
            continue;
        }
        match storage::services(&pool).await {
            Ok(rows) => statuses.set(&rows),
            Err(e) => tracing::warn!(error = %e, "cannot read the statuses for /metrics"),
        }
    }
}

async fn prune_loop(pool: PgPool, retention_hours: u64, every: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
    let retention = chrono::Duration::hours(i64::try_from(retention_hours).unwrap_or(24 * 7));
    loop {
        tick.tick().await;
        match storage::prune(&pool, Utc::now() - retention).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "pruned old reports"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
    }
}
