//! Wiring: the db_proxy and api_cache_proxy clients, the order feed, the rate
//! limiter, the reporter, the server.

use std::time::Duration;

use actix_web::web;
use common::http::{AppContext, ServiceHandle};
use common::internal_apis::{CacheProxyClient, DbProxyClient};
use common::rate_limit::RateLimiter;
use common::service_client::ServiceClient;
use utoipa::OpenApi;

use crate::config::Settings;
use crate::feed::Feed;
use crate::routes;
use crate::routes::stream::Streams;

/// Builds fetch_buy_orders and serves.
pub async fn build(settings: Settings) -> anyhow::Result<ServiceHandle> {
    let http =
        common::service_client::http_client(Duration::from_millis(settings.common.client_timeout_millis));
    let redis = common::redis::connect(&settings.redis)?;
    let db = DbProxyClient(ServiceClient::new(
        "db_proxy",
        &settings.db_proxy_url,
        http.clone(),
        settings.common.service_token.clone(),
    ));
    let prices = CacheProxyClient(ServiceClient::new(
        "api_cache_proxy",
        &settings.cache_proxy_url,
        http.clone(),
        settings.common.service_token.clone(),
    ));
    // The feed's polls wait for new orders, longer than a call may take.
    let poll_wait = settings.stream.poll_wait_ms.min(5000);
    let feed = Feed::new(
        DbProxyClient(ServiceClient::new(
            "db_proxy",
            &settings.db_proxy_url,
            common::service_client::http_client(Duration::from_millis(
                poll_wait + settings.common.client_timeout_millis,
            )),
            settings.common.service_token.clone(),
        )),
        settings.stream.ring_orders,
        poll_wait,
    );
    let limiter = RateLimiter::new(
        redis.clone(),
        &format!("{}fetch_buy_orders:", settings.redis.key_prefix),
        &settings.rate_limit,
    )?;
    let mut ctx = AppContext::new(
        "fetch_buy_orders",
        routes::ApiDoc::openapi(),
        &settings.http,
        &settings.common,
        crate::problems::catalogue(),
    );
    ctx.readiness =
        ctx.readiness
            .clone()
            .redis(redis.clone())
            .service("db_proxy", http.clone(), &settings.db_proxy_url);
    ctx.metrics.watch_redis(&redis);
    let (reporter, reporter_task) = common::reporter::Reporter::start(&settings.common.reporter, &ctx, http);
    // The reporter's queue closes when its last handle drops; the app keeps one.
    let reporter = web::Data::new(reporter);
    let streams = web::Data::new(Streams::register(&ctx.metrics, feed.clone(), &settings.stream));
    let prices = web::Data::new(prices);
    let db = web::Data::new(db);
    let limiter = web::Data::new(limiter);
    let listener = common::http::bind(&settings.http)?;
    let mut handle = common::http::serve(listener, settings.http.workers, ctx, move |cfg| {
        cfg.app_data(db.clone())
            .app_data(limiter.clone())
            .app_data(reporter.clone())
            .app_data(streams.clone())
            .app_data(prices.clone())
            .configure(routes::configure);
    })?;
    handle.add_task(tokio::spawn(feed.run()));
    if let Some(task) = reporter_task {
        handle.add_task(task);
    }
    Ok(handle)
}
