//! Wiring: pools, background loops, the server.

use std::time::Duration;

use chrono::Utc;
use common::http::{AppContext, ServiceHandle};
use sqlx::PgPool;
use utoipa::OpenApi;

use crate::config::Settings;
use crate::domain::TtlPolicy;
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
        settings.common.service_token.clone(),
        crate::problems::catalogue(),
    );
    ctx.readiness = ctx.readiness.clone().postgres(pool.clone());
    let (intake, intake_task) = intake::spawn(pool.clone());
    let state = actix_web::web::Data::new(State {
        pool: pool.clone(),
        policy: policy.clone(),
        intake,
    });
    let listener = common::http::bind(&settings.http)?;
    let mut handle = common::http::serve(listener, settings.http.workers, ctx, move |cfg| {
        cfg.app_data(state.clone()).configure(routes::configure);
    })?;
    handle.add_task(intake_task);
    handle.add_task(tokio::spawn(evaluate_loop(
        pool.clone(),
        policy,
        settings.evaluate_every_secs,
    )));
    handle.add_task(tokio::spawn(prune_loop(
        pool,
        settings.retention_hours,
        settings.prune_every_secs,
    )));
    Ok(handle)
}

async fn evaluate_loop(pool: PgPool, policy: TtlPolicy, every: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
    loop {
        tick.tick().await;
        if let Err(e) = storage::evaluate(&pool, &policy, Utc::now()).await {
            tracing::warn!(error = %e, "status evaluation failed");
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
