//! Wiring: the HTTP client, the updater, its loop, the reporter, the server.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use common::http::{AppContext, ServiceHandle};
use common::reporter::Reporter;
use tokio::time::MissedTickBehavior;
use utoipa::OpenApi;

use crate::config::Settings;
use crate::routes;
use crate::updater::{Updater, UpdaterMetrics};

/// Builds api_updater and starts its refresh loop (the first tick runs at once).
pub async fn build(settings: Settings) -> anyhow::Result<ServiceHandle> {
    let every = Duration::from_secs(settings.refresh_secs);
    let (mut handle, updater) = build_without_loop(settings).await?;
    handle.add_task(tokio::spawn(refresh_loop(updater, every)));
    Ok(handle)
}

/// Builds api_updater without the refresh loop: ticks run only through
/// `POST /refresh` or [`Updater::tick`] (tests drive them this way).
pub async fn build_without_loop(settings: Settings) -> anyhow::Result<(ServiceHandle, Arc<Updater>)> {
    settings.validate()?;
    settings.common.require_token()?;
    let http =
        common::service_client::http_client(Duration::from_millis(settings.common.client_timeout_millis));
    let mut ctx = AppContext::new(
        "api_updater",
        routes::ApiDoc::openapi(),
        &settings.http,
        &settings.common,
        crate::problems::catalogue(),
    );
    ctx.readiness = ctx
        .readiness
        .clone()
        .service("api_cache_proxy", http.clone(), &settings.cache_proxy_url);
    let (reporter, reporter_task) = Reporter::start(&settings.common.reporter, &ctx, http.clone());
    let metrics = UpdaterMetrics {
        stored: ctx
            .metrics
            .counter("price_updates_stored", "Fresh price records stored in the cache"),
        failed: ctx
            .metrics
            .counter("price_updates_failed", "Ticks that stored no fresh price record"),
        extended: ctx.metrics.counter(
            "price_records_extended",
            "Times the last good record was kept alive during an outage",
        ),
    };
    let updater = Arc::new(Updater::new(&settings, http, reporter, metrics).with_tracer(ctx.tracer.clone()));
    let data = web::Data::from(updater.clone());
    let listener = common::http::bind(&settings.http)?;
    let mut handle = common::http::serve(listener, settings.http.workers, ctx, move |cfg| {
        cfg.app_data(data.clone()).configure(routes::configure);
    })?;
    if let Some(task) = reporter_task {
        handle.add_task(task);
    }
    Ok((handle, updater))
}

async fn refresh_loop(updater: Arc<Updater>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    // After a slow tick, wait a full period rather than firing a burst of catch-up ticks.
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let outcome = updater.tick().await;
        tracing::debug!(success = outcome.is_success(), "tick done");
    }
}
