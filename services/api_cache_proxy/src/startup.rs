//! Wiring: the Redis connection, the reporter, the server.

use std::time::Duration;

use actix_web::web;
use common::http::{AppContext, ServiceHandle};
use common::reporter::Reporter;
use utoipa::OpenApi;

use crate::config::Settings;
use crate::routes;
use crate::state::State;
use crate::storage::RecordStore;

/// Builds api_cache_proxy and starts serving. Starts even while Redis is down
/// (requests get 503 until it is back).
pub async fn build(settings: Settings) -> anyhow::Result<ServiceHandle> {
    let redis = common::redis::connect(&settings.redis)?;
    if let Err(e) = common::redis::ping(&redis).await {
        tracing::warn!(url = %settings.redis.url, error = %e, "redis unreachable at start; answering 503 until it is back");
    }
    if settings.common.service_token.is_empty() {
        tracing::warn!("DELOS__SERVICE_TOKEN is not set: every POST /add will be refused with 401");
    }
    let http =
        common::service_client::http_client(Duration::from_millis(settings.common.client_timeout_millis));
    let mut ctx = AppContext::new(
        "api_cache_proxy",
        routes::ApiDoc::openapi(),
        &settings.http,
        &settings.common,
        crate::problems::catalogue(),
    );
    ctx.readiness = ctx.readiness.clone().redis(redis.clone());
    ctx.metrics.watch_redis(&redis);
    let (reporter, reporter_task) = Reporter::start(&settings.common.reporter, &ctx, http);
    let state = web::Data::new(State::new(
        RecordStore::new(redis, &settings.redis.key_prefix),
        reporter,
        &ctx.metrics,
    ));
    let listener = common::http::bind(&settings.http)?;
    let mut handle = common::http::serve(listener, settings.http.workers, ctx, move |cfg| {
        cfg.app_data(state.clone()).configure(routes::configure);
    })?;
    if let Some(task) = reporter_task {
        handle.add_task(task);
    }
    Ok(handle)
}
